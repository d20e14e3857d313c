"""qmail-smtpd's set-up (control files and environment, spec/qmail.md §2.1-§2.2, §1.1), the
queue program it picks (§2.10.6, CONTRACT.md), and qmail-newmrh (§2.9), on scratch files."""
import os
import subprocess
import sys

import pytest

from qmail import control
from qmail.smtpd import load_config, my_ipv4_addresses, queue_program, scan_ulong

import support


@pytest.fixture
def home(qmail_home, monkeypatch):
    (qmail_home / "control" / "me").write_bytes(b"mx.example.org\n")
    monkeypatch.chdir(qmail_home)
    return qmail_home


def write(home, name: str, data: bytes) -> None:
    (home / "control" / name).write_bytes(data)


def test_defaults(home):
    config, timeout = load_config({}, [])
    assert (config.greeting, config.localiphost, timeout, config.databytes) == (
        b"mx.example.org", b"mx.example.org", 1200, 0)
    assert (config.local, config.remoteip, config.remotehost) == (b"unknown",) * 3
    assert config.remoteinfo is None and config.relayclient is None and not config.auth
    assert config.rcpt_allowed(b"u@anywhere.org") is True          # no rcpthosts: open relay
    assert config.badmailfrom == frozenset()


def test_controls(home):
    write(home, "smtpgreeting", b"mx.example.org NO UCE \t\nsecond line\n")
    write(home, "localiphost", b"lip.example.org\n")
    write(home, "timeoutsmtpd", b"30abc\n")
    write(home, "databytes", b"1000\n")
    write(home, "rcpthosts", b"Example.ORG\n#c\n\n.sub.net \n")
    write(home, "badmailfrom", b"@Bad.org\nx@y\n")
    config, timeout = load_config({}, [b"checkpassword", b"/bin/true"])
    assert (config.greeting, config.localiphost, timeout, config.databytes) == (
        b"mx.example.org NO UCE", b"lip.example.org", 30, 1000)
    assert config.badmailfrom == frozenset({b"@bad.org", b"x@y"})
    assert config.auth
    allowed = config.rcpt_allowed
    assert [allowed(a) for a in (b"u@example.org", b"u@a.sub.net", b"u@sub.net", b"u")] == [
        True, True, False, True]


@pytest.mark.parametrize("value, expected", [(b"0\n", 1), (b" 30\n", 1200), (b"x\n", 1200),
                                             (b"4294967297\n", 1), (b"2147483648\n", 1)])
def test_timeout_values(home, value, expected):
    write(home, "timeoutsmtpd", value)
    assert load_config({}, [])[1] == expected


@pytest.mark.parametrize("control_value, env, expected", [
    (b"100\n", None, 100), (b"100\n", b"50", 50), (b"100\n", b"junk", 0), (b"100\n", b"", 0),
    (b"4294967295\n", None, 4294967294), (b"4294967296\n", None, 0), (None, b"12x", 12),
])
def test_databytes(home, control_value, env, expected):
    if control_value is not None:
        write(home, "databytes", control_value)
    environ = {} if env is None else {b"DATABYTES": env}
    assert load_config(environ, [])[0].databytes == expected


def test_environment(home):
    config, _ = load_config({b"TCPLOCALIP": b"10.0.0.1", b"TCPREMOTEIP": b"192.0.2.7",
                             b"TCPREMOTEHOST": b"c.example", b"TCPREMOTEINFO": b"",
                             b"RELAYCLIENT": b""}, [])
    assert (config.local, config.remoteip, config.remotehost, config.remoteinfo,
            config.relayclient) == (b"10.0.0.1", b"192.0.2.7", b"c.example", b"", b"")
    config, _ = load_config({b"TCPLOCALHOST": b"", b"TCPLOCALIP": b"10.0.0.1"}, [])
    assert config.local == b""                       # set (even empty) beats TCPLOCALIP


def test_unreadable_controls(home):
    (home / "control" / "me").unlink()
    with pytest.raises(control.ControlError):        # neither smtpgreeting nor me
        load_config({}, [])
    write(home, "smtpgreeting", b"hi\n")
    assert load_config({}, [])[0].localiphost is None
    (home / "control" / "me").mkdir()
    with pytest.raises(control.ControlError):
        load_config({}, [])


