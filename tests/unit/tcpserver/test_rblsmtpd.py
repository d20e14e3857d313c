"""rblsmtpd's pure parts: the decision in option order and the blocked conversation (§5.2)."""
import subprocess
import sys

import pytest

from tcpserver import rblsmtpd
from tcpserver.rblsmtpd import RblSession, Verdict


class LookupFailed(Exception):
    pass


def lookups(answers: dict):
    """txt/ip4 functions answering from a dict; the value FAIL makes the lookup fail."""
    asked = []

    def lookup(name):
        asked.append(name)
        value = answers.get(name, b"" if not name.endswith(b"a") else [])
        if value == "FAIL":
            raise LookupFailed(name)
        return value
    return lookup, asked


@pytest.mark.parametrize("ip, reversed_", [
    (b"1.2.3.4", b"4.3.2.1."), (b"127.0.0.5", b"5.0.0.127."), (b"", b""),
    (b".1", b"1."), (b"1.", b".1."), (b"1..2", b"2..1."), (b"abc", b"abc."),
])
def test_reverse_ip(ip, reversed_):
    assert rblsmtpd.reverse_ip(ip) == reversed_


def test_sanitize():
    assert rblsmtpd.sanitize(b"ok \t\x01\x7f\x80\xff~ ") == b"ok ?????~ "


def verdict(env=None, answers=None, steps=()):
    lookup, asked = lookups(answers or {})
    v = Verdict(env, b"1.2.3.4", lookup, lookup, LookupFailed)
    for step, arg in steps:
        if step == "r":
            v.rbl(arg)
        elif step == "a":
            v.antirbl(arg)
        else:
            setattr(v, step, arg)
    return v, asked


@pytest.mark.parametrize("env, blocked, message", [
    (b"", False, None),
    (b"go away", True, b"451 go away"),
    (b"-go away", True, b"553 go away"),
    (b"-", True, b"553 "),
    (b"x" * 250, True, b"451 " + b"x" * 200),
    (b"tab\there\xff", True, b"451 tab?here?"),
])
def test_rblsmtpd_variable_decides_without_lookups(env, blocked, message):
    v, asked = verdict(env, steps=[("r", b"rbl"), ("a", b"white")])
    assert asked == []
    assert v.blocked is blocked
    if blocked:
        assert v.message() == message


LISTED = {b"4.3.2.1.rbl": b"listed here", b"4.3.2.1.fail": "FAIL", b"4.3.2.1.white": ["1.1.1.1"]}


@pytest.mark.parametrize("steps, message, asked", [
    ([("r", b"rbl")], b"451 listed here", [b"4.3.2.1.rbl"]),
    ([("bounce", True), ("r", b"rbl")], b"553 listed here", [b"4.3.2.1.rbl"]),
    ([("r", b"clean"), ("r", b"rbl"), ("r", b"more")], b"451 listed here",
     [b"4.3.2.1.clean", b"4.3.2.1.rbl"]),
    ([("a", b"white"), ("r", b"rbl")], None, [b"4.3.2.1.white"]),
    ([("r", b"fail")], None, [b"4.3.2.1.fail"]),
    ([("fail_closed", True), ("r", b"fail")], b"451 temporary RBL lookup error",
     [b"4.3.2.1.fail"]),
    ([("bounce", True), ("fail_closed", True), ("r", b"fail")],
     b"451 temporary RBL lookup error", [b"4.3.2.1.fail"]),
    ([("bounce", True), ("r", b"fail"), ("r", b"rbl")], b"451 listed here",
     [b"4.3.2.1.fail", b"4.3.2.1.rbl"]),
    ([("a", b"fail"), ("r", b"rbl")], None, [b"4.3.2.1.fail"]),
    ([("fail_closed", True), ("a", b"fail"), ("r", b"rbl")], b"451 listed here",
     [b"4.3.2.1.fail", b"4.3.2.1.rbl"]),
])
def test_rblsmtpd_lookups_in_option_order(steps, message, asked):
    v, seen = verdict(None, LISTED, steps)
    assert seen == asked
    assert v.blocked is (message is not None)
    if message is not None:
        assert v.message() == message


TRANSCRIPT = [
    (b"HELO x\r\n", b"250 rblsmtpd.local\r\n"),
    (b"ehlo y\r\n", b"250 rblsmtpd.local\r\n"),
    (b"MAIL FROM:<a@b>\r\n", b"250 rblsmtpd.local\r\n"),
    (b"RCPT TO:<c@d>\r\n", b"451 listed\r\n"),
    (b"DATA\r\n", b"451 listed\r\n"),
    (b"\r\n", b"451 listed\r\n"),
    (b"mail\tx\r\n", b"451 listed\r\n"),
    (b"quit\0\r\n", b"451 listed\r\n"),
    (b"NOOP\n", b"250 rblsmtpd.local\r\n"),
    (b"rset\r\r\n", b"451 listed\r\n"),
    (b"QUIT now\r\n", b"221 rblsmtpd.local\r\n"),
    (b"HELO after\r\n", b""),
]


def test_rblsmtpd_session_whole():
    session = RblSession(b"451 listed")
    data = b"".join(line for line, _ in TRANSCRIPT)
    assert session.receive_data(data) == b"".join(reply for _, reply in TRANSCRIPT)
    assert session.done


def test_rblsmtpd_session_byte_by_byte():
    session = RblSession(b"451 listed")
    for line, reply in TRANSCRIPT:
        got = b"".join(session.receive_data(line[i:i + 1]) for i in range(len(line)))
        assert got == reply
    assert session.done


def test_rblsmtpd_partial_line_gets_no_reply():
    session = RblSession(b"553 no")
    assert session.receive_data(b"RCPT TO:<x>") == b""
    assert not session.done


def test_rblsmtpd_start_up_stays_light():
    probe = ("import sys; seen = set(sys.modules); import tcpserver.rblsmtpd;"
             " print(*set(sys.modules) - seen)")
    out = subprocess.check_output([sys.executable, "-c", probe], text=True).split()
    heavy = {"email", "smtplib", "asyncio", "logging", "dns", "dataclasses", "socket",
             "subprocess", "tcpserver.dns", "signal", "enum"}
    assert not heavy & set(out)


def test_rblsmtpd_blocked_path_stays_light():
    probe = ("import os, sys; seen = set(sys.modules); from tcpserver.rblsmtpd import main;"
             " os.environ['RBLSMTPD'] = 'x'; main([b'rblsmtpd', b'-t0', b'true']);"
             " print(*set(sys.modules) - seen)")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                       stdin=subprocess.DEVNULL)
    reply, _, modules = r.stdout.partition(b"\r\n")
    assert reply == b"451 x"
    assert not {b"signal", b"enum", b"socket", b"dns", b"dataclasses", b"email"} & set(
        modules.split())
