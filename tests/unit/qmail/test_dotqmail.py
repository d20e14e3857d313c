"""qmail/dotqmail.py: which .qmail file, its lines, the lines qmail-local adds (spec §10)."""
import pytest
from hypothesis import given, settings, strategies as st

from qmail import dotqmail
from qmail.dotqmail import COMMENT, ERROR, FORWARD, IGNORED, MAILDIR, MBOX, PROGRAM
from qmail.quote import quote2
from qmail.sgetopt import getopt


def test_candidates_follow_the_c_comment_table():
    names = lambda dash, ext: [n for n, _ in dotqmail.candidates(dash, ext)]
    assert names(b"", b"") == [b".qmail", b".qmaildefault"]
    assert names(b"-", b"") == [b".qmail-", b".qmail-default"]
    assert names(b"-", b"a") == [b".qmail-a", b".qmail-default"]
    assert names(b"-", b"a-") == [b".qmail-a-", b".qmail-a-default", b".qmail-default"]
    assert names(b"-", b"a-b") == [b".qmail-a-b", b".qmail-a-default", b".qmail-default"]
    assert names(b"-", b"a-b-c") == [b".qmail-a-b-c", b".qmail-a-b-default", b".qmail-a-default",
                                     b".qmail-default"]


def test_candidates_lowercase_dots_and_default():
    assert dotqmail.candidates(b"-", b"John.Doe-X") == [
        (b".qmail-john:doe-x", None), (b".qmail-john:doe-default", b"X"),
        (b".qmail-default", b"John.Doe-X")]
    # an extension that itself ends in "default" sets DEFAULT from the first file too
    assert dotqmail.candidates(b"-", b"list-default")[0] == (b".qmail-list-default", b"default")


def test_parse_line_kinds():
    cmds = (b"# comment\n./Maildir/\n/var/mail/joe  \t\n|preline procmail\n&me@x\n"
            b"you@y\n\n+other\nplain\n")
    assert dotqmail.parse(cmds, False) == [
        (COMMENT, b"# comment"), (MAILDIR, b"./Maildir/"), (MBOX, b"/var/mail/joe"),
        (PROGRAM, b"preline procmail"), (FORWARD, b"me@x"), (FORWARD, b"you@y"),
        (IGNORED, b""), (IGNORED, b"+other"), (FORWARD, b"plain")]


def test_parse_adds_the_missing_final_newline():
    assert dotqmail.parse(b"./Mailbox", False) == [(MBOX, b"./Mailbox")]


def test_parse_blank_first_line_is_temporary():
    assert dotqmail.parse(b"\n./Maildir/\n", False) == [(ERROR, dotqmail.BLANK_FIRST_LINE)]


def test_parse_forward_only_stops_at_the_first_file_or_program():
    assert dotqmail.parse(b"&a@b\n|prog\n./x\n", True) == [
        (FORWARD, b"a@b"), (ERROR, dotqmail.PROG_WITH_X_BIT)]
    assert dotqmail.parse(b"./x/\n+list\n./y\n", False) == [
        (MAILDIR, b"./x/"), (IGNORED, b"+list"), (ERROR, dotqmail.FILE_WITH_X_BIT)]


def test_lines_qmail_local_adds():
    assert dotqmail.delivered_to_line(b"joe", b"ex.org") == b"Delivered-To: joe@ex.org\n"
    assert dotqmail.delivered_to_line(b"a\nb", b"x") == b"Delivered-To: a_b@x\n"
    assert dotqmail.return_path_line(b"a b@x") == b'Return-Path: <"a b"@x>\n'
    assert dotqmail.return_path_line(b"") == b"Return-Path: <>\n"
    assert dotqmail.from_line(b"a b\tc@x", 0) == b"From a-b-c@x Thu Jan 01 00:00:00 1970\n"
    assert dotqmail.myctime(1795553487) == b"Tue Nov 24 20:51:27 2026\n"
    assert dotqmail.myctime(0) == b"Thu Jan 01 00:00:00 1970\n"
    assert dotqmail.from_line(b"", 0) == b"From MAILER-DAEMON Thu Jan 01 00:00:00 1970\n"