def test_morercpthosts_cdb(home):
    write(home, "rcpthosts", b"example.org\n")
    write(home, "morercpthosts", b"More.org\n.Sub.net\n")
    run = subprocess.run([support.ours("qmail-newmrh")], env=dict(os.environ, QMAILHOME=str(home)),
                         capture_output=True, timeout=30)
    assert (run.returncode, run.stdout, run.stderr) == (0, b"", b"")
    allowed = load_config({}, [])[0].rcpt_allowed
    assert [allowed(a) for a in (b"u@more.org", b"u@x.sub.net", b"u@sub.net", b"u@no.org")] == [
        True, True, False, False]
    write(home, "morercpthosts.cdb", b"")             # unreadable mid-session: None -> 421
    assert load_config({}, [])[0].rcpt_allowed(b"u@no.org") is None
    os.unlink(home / "control" / "morercpthosts.cdb")
    (home / "control" / "morercpthosts.cdb").mkdir()  # opens (as in the C), reads fail later
    assert load_config({}, [])[0].rcpt_allowed(b"u@no.org") is None


def test_scan_ulong():
    assert [scan_ulong(v) for v in (b"", b"x", b"12x", b"007", b"18446744073709551617")] == [
        0, 0, 12, 7, 1]


def test_my_ip_addresses_include_loopback_and_zero():
    ips = my_ipv4_addresses()
    assert b"\x7f\0\0\1" in ips and b"\0\0\0\0" in ips


def test_queue_program_choice(home, tmp_path):
    ours = os.path.join(os.path.dirname(sys.executable), "qmail-queue")
    assert queue_program({b"QMAILQUEUE": b"relative/q"}) == (b"relative/q", False)
    assert queue_program({}) == (os.fsencode(ours), True)          # no bin/: our own, forked
    (home / "bin").mkdir()
    os.symlink(ours, home / "bin" / "qmail-queue")
    assert queue_program({}) == (os.fsencode(ours), True)          # a link to ours: forked
    os.unlink(home / "bin" / "qmail-queue")
    (home / "bin" / "qmail-queue").write_text("#!/bin/sh\n")
    assert queue_program({}) == (b"bin/qmail-queue", False)        # someone else's: exec'd


# --- qmail-newmrh ---------------------------------------------------------------------------

def newmrh(home):
    return subprocess.run([support.ours("qmail-newmrh")], env=dict(os.environ, QMAILHOME=str(home)),
                          capture_output=True, timeout=30)


def test_newmrh_records(home):
    write(home, "morercpthosts", b"Example.COM \t\n#x\n\n  lead\n.Sub.Org\nexample.com\ncr\r\nlast")
    run = newmrh(home)
    assert (run.returncode, run.stderr) == (0, b"")
    cdb = support.system_tool("cdb", "tinycdb")
    dump = subprocess.run([cdb, "-d", str(home / "control" / "morercpthosts.cdb")],
                          capture_output=True, check=True, timeout=30).stdout
    assert dump == (b"+11,0:example.com->\n+6,0:  lead->\n+8,0:.sub.org->\n"
                    b"+11,0:example.com->\n+3,0:cr\r->\n+4,0:last->\n\n")
    assert not (home / "control" / "morercpthosts.tmp").exists()
    assert os.stat(home / "control" / "morercpthosts.cdb").st_mode & 0o777 == 0o644


def test_newmrh_errors(home):
    write(home, "morercpthosts.cdb", b"old")
    run = newmrh(home)
    assert (run.returncode, run.stderr) == (
        111, b"qmail-newmrh: fatal: unable to read control/morercpthosts: file does not exist\n")
    (home / "control" / "morercpthosts").mkdir()
    run = newmrh(home)
    assert (run.returncode, run.stderr) == (
        111, b"qmail-newmrh: fatal: unable to read control/morercpthosts: is a directory\n")
    assert (home / "control" / "morercpthosts.cdb").read_bytes() == b"old"
    os.rmdir(home / "control" / "morercpthosts")
    write(home, "morercpthosts", b"a.org\n")
    (home / "control" / "morercpthosts.tmp").mkdir()
    run = newmrh(home)
    assert (run.returncode, run.stderr) == (
        111, b"qmail-newmrh: fatal: unable to write to control/morercpthosts.tmp: is a directory\n")
    assert (home / "control" / "morercpthosts.cdb").read_bytes() == b"old"
    run = subprocess.run([support.ours("qmail-newmrh")],
                         env=dict(os.environ, QMAILHOME=str(home / "nonexistent")),
                         capture_output=True, timeout=30)
    assert (run.returncode, run.stderr) == (111, b"qmail-newmrh: fatal: unable to chdir to %s: "
                                            b"file does not exist\n" % bytes(home / "nonexistent"))


