"""tcpserver's command line (spec/ucspi-tcp.md §1.1, §1.2): djb getopt, texts, numbers."""
import pytest

from tcpserver.options import USAGE, BadUsage, Options, parse_options, scan_ulong


def parse(*args, environ=None):
    return parse_options([b"tcpserver", *args], environ)


def test_defaults():
    o = parse(b"0", b"25", b"prog")
    assert o == Options(host=b"0.0.0.0", port=b"25", program=(b"prog",))
    assert (o.verbosity, o.limit, o.backlog, o.timeout) == (1, 40, 20, 26)
    assert o.remote_host and o.remote_info and o.delay and o.kill_options and not o.paranoid


def test_clustering_and_attached_arguments():
    o = parse(b"-HRl0", b"-c5", b"-vX", b"-x", b"r.cdb", b"127.0.0.1", b"0", b"p")
    assert (o.remote_host, o.remote_info, o.local_host, o.limit) == (False, False, b"0", 5)
    assert (o.verbosity, o.allow_no_rules, o.rules) == (2, True, b"r.cdb")


def test_every_flag():
    o = parse(b"-1UXpPhHrRoOdDqQv", b"h", b"p", b"x")
    assert o.print_port and o.allow_no_rules and not o.paranoid and not o.remote_host
    assert not o.remote_info and o.kill_options and not o.delay and o.verbosity == 2
    o = parse(b"-pho", b"-d", b"h", b"p", b"x")
    assert o.paranoid and o.remote_host and not o.kill_options and o.delay


def test_later_options_override():
    assert parse(b"-vq", b"h", b"p", b"x").verbosity == 0
    assert parse(b"-qv", b"h", b"p", b"x").verbosity == 2
    assert parse(b"-qQ", b"h", b"p", b"x").verbosity == 1


def test_parsing_stops_at_first_non_option_and_double_dash():
    o = parse(b"127.0.0.1", b"0", b"echo", b"-n", b"hi", b"-v")
    assert o.program == (b"echo", b"-n", b"hi", b"-v") and o.verbosity == 1
    o = parse(b"127.0.0.1", b"-v", b"0", b"x")
    assert o.port == b"-v"
    o = parse(b"--", b"-", b"0", b"x")
    assert o.host == b"-"
    o = parse(b"--v", b"-v", b"0", b"x")        # `--anything` ends the options too
    assert o.host == b"-v" and o.verbosity == 1


def test_host_zero_and_empty_mean_any():
    assert parse(b"", b"0", b"x").host == b"0.0.0.0"
    assert parse(b"0", b"0", b"x").host == b"0.0.0.0"


@pytest.mark.parametrize("text,value", [(b"abc", 0), (b"3x", 3), (b"", 0), (b"-5", 0),
                                        (b"18446744073709551617", 1)])
def test_numbers_are_leading_digits(text, value):
    assert scan_ulong(text) == value
    assert parse(b"-c", text, b"h", b"p", b"x").limit == value


def test_banner_and_local_name_may_be_empty():
    o = parse(b"-B", b"", b"-l", b"", b"h", b"p", b"x")
    assert o.banner == b"" and o.local_host == b""


def test_U_reads_uid_gid_from_environment():
    o = parse(b"-u5", b"-U", b"h", b"p", b"x", environ={b"UID": b"7", b"GID": b"abc"})
    assert (o.uid, o.gid) == (7, 0)
    o = parse(b"-u5", b"-g6", b"-U", b"h", b"p", b"x", environ={})
    assert (o.uid, o.gid) == (5, 6)


def test_illegal_option():
    with pytest.raises(BadUsage) as e:
        parse_options([b"/usr/local/bin/myserver", b"-z", b"h", b"p", b"x"])
    assert e.value.text == b"myserver: illegal option -- z\n" + USAGE


def test_missing_argument():
    with pytest.raises(BadUsage) as e:
        parse(b"-v", b"-c")
    assert e.value.text == b"tcpserver: option requires an argument -- c\n" + USAGE


def test_getopt_messages_survive_q():
    with pytest.raises(BadUsage) as e:
        parse(b"-q", b"-:")
    assert e.value.text == b"tcpserver: illegal option -- :\n" + USAGE


@pytest.mark.parametrize("args", [(), (b"h",), (b"--", b"h")])
def test_missing_host_or_port(args):
    with pytest.raises(BadUsage) as e:
        parse(*args)
    assert e.value.text == USAGE
    with pytest.raises(BadUsage) as e:
        parse(b"-q", *args)
    assert e.value.text == b""


def test_program_may_be_missing_here():
    # the usage error for a missing program comes after the port is read (§1.5), in server.py
    assert parse(b"h", b"p").program == ()


def test_usage_text():
    assert USAGE == (b"tcpserver: usage: tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ]"
                     b" [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ]"
                     b" [ -l localname ] [ -t timeout ] host port program\n")
