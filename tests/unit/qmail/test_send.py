"""qmail-send's pure decisions (qmail/sendcore.py): spec/qmail.md §9.2, §9.3, §9.5, §9.6."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from qmail import sendcore
from qmail.sendcore import LOCAL, REMOTE, make_controls

NOW = 1795553487               # 24 Nov 2026 20:51:27 UTC

CTL = make_controls(
    b"mx.example.org", [b"mx.example.org", b"Localhost"], [b"percent.example"],
    {b"virt.example": b"vu", b"joe@special.example": b"joe-sp", b".sub.example": b"subu",
     b"except.sub.example": b""},
)


@pytest.mark.parametrize("recip,channel,addr", [
    (b"joe@mx.example.org", LOCAL, b"joe@mx.example.org"),
    (b"Joe@MX.Example.ORG", LOCAL, b"Joe@MX.Example.ORG"),          # case kept, match ignores it
    (b"joe@localhost", LOCAL, b"joe@localhost"),
    (b"joe", LOCAL, b"joe@mx.example.org"),                          # envnoathost = me
    (b"joe@elsewhere.example", REMOTE, b"joe@elsewhere.example"),
    (b"u%h.example@percent.example", REMOTE, b"u@h.example"),
    (b"u%mx.example.org@percent.example", LOCAL, b"u@mx.example.org"),
    (b"a%b%percent.example@percent.example", REMOTE, b"a@b"),      # repeatedly
    (b"u%h@other.example", REMOTE, b"u%h@other.example"),          # not a percenthack domain
    (b"x@virt.example", LOCAL, b"vu-x@virt.example"),
    (b"x@VIRT.example", LOCAL, b"vu-x@VIRT.example"),
    (b"joe@special.example", LOCAL, b"joe-sp-joe@special.example"),   # whole address first
    (b"ann@special.example", REMOTE, b"ann@special.example"),
    (b"y@a.sub.example", LOCAL, b"subu-y@a.sub.example"),           # .suffix
    (b"y@except.sub.example", REMOTE, b"y@except.sub.example"),     # empty prepend: exception
    (b"y@sub.example", REMOTE, b"y@sub.example"),                   # .sub does not match sub
])
def test_rewrite(recip, channel, addr):
    assert sendcore.rewrite(recip, CTL) == (channel, addr)


def test_rewrite_catch_all_virtual_domain():
    ctl = make_controls(b"me.example", None, None, {b"": b"catch"})
    assert sendcore.rewrite(b"a@any.example", ctl) == (LOCAL, b"catch-a@any.example")
    assert sendcore.rewrite(b"a@me.example", ctl) == (LOCAL, b"a@me.example")   # locals first


def test_controls_defaults():
    ctl = make_controls(b"me.example", None, None, None)
    assert ctl.locals == {b"me.example"}
    assert (ctl.envnoathost, ctl.bouncefrom, ctl.bouncehost, ctl.doublebounceto) == (
        b"me.example", b"MAILER-DAEMON", b"me.example", b"postmaster@me.example")
    ctl = make_controls(None, [b"a.example"], None, None)
    assert (ctl.envnoathost, ctl.bouncehost, ctl.doublebounceto) == (
        b"envnoathost", b"bouncehost", b"postmaster@doublebouncehost")
    with pytest.raises(ValueError):
        make_controls(None, None, None, None)             # no locals and no me: refuse


@pytest.mark.parametrize("sender,recip,out", [
    (b"owner-@host-@[]", b"box@domain", b"owner-box=domain@host"),
    (b"list-owner-@lists.example-@[]", b"a@b.example", b"list-owner-a=b.example@lists.example"),
    (b"owner-@host-@[]", b"nodomain", b"owner-@host-@[]"),
    (b"plain@example.com", b"a@b", b"plain@example.com"),
    (b"", b"a@b", b""),
    (b"-@[]", b"a@b", b"-@[]"),
])
def test_senderadd_verp(sender, recip, out):
    assert sendcore.senderadd(sender, recip) == out


def test_squareroot_is_floor_sqrt():
    for x in list(range(0, 2000)) + [604800, 10**9, 2**32 - 1]:
        assert sendcore.squareroot(x) == math.isqrt(x), x


@pytest.mark.parametrize("channel,attempts", [
    (LOCAL, [100, 400, 900, 1600, 2500]),
    (REMOTE, [400, 1600, 3600, 6400, 10000]),
])
def test_retry_schedule_for_punctual_attempts(channel, attempts):
    birth = NOW
    t = birth
    seen = []
    for _ in attempts:
        t = sendcore.next_retry(birth, t, channel)
        seen.append(t - birth)
    assert seen == attempts


def test_retry_after_late_attempt_and_future_birth():
    assert sendcore.next_retry(1000, 1000 + 150, LOCAL) == 1000 + 22 ** 2
    assert sendcore.next_retry(1000, 900, REMOTE) == 1000 + 400     # birth in the future


def test_remote_attempts_in_a_week():
    birth, t, n = 0, 0, 1
    while True:
        t = sendcore.next_retry(birth, t, REMOTE)
        if t > birth + sendcore.LIFETIME:
            break
        n += 1
    assert n == 39                                       # spec: about 39 remote attempts


def test_dying():
    assert not sendcore.is_dying(0, 604800, 604800)
    assert sendcore.is_dying(0, 604801, 604800)
    assert sendcore.dying_report(b"Zconnection refused\n") == (
        b"Dconnection refused\nI'm not going to try again; this message has been in the "
        b"queue too long.\n")
    assert sendcore.dying_report(b"Kok\n") == b"Kok\n"


def test_logsafe():
    assert sendcore.logsafe(b"a b\tc%d\ne\x7f\x80~!") == b"a_b_c_d/e__~!"


def test_log_lines():
    assert sendcore.log_status((1, 0), (10, 20), False) == b"status: local 1/10 remote 0/20\n"
    assert sendcore.log_status((0, 0), (10, 20), True) == (
        b"status: local 0/10 remote 0/20 exitasap\n")
    assert sendcore.log_new(2154124) == b"new msg 2154124\n"
    assert sendcore.log_info(2154124, 88, b"a b@example.com", 19875, 0) == (
        b"info msg 2154124: bytes 88 from <a_b@example.com> qp 19875 uid 0\n")
    assert sendcore.log_starting(3, 2154124, REMOTE, b"x@y\n") == (
        b"starting delivery 3: msg 2154124 to remote x@y/\n")
    assert sendcore.log_delivery(3, b"Kdid 1+0+0\n") == b"delivery 3: success: did_1+0+0/\n"
    assert sendcore.log_delivery(4, b"ZSorry, 100%.\n") == b"delivery 4: deferral: Sorry,_100_./\n"
    assert sendcore.log_delivery(5, b"Dno mailbox\n") == b"delivery 5: failure: no_mailbox/\n"
    assert sendcore.log_delivery(6, b"Xjunk") == b"delivery 6: report mangled, will defer\n"
    assert sendcore.log_end(7) == b"end msg 7\n"
    assert sendcore.log_bounce(7, 8) == b"bounce msg 7 qp 8\n"


def test_bounce_paragraph():
    assert sendcore.bounce_paragraph(b"joe@example.org", b"Sorry, no mailbox here by that "
                                     b"name. (#5.1.1)\n", {}) == (
        b"<joe@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n")
    # a final LF is added; the LF of an empty line inside becomes "/" (it joins the next
    # line, as addbounce() does in place); an LF in the address becomes "_"
    assert sendcore.bounce_paragraph(b"a\nb@x", b"one\n\ntwo", {}) == (
        b"<a_b@x>:\none\n/two\n\n")
    assert sendcore.bounce_paragraph(b"x@y", b"a\n\n\nb\n", {}) == b"<x@y>:\na\n//b\n\n"
    assert sendcore.bounce_paragraph(b"x@y", b"", {}) == b"<x@y>:\n\n"
    # the virtual-domain prepend is removed
    assert sendcore.bounce_paragraph(b"vu-x@virt.example", b"no\n", CTL.vdoms) == (
        b"<x@virt.example>:\nno\n\n")


def test_strip_vdom_prepend():
    assert sendcore.strip_vdom_prepend(b"subu-y@a.sub.example", CTL.vdoms) == b"y@a.sub.example"
    assert sendcore.strip_vdom_prepend(b"other-y@a.sub.example", CTL.vdoms) == (
        b"other-y@a.sub.example")
    assert sendcore.strip_vdom_prepend(b"noat", CTL.vdoms) == b"noat"


def test_bounce_message_exact():
    b = sendcore.bounce_message(b"sender@example.com", CTL, NOW)
    assert (b.sender, b.recipient) == (b"", b"sender@example.com")
    assert b.head == (
        b"Date: 24 Nov 2026 20:51:27 -0000\n"
        b"From: MAILER-DAEMON@mx.example.org\n"
        b"To: sender@example.com\n"
        b"Subject: failure notice\n"
        b"\n"
        b"Hi. This is the qmail-send program at mx.example.org.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\n"
        b"\n")
    assert b.separator == (b"--- Below this line is a copy of the message.\n\n"
                           b"Return-Path: <sender@example.com>\n")


def test_double_bounce_and_triple_bounce():
    b = sendcore.bounce_message(b"", CTL, NOW)
    assert (b.sender, b.recipient) == (b"#@[]", b"postmaster@mx.example.org")
    assert b.head.endswith(
        b"Hi. This is the qmail-send program at mx.example.org.\n"
        b"I tried to deliver a bounce message to this address, but the bounce bounced!\n\n")
    assert b"To: postmaster@mx.example.org\n" in b.head
    assert b.separator == b"--- Below this line is the original bounce.\n\nReturn-Path: <>\n"
    assert sendcore.bounce_message(b"#@[]", CTL, NOW) is None


def test_bounce_to_verp_sender_and_quoting():
    b = sendcore.bounce_message(b"owner-@lists.example-@[]", CTL, NOW)
    assert b.recipient == b"owner-@lists.example"
    b = sendcore.bounce_message(b"a b@example.com", CTL, NOW)
    assert b"To: \"a b\"@example.com\n" in b.head
    assert b.separator.endswith(b"Return-Path: <\"a b\"@example.com>\n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_rewrite_never_raises_and_keeps_an_at(recip):
    channel, addr = sendcore.rewrite(recip, CTL)
    assert channel in (LOCAL, REMOTE) and b"@" in addr