# --- audit of §1.1, §2.1-§2.2, §13 (the controls qmail-smtpd reads) --------------------------

@pytest.mark.parametrize("value, expected", [(b"-5\n", 1200), (b"\n", 1200), (b"", 1200),
                                             (b"7\r\n", 7), (b"7 \t\nx\n", 7),
                                             (b"#5\n", 1200)])
def test_more_timeout_values(home, value, expected):
    write(home, "timeoutsmtpd", value)
    assert load_config({}, [])[1] == expected


def test_single_line_controls_keep_what_the_c_keeps(home):
    """§1.1: an existing empty smtpgreeting is the greeting (not me); a CR and leading spaces
    stay; only the first line counts; an empty localiphost is a value."""
    write(home, "smtpgreeting", b"")
    write(home, "localiphost", b"\n")
    config, _ = load_config({}, [])
    assert (config.greeting, config.localiphost) == (b"", b"")
    write(home, "smtpgreeting", b"  mx.example.org NO UCE\r\nsecond\n")
    write(home, "localiphost", b"#lip\t \n")
    config, _ = load_config({}, [])
    assert (config.greeting, config.localiphost) == (b"  mx.example.org NO UCE\r", b"#lip")


def test_morercpthosts_ignored_without_rcpthosts(home):
    """§2.9: without rcpthosts every recipient passes and morercpthosts.cdb is not opened."""
    (home / "control" / "morercpthosts.cdb").mkdir()
    config, _ = load_config({}, [])
    assert config.rcpt_allowed(b"u@anywhere.org") is True


def test_list_controls(home):
    """§1.1: `#` lines and empty lines skipped; leading spaces and CR kept (never match)."""
    write(home, "rcpthosts", b" lead.org\ncr.org\r\n#x.org\n\n\t\nok.org\t \n")
    write(home, "badmailfrom", b"#@hash.org\n @lead.org\n@cr.org\r\n@Ok.Org \n")
    config, _ = load_config({}, [])
    allowed = config.rcpt_allowed
    assert [allowed(a) for a in (b"u@lead.org", b"u@cr.org", b"u@x.org", b"u@ok.org")] == [
        False, False, False, True]
    assert config.badmailfrom == frozenset({b" @lead.org", b"@cr.org\r", b"@ok.org"})


@pytest.mark.parametrize("name", ["smtpgreeting", "localiphost", "timeoutsmtpd", "rcpthosts",
                                  "badmailfrom", "databytes"])
def test_every_unreadable_control_is_fatal(home, name):
    """§1.1, §2.2: any error but ENOENT -> ControlError (the driver's 421)."""
    (home / "control" / name).mkdir()
    with pytest.raises(control.ControlError):
        load_config({}, [])


def test_unreadable_morercpthosts_is_fatal_at_start(home):
    """§2.9: morercpthosts.cdb is opened at start when rcpthosts exists; a failure to open it
    (other than ENOENT) is fatal (a dangling symlink loop stands in for EACCES, as root)."""
    write(home, "rcpthosts", b"example.org\n")
    os.symlink("morercpthosts.cdb", home / "control" / "morercpthosts.cdb")
    with pytest.raises(control.ControlError):
        load_config({}, [])


def test_timeout_beyond_polls_limit(home):
    """timeoutsmtpd is a C int of seconds (the C selects with it); poll() takes a C int of
    milliseconds, so a large value must still work: a read with data ready returns it."""
    from qmail.wire import Wire
    write(home, "timeoutsmtpd", b"3000000\n")
    timeout = load_config({}, [])[1]
    assert timeout == 3000000
    r, w = os.pipe()
    try:
        os.write(w, b"NOOP\r\n")
        wire = Wire(timeout, rfd=r, wfd=w)
        assert wire.read() == b"NOOP\r\n"
        wire.write(b"250 ok\r\n", flush=True)
        assert os.read(r, 100) == b"250 ok\r\n"
    finally:
        os.close(r)
        os.close(w)