def test_environment_pieces():
    assert dotqmail.ext_parts(b"a-b-c-d-e") == (b"a-b-c-d-e", b"b-c-d-e", b"c-d-e", b"d-e")
    assert dotqmail.ext_parts(b"a") == (b"a", b"", b"", b"")
    assert dotqmail.host_parts(b"a.b.c.d") == (b"a.b.c", b"a.b", b"a")
    assert dotqmail.host_parts(b"localhost") == (b"localhost",) * 3


def test_new_sender():
    ns = dotqmail.new_sender
    assert ns(b"s@x", b"list", b"h", False, False) == b"s@x"
    assert ns(b"s@x", b"list", b"h", True, False) == b"list-owner@h"
    assert ns(b"s@x", b"list", b"h", True, True) == b"list-owner-@h-@[]"
    assert ns(b"", b"list", b"h", True, True) == b""
    assert ns(b"#@[]", b"list", b"h", True, False) == b"#@[]"


@pytest.mark.parametrize("code, verdict", [
    (0, ("ok", False)), (99, ("ok", True)), (100, ("perm", False)), (64, ("perm", False)),
    (112, ("perm", False)), (111, ("temp", False)), (1, ("temp", False)), (75, ("temp", False))])
def test_program_exit(code, verdict):
    assert dotqmail.program_exit(code) == verdict


def test_did_line():
    assert dotqmail.did_line(1, 0, 2, None) == b"did 1+0+2\n"
    assert dotqmail.did_line(0, 3, 0, 4242) == b"did 0+3+0\nqp 4242\n"


def test_from_quoting():
    assert dotqmail.is_from_line(b">>From x")
    assert dotqmail.is_from_line(b"From ")
    assert not dotqmail.is_from_line(b"From:")
    assert not dotqmail.is_from_line(b" From ")


def test_quote2():
    assert quote2(b"joe@x") == b"joe@x"
    assert quote2(b"a..b@x") == b'"a..b"@x'
    assert quote2(b'a"b@x') == b'"a\\"b"@x'
    assert quote2(b"nobox") == b"nobox"
    assert quote2(b"#@[]") == b"#@[]"


def test_sgetopt():
    assert getopt("p", ["-nN", "--", "-x"], "nN") == ([("n", None), ("N", None)], ["-x"], [])
    assert getopt("p", ["-fa", "-f", "b", "c"], "f:") == ([("f", "a"), ("f", "b")], ["c"], [])
    assert getopt("p", ["-x"], "n")[2] == ["p: illegal option -- x"]
    assert getopt("p", ["-f"], "f:")[2] == ["p: option requires an argument -- f"]
    assert getopt("p", ["-", "-n"], "n") == ([], ["-", "-n"], [])
    # subgetopt.c: any word starting "--" ends the options and is skipped, as in ucspi-tcp
    assert getopt("p", ["-n", "--x", "-N"], "nN") == ([("n", None)], ["-N"], [])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_parse_never_fails_and_keeps_order(cmds):
    lines = dotqmail.parse(cmds, False)
    assert all(kind in {COMMENT, MAILDIR, MBOX, PROGRAM, FORWARD, IGNORED, ERROR}
               for kind, _ in lines)
    assert sum(kind == ERROR for kind, _ in lines) <= 1


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([b"", b"-"]), st.text("abAB-.x", max_size=12).map(str.encode))
def test_candidates_default_is_what_default_stands_for(dash, ext):
    found = dotqmail.candidates(dash, ext)
    assert found[0][0] == b".qmail" + dash + dotqmail.safe_ext(ext)
    assert found[-1] == (b".qmail" + dash + b"default", ext)
    for name, default in found[1:]:
        prefix = ext[:len(ext) - len(default)]
        assert name == b".qmail" + dash + dotqmail.safe_ext(prefix) + b"default"
        assert prefix == b"" or prefix.endswith(b"-")
