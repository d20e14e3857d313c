"""qmail-smtpd's core as transcripts (spec/qmail.md §2): exact bytes in, exact bytes out.
Every transcript runs whole and one byte at a time (the `smtp` fixture compares both)."""
import pytest

from qmail.smtp.address import rcpthosts_allows
from qmail.smtp.connection import (AUTH_NO_CHILD, AUTH_NO_PIPE, AUTH_WAIT_FAILED,
                                   AUTH_WRITE_FAILED, SmtpConnection, SmtpError, qq_text)
from qmail.smtp.effects import Authenticated, Pause, SmtpConfig

from unit.qmail.smtp.transcript import CONFIG

GREET = b"220 mx.example.org ESMTP\r\n"
EHLO = b"250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
RECEIVED = (b"Received: from unknown (HELO a.b) (192.0.2.7)\n"
            b"  by 127.0.0.1 with SMTP; 24 Nov 2026 20:50:16 -0000\n")


def cfg(**kw) -> SmtpConfig:
    fields = {name: getattr(CONFIG, name) for name in CONFIG.__slots__}
    fields.update(kw)
    return SmtpConfig(**fields)


def rcpthosts(*hosts, more=()):
    hosts = frozenset(h.lower() for h in hosts)
    more = frozenset(more)
    return lambda addr: rcpthosts_allows(addr, hosts, more.__contains__ if more else None)


def test_spec_example_lock_step(smtp):
    """§2.13, verified against notqmail."""
    t = smtp(b"EHLO a.b\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
             b"Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
    assert t.out == (GREET + EHLO + b"250 ok\r\n250 ok\r\n354 go ahead\r\n"
                     b"250 ok 1795553416 qp 6201\r\n221 mx.example.org\r\n")
    assert t.queued == [(RECEIVED + b"Subject: x\n\n.dot\n", b"Fa@b\0Tc@d\0\0")]
    assert t.status == 0


@pytest.mark.parametrize("line, reply", [
    (b"HELO x", b"250 mx.example.org\r\n"),
    (b"HELO", b"250 mx.example.org\r\n"),
    (b"EHLO x", EHLO),
    (b"RSET", b"250 flushed\r\n"),
    (b"NOOP", b"250 ok\r\n"),
    (b"NOOP\0junk", b"250 ok\r\n"),
    (b"NO\0OP", b"502 unimplemented (#5.5.1)\r\n"),
    (b"VRFY x", b"252 send some mail, i'll try my best\r\n"),
    (b"HELP", b"214 notqmail home page: https://notqmail.org\r\n"),
    (b"EXPN x", b"502 unimplemented (#5.5.1)\r\n"),
    (b"AUTH LOGIN", b"502 unimplemented (#5.5.1)\r\n"),      # stock: no AUTH without arguments
    (b"STARTTLS", b"502 unimplemented (#5.5.1)\r\n"),
    (b"", b"502 unimplemented (#5.5.1)\r\n"),
    (b" NOOP", b"502 unimplemented (#5.5.1)\r\n"),
    (b"NOOP\tx", b"502 unimplemented (#5.5.1)\r\n"),
    (b"MAIL\tFROM:<a@b>", b"502 unimplemented (#5.5.1)\r\n"),
    (b"mAiL FROM:<a@b>", b"250 ok\r\n"),
    (b"RCPT TO:<a@b>", b"503 MAIL first (#5.5.1)\r\n"),
    (b"DATA", b"503 MAIL first (#5.5.1)\r\n"),
])
def test_single_commands(smtp, line, reply):
    for end in (b"\r\n", b"\n"):                        # commands may end in bare LF (§2.5)
        t = smtp(line + end)
        assert t.out == GREET + reply
        assert t.status == 1                            # EOF afterwards: exit 1, no reply


def test_quit_ignores_arguments_and_exits_0(smtp):
    t = smtp(b"QUIT now please\r\nNOOP\r\n")
    assert t.out == GREET + b"221 mx.example.org\r\n"
    assert t.status == 0


def test_greeting_with_more_words(smtp):
    t = smtp(b"HELO x\r\nQUIT\r\n", cfg(greeting=b"mx.example.org NO UCE"))
    assert t.out == (b"220 mx.example.org NO UCE ESMTP\r\n250 mx.example.org NO UCE\r\n"
                     b"221 mx.example.org NO UCE\r\n")


def test_eof_mid_line_is_silent(smtp):
    t = smtp(b"NOOP\r\nNOO")
    assert t.out == GREET + b"250 ok\r\n" and t.status == 1


def test_flush_column(smtp):
    """§2.11: MAIL, RCPT and RSET replies are not flushed by themselves."""
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRSET\r\nNOOP\r\nFOO\r\nHELO x\r\n"
             b"EHLO y\r\nVRFY z\r\nHELP\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\n"
             b"QUIT\r\n")
    assert [flush for _, flush in t.replies] == [
        False, False, False, False, True, True, True, True, True, True,
        False, False, False, True, True]


def test_pipelined_transaction(smtp):
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\nhi\r\n.\r\n"
             b"MAIL FROM:<>\r\nRCPT TO:<g@h>\r\nDATA\r\n.\r\n")
    assert t.out == GREET + (b"250 ok\r\n" * 3 + b"354 go ahead\r\n250 ok 1795553416 qp 6201\r\n") \
        + b"250 ok\r\n250 ok\r\n354 go ahead\r\n250 ok 1795553416 qp 6201\r\n"
    rec = RECEIVED.replace(b" (HELO a.b)", b"")
    assert t.queued == [(rec + b"hi\n", b"Fa@b\0Tc@d\0Te@f\0\0"), (rec, b"F\0Tg@h\0\0")]


def test_text_before_354_is_message_text(smtp):
    """§2.11: lines sent before the 354 are read as message once DATA is accepted..."""
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nQUIT\r\n.\r\nQUIT\r\n")
    assert t.queued[0][0].endswith(b"QUIT\n")
    assert t.status == 0


def test_commands_after_refused_data(smtp):
    """... and parsed as commands if DATA is refused."""
    t = smtp(b"MAIL FROM:<a@b>\r\nDATA\r\nNOOP\r\n.\r\n")
    assert t.out == GREET + b"250 ok\r\n503 RCPT first (#5.5.1)\r\n250 ok\r\n" \
        b"502 unimplemented (#5.5.1)\r\n"
    assert t.messages == []


def test_session_state(smtp):
    """§2.4: HELO closes the transaction; 555 MAIL keeps the old one; DATA closes it."""
    t = smtp(b"MAIL FROM:<a@b>\r\nHELO x\r\nRCPT TO:<c@d>\r\n"
             b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nMAIL FROM:<" + b"x" * 900 + b">\r\n"
             b"RCPT TO:<e@f>\r\nDATA\r\n.\r\nDATA\r\nRCPT TO:<g@h>\r\n")
    assert t.out == GREET + (b"250 ok\r\n250 mx.example.org\r\n503 MAIL first (#5.5.1)\r\n"
                             b"250 ok\r\n250 ok\r\n555 syntax error (#5.5.4)\r\n250 ok\r\n"
                             b"354 go ahead\r\n250 ok 1795553416 qp 6201\r\n"
                             b"503 MAIL first (#5.5.1)\r\n503 MAIL first (#5.5.1)\r\n")
    assert t.queued[0][1] == b"Fa@b\0Tc@d\0Te@f\0\0"


def test_second_mail_restarts_transaction(smtp):
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nMAIL FROM:<x@y>\r\nDATA\r\n")
    assert t.out.endswith(b"503 RCPT first (#5.5.1)\r\n")


@pytest.mark.parametrize("arg, addr", [
    (b"FROM:<a@b>", b"a@b"),
    (b"FROM:<a@b> SIZE=100 BODY=8BITMIME", b"a@b"),
    (b"FROM:a@b SIZE=100", b"a@b"),
    (b"FROM a@b", b""),
    (b"FROM:<>", b""),
    (b"", b""),
    (b"FROM:   spaced@x y", b"spaced@x"),
    (b"TO:<@r1,@r2:u@d>", b"u@d"),
    (b'TO:<"john doe"@d>', b"john doe@d"),
    (b"TO:<a\\>b@d>", b"a>b@d"),
    (b"TO:x@y z", b"x@y"),
    (b"<bare@d>", b"bare@d"),
    (b"TO:<postmaster>", b"postmaster"),
    (b'TO:<"a>b"@d>', b"a>b@d"),
    (b"TO:<unterminated@d", b"unterminated@d"),
    (b"TO:<@route-only>", b""),
    (b"TO:<" + b"x" * 899 + b">", b"x" * 899),
])
def test_address_parsing(smtp, arg, addr):
    """§2.6 (verified examples), seen in the envelope."""
    t = smtp(b"MAIL " + arg + b"\r\nRCPT " + arg + b"\r\nDATA\r\n.\r\n")
    assert t.queued[0][1] == b"F" + addr + b"\0T" + addr + b"\0\0"


def test_address_too_long(smtp):
    t = smtp(b"MAIL FROM:<" + b"x" * 900 + b">\r\nMAIL FROM:<" + b"\\x" * 899 + b">\r\n")
    assert t.out == GREET + b"555 syntax error (#5.5.4)\r\n250 ok\r\n"


def test_local_ip_literal(smtp):
    """§2.7: x@[my ip] -> x@localiphost, before the checks; other IPs stay."""
    config = cfg(localiphost=b"mx.example.org", is_local_ip={b"\x7f\0\0\1"}.__contains__,
                 rcpt_allowed=rcpthosts(b"mx.example.org"))
    t = smtp(b"MAIL FROM:<a@[127.0.0.1]>\r\nRCPT TO:<x@[127.0.0.1]>\r\n"
             b"RCPT TO:<y@[10.255.255.1]>\r\nRCPT TO:<z@[383.0.0.1]>\r\nDATA\r\n.\r\n", config)
    assert t.out == GREET + b"250 ok\r\n250 ok\r\n" + (
        b"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"
        b"250 ok\r\n354 go ahead\r\n250 ok 1795553416 qp 6201\r\n")
    assert t.queued[0][1] == b"Fa@mx.example.org\0Tx@mx.example.org\0Tz@mx.example.org\0\0"


def test_no_localiphost_no_replacement(smtp):
    config = cfg(localiphost=None, is_local_ip=lambda ip: True)
    t = smtp(b"MAIL FROM:<a@[127.0.0.1]>\r\nRCPT TO:<a@[127.0.0.1]>\r\nDATA\r\n.\r\n", config)
    assert t.queued[0][1] == b"Fa@[127.0.0.1]\0Ta@[127.0.0.1]\0\0"


def test_badmailfrom(smtp):
    """§2.8: 250 to MAIL, 553 to every RCPT, then 503 RCPT first."""
    config = cfg(badmailfrom=frozenset({b"spam@x.org", b"@bad.org"}))
    t = smtp(b"MAIL FROM:<u@BAD.org>\r\nRCPT TO:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
             b"MAIL FROM:<u@sub.bad.org>\r\nRCPT TO:<a@b>\r\n"
             b"MAIL FROM:<SPAM@x.org>\r\nRCPT TO:<a@b>\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\n",
             config)
    bmf = b"553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n"
    assert t.out == GREET + (b"250 ok\r\n" + bmf + bmf + b"503 RCPT first (#5.5.1)\r\n"
                             + b"250 ok\r\n250 ok\r\n" + b"250 ok\r\n" + bmf
                             + b"250 ok\r\n250 ok\r\n")


def test_rcpthosts(smtp):
    """§2.9: exact lines, .suffix lines, no @ always, last @ decides, cdb after the file."""
    config = cfg(rcpt_allowed=rcpthosts(b"example.com", b".example.net", more={b"more.org"}))
    no = b"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"
    ok = b"250 ok\r\n"
    cases = [(b"u@example.com", ok), (b"u@EXAMPLE.COM", ok), (b"u@a.example.com", no),
             (b"u@a.example.net", ok), (b"u@a.b.example.net", ok), (b"u@example.net", no),
             (b"postmaster", ok), (b"u@example.com.", no), (b"u@x@example.com", ok),
             (b"u@example.com@x", no), (b"u@more.org", ok), (b"u@", no)]
    data = b"MAIL FROM:<>\r\n" + b"".join(b"RCPT TO:<" + a + b">\r\n" for a, _ in cases)
    t = smtp(data, config)
    assert t.out == GREET + ok + b"".join(r for _, r in cases)


def test_rcpthosts_unreadable_mid_session(smtp):
    t = smtp(b"MAIL FROM:<>\r\nRCPT TO:<a@b>\r\nNOOP\r\n", cfg(rcpt_allowed=lambda a: None))
    assert t.out == GREET + b"250 ok\r\n421 unable to read controls (#4.3.0)\r\n"
    assert t.status == 1


def test_relayclient_appended(smtp):
    """§2.9: RELAYCLIENT skips rcpthosts and is appended to every recipient."""
    config = cfg(relayclient=b"@relay.x", rcpt_allowed=lambda a: False)
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\nRCPT TO:<v>\r\nDATA\r\n.\r\n", config)
    assert t.queued[0][1] == b"Fa@b\0Tu@other.org@relay.x\0Tv@relay.x\0\0"
    config = cfg(relayclient=b"", rcpt_allowed=lambda a: False)
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\nDATA\r\n.\r\n", config)
    assert t.queued[0][1] == b"Fa@b\0Tu@other.org\0\0"


# --- DATA -------------------------------------------------------------------------------------

START = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
REC = RECEIVED.replace(b" (HELO a.b)", b"")


@pytest.mark.parametrize("body, stored", [
    (b".\r\n", b""),
    (b"a\r\n.\r\n", b"a\n"),
    (b"..dot\r\n.x\r\n.\r\n", b".dot\nx\n"),
    (b"A\rB\r\n.\r\n", b"A\rB\n"),
    (b"C\r\r\n.\r\n", b"C\r\n"),
    (b".\rX\r\n.\r\n", b".\rX\n"),
    (b".\r\r\n.\r\n", b".\r\n"),
    (b"\r\n\r\n.\r\n", b"\n\n"),
    (b"\0\xff\x80\r\n.\r\n", b"\0\xff\x80\n"),
    (b"x\r\n..\r\n.\r\n", b"x\n.\n"),
    (b"no end of line.\r\n.\r\n", b"no end of line.\n"),
])
def test_transparency(smtp, body, stored):
    """§2.10.2 (verified)."""
    t = smtp(START + body)
    assert t.queued == [(REC + stored, b"Fa@b\0Tc@d\0\0")]


@pytest.mark.parametrize("body", [b"\n", b"a\n", b"a\r\nb\nc\r\n.\r\n", b".\n", b"..\n",
                                  b"x\r\n.\n"])
def test_bare_lf_hangs_up(smtp, body):
    t = smtp(START + body + b"more\r\n.\r\nQUIT\r\n")
    assert t.out.endswith(b"354 go ahead\r\n451 See https://cr.yp.to/docs/smtplf.html.\r\n")
    assert t.replies[-1] == (b"451 See https://cr.yp.to/docs/smtplf.html.\r\n", True)
    assert t.status == 1 and t.messages == []


def test_disconnect_in_data_queues_nothing(smtp):
    t = smtp(START + b"Subject: x\r\n\r\nbody\r\n")
    assert t.status == 1 and t.messages == []
    assert t.out.endswith(b"354 go ahead\r\n")


def test_end_mark_then_commands_in_same_chunk(smtp):
    t = smtp(START + b"x\r\n.\r\nNOOP\n")
    assert t.out.endswith(b"250 ok 1795553416 qp 6201\r\n250 ok\r\n")


def test_hop_count(smtp):
    """§2.10.3: 100 Received/Delivered header lines refuse; body lines and 99 do not."""
    hops = b"".join(b"rEcEiVeD: x\r\n" if i % 2 else b"Delivered-To: y\r\n" for i in range(99))
    t = smtp(START + hops + b"Receivedxyz\r\n\r\nx\r\n.\r\n")
    assert t.out.endswith(b"354 go ahead\r\n554 too many hops, this message is looping"
                          b" (#5.4.6)\r\n")
    assert t.queued == [] and len(t.messages) == 1
    assert t.messages[0][0].endswith(b"\nx\n")            # it got the whole message
    t = smtp(START + hops + b"\r\nReceived: body\r\n.\r\n")
    assert t.out.endswith(b"250 ok 1795553416 qp 6201\r\n")
    t = smtp(START + hops + b".Received: x\r\nX-Received: y\r\n.\r\n")
    assert t.out.endswith(b"250 ok 1795553416 qp 6201\r\n")


def test_databytes(smtp):
    """§2.10.4: exactly databytes stored bytes pass; one more is refused after the whole read."""
    config = cfg(databytes=10)
    t = smtp(START + b"123456789\r\n.\r\n", config)             # 10 stored bytes
    assert t.out.endswith(b"250 ok 1795553416 qp 6201\r\n")
    t = smtp(START + b"1234567890\r\n.\r\nNOOP\r\n", config)
    assert t.out.endswith(b"354 go ahead\r\n552 sorry, that message size exceeds my databytes"
                          b" limit (#5.3.4)\r\n250 ok\r\n")
    assert t.messages == [(REC + b"1234567890", None)]            # stopped at databytes


def test_databytes_with_hops_prefers_hops(smtp):
    hops = b"Received: x\r\n" * 100
    t = smtp(START + hops + b".\r\n", cfg(databytes=10))
    assert t.out.endswith(b"554 too many hops, this message is looping (#5.4.6)\r\n")


@pytest.mark.parametrize("wstatus, errtext, write_error, reply", [
    (0, b"", True, b"451 qq read error (#4.3.0)"),
    (11 << 8, b"", False, b"554 envelope address too long for qq (#5.1.3)"),
    (115 << 8, b"", False, b"554 envelope address too long for qq (#5.1.3)"),
    (31 << 8, b"", False, b"554 mail server permanently rejected message (#5.3.0)"),
    (12 << 8, b"", False, b"554 qq permanent problem (#5.3.0)"),
    (40 << 8, b"", False, b"554 qq permanent problem (#5.3.0)"),
    (51 << 8, b"", False, b"451 qq out of memory (#4.3.0)"),
    (52 << 8, b"", False, b"451 qq timeout (#4.3.0)"),
    (53 << 8, b"", False, b"451 qq write error or disk full (#4.3.0)"),
    (54 << 8, b"", False, b"451 qq read error (#4.3.0)"),
    (55 << 8, b"", False, b"451 qq unable to read configuration (#4.3.0)"),
    (56 << 8, b"", False, b"451 qq trouble making network connection (#4.3.0)"),
    (61 << 8, b"", False, b"451 qq trouble in home directory (#4.3.0)"),
    (62 << 8, b"", False, b"451 qq trouble creating files in queue (#4.3.0)"),
    (66 << 8, b"", False, b"451 qq trouble creating files in queue (#4.3.0)"),
    (71 << 8, b"", False, b"451 mail server temporarily rejected message (#4.3.0)"),
    (72 << 8, b"", False, b"451 connection to mail server timed out (#4.4.1)"),
    (73 << 8, b"", False, b"451 connection to mail server rejected (#4.4.1)"),
    (74 << 8, b"", False, b"451 communication with mail server failed (#4.4.2)"),
    (81 << 8, b"", False, b"451 qq internal bug (#4.3.0)"),
    (91 << 8, b"", False, b"451 qq internal bug (#4.3.0)"),
    (82 << 8, b"Dno thanks", False, b"554 no thanks"),
    (82 << 8, b"Zlater", False, b"451 later"),
    (82 << 8, b"Xodd", False, b"451 odd"),
    (82 << 8, b"Dx", False, b"451 qq temporary problem (#4.3.0)"),
    (120 << 8, b"", False, b"451 unable to exec qq (#4.3.0)"),
    (9, b"", False, b"451 qq crashed (#4.3.0)"),
    (None, b"", False, b"451 qq waitpid surprise (#4.3.0)"),
    (99 << 8, b"", False, b"451 qq temporary problem (#4.3.0)"),
    (100 << 8, b"", False, b"451 qq temporary problem (#4.3.0)"),
    (1 << 8, b"", False, b"451 qq temporary problem (#4.3.0)"),
])
def test_queue_failures(smtp, wstatus, errtext, write_error, reply):
    """§2.10.6's table (verified); the connection stays open afterwards."""
    t = smtp(START + b".\r\nNOOP\r\n", queue_status=wstatus, errtext=errtext,
             write_error=write_error)
    assert t.out == GREET + b"250 ok\r\n250 ok\r\n354 go ahead\r\n" + reply + b"\r\n250 ok\r\n"


def test_qqt_failure(smtp):
    t = smtp(START + b"NOOP\r\n", qp=None)
    assert t.out == GREET + b"250 ok\r\n250 ok\r\n451 qqt failure (#4.3.0)\r\n250 ok\r\n"
    assert t.replies[-2][1] is True


def test_received_line_fields(smtp):
    """§2.10.5 (verified example): HELO shown when it differs from TCPREMOTEHOST; INFO@ when
    TCPREMOTEINFO is set, even empty; unsafe bytes become ?."""
    config = cfg(remotehost=b"client.example", remoteinfo=b"", remoteip=b"192.0.2.7",
                 local=b"mx.local")
    t = smtp(b"HELO my_host [1.2.3.4]\r\n" + START + b".\r\n", config, now=1795553430)
    assert t.queued[0][0] == (b"Received: from client.example (HELO my?host?[1.2.3.4])"
                              b" (@192.0.2.7)\n  by mx.local with SMTP; 24 Nov 2026 20:50:30"
                              b" -0000\n")
    t = smtp(b"HELO CLIENT.example\r\n" + START + b".\r\n", cfg(remotehost=b"client.example"))
    assert t.queued[0][0].startswith(b"Received: from client.example (192.0.2.7)\n")


def test_core_refuses_calls_out_of_turn():
    conn = SmtpConnection(CONFIG)
    list(conn.effects())
    with pytest.raises(SmtpError):
        conn.queue_closed(0)
    conn.receive_data(START)
    list(conn.effects())
    with pytest.raises(SmtpError):
        conn.receive_data(b"x")


def test_timeout():
    conn = SmtpConnection(CONFIG)
    conn.receive_data(b"NOOP\r\n")
    conn.timed_out()
    effects = list(conn.effects())
    assert [e.data for e in effects[:-1]] == [GREET, b"250 ok\r\n", b"451 timeout (#4.4.2)\r\n"]
    assert effects[-1].status == 1


def test_qq_text_zero_status():
    assert qq_text(0, False, b"") == b""


# --- AUTH (§2.14) -------------------------------------------------------------------------

AUTH = cfg(auth=True, rcpt_allowed=rcpthosts(b"example.org"), databytes=1000)
EHLO_AUTH = (b"250-mx.example.org\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 1000\r\n"
             b"250 AUTH LOGIN PLAIN CRAM-MD5\r\n")
NOGW = b"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"


def test_auth_ehlo_lines(smtp):
    t = smtp(b"EHLO x\r\n", AUTH)
    assert t.out == GREET + EHLO_AUTH
    t = smtp(b"EHLO x\r\n", cfg(auth=True))
    assert t.out.endswith(b"250-SIZE 0\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n")


def test_auth_login_then_relay(smtp):
    t = smtp(b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\nRSET\r\n"
             b"AUTH LOGIN\r\nYm9i\r\nc2VjcmV0\r\n"
             b"MAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\nDATA\r\n.\r\n", AUTH)
    assert t.out == GREET + EHLO_AUTH + b"250 ok\r\n" + NOGW + b"250 flushed\r\n" + (
        b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok, go ahead (#2.0.0)\r\n"
        b"250 ok\r\n250 ok\r\n354 go ahead\r\n250 ok 1795553416 qp 6201\r\n")
    assert t.auths == [(b"bob", b"secret", b"")]
    assert t.effects == [Authenticated(b"bob")]
    assert t.queued[0][0].startswith(b"Received: from unknown (HELO x) (bob@192.0.2.7)\n"
                                     b"  by 127.0.0.1 with ESMTPA; ")


def test_auth_login_initial_response(smtp):
    t = smtp(b"AUTH LOGIN Ym9i\r\nc2VjcmV0\r\n", AUTH)
    assert t.out == GREET + b"334 UGFzc3dvcmQ6\r\n235 ok, go ahead (#2.0.0)\r\n"
    assert t.auths == [(b"bob", b"secret", b"")]


def test_auth_plain(smtp):
    t = smtp(b"auth plain AGJvYgBzZWNyZXQ=\r\n", AUTH)           # \0bob\0secret
    assert t.out == GREET + b"235 ok, go ahead (#2.0.0)\r\n"
    assert t.auths == [(b"bob", b"secret", b"")]
    t = smtp(b"AUTH PLAIN\r\nYWRtaW4AYm9iAHNlY3JldA==\r\n", AUTH)  # admin\0bob\0secret
    assert t.out == GREET + b"334 \r\n235 ok, go ahead (#2.0.0)\r\n"
    assert t.auths == [(b"bob", b"secret", b"")]


def test_auth_cram_md5(smtp):
    import base64
    challenge = b"<6791.1795553416@127.0.0.1>"
    response = base64.b64encode(b"bob 0123456789abcdef")
    t = smtp(b"AUTH CRAM-MD5\r\n" + response + b"\r\n", AUTH)
    assert t.out == GREET + b"334 " + base64.b64encode(challenge) + b"\r\n" \
        + b"235 ok, go ahead (#2.0.0)\r\n"
    assert t.auths == [(b"bob", b"0123456789abcdef", challenge)]


def test_auth_refused_pauses(smtp):
    t = smtp(b"AUTH PLAIN AGJvYgB3cm9uZw==\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\n",
             AUTH, auth_status=1 << 8)
    assert t.out == GREET + b"535 authentication failed (#5.7.1)\r\n250 ok\r\n" + NOGW
    assert t.effects == [Pause(5)]


@pytest.mark.parametrize("result, reply", [
    (AUTH_NO_PIPE, b"454 oops, unable to open pipe and I can't auth (#4.3.0)"),
    (AUTH_NO_CHILD, b"454 oops, child won't start and I can't auth (#4.3.0)"),
    (AUTH_WRITE_FAILED, b"454 oops, unable to write pipe and I can't auth (#4.3.0)"),
    (AUTH_WAIT_FAILED, b"454 oops, problem with child and I can't auth (#4.3.0)"),
    (9, b"454 oops, problem with child and I can't auth (#4.3.0)"),
])
def test_auth_local_trouble(smtp, result, reply):
    t = smtp(b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", AUTH, auth_status=result)
    assert t.out == GREET + reply + b"\r\n"
    assert t.effects == []


@pytest.mark.parametrize("data, reply", [
    (b"AUTH LOGIN\r\n*\r\n", b"334 VXNlcm5hbWU6\r\n501 auth exchange canceled (#5.0.0)\r\n"),
    (b"AUTH LOGIN\r\nYm9i\r\n*\r\n",
     b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n501 auth exchange canceled (#5.0.0)\r\n"),
    (b"AUTH PLAIN\r\n\r\n", b"334 \r\n501 malformed auth input (#5.5.4)\r\n"),
    (b"AUTH PLAIN\r\n!!!!\r\n", b"334 \r\n501 malformed auth input (#5.5.4)\r\n"),
    (b"AUTH PLAIN AGJvYgA=\r\n", b"501 malformed auth input (#5.5.4)\r\n"),    # no password
    (b"AUTH PLAIN x y\r\n", b"501 malformed auth input (#5.5.4)\r\n"),
    (b"AUTH LOGIN\r\nAA==\r\nc2VjcmV0\r\n",
     b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n501 malformed auth input (#5.5.4)\r\n"),
    (b"AUTH CRAM-MD5\r\nYm9i\r\n", None),                                         # no digest
    (b"AUTH DIGEST-MD5\r\n", b"504 auth type unimplemented (#5.5.1)\r\n"),
    (b"AUTH\r\n", b"504 auth type unimplemented (#5.5.1)\r\n"),
    (b"MAIL FROM:<a@b>\r\nAUTH PLAIN AGJvYgBzZWNyZXQ=\r\n",
     b"250 ok\r\n503 no auth during mail transaction (#5.5.0)\r\n"),
    (b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nAUTH PLAIN AGJvYgBzZWNyZXQ=\r\n",
     b"235 ok, go ahead (#2.0.0)\r\n503 you're already authenticated (#5.5.0)\r\n"),
])
def test_auth_failures(smtp, data, reply):
    t = smtp(data, AUTH)
    if reply is None:
        assert t.out.endswith(b"\r\n501 malformed auth input (#5.5.4)\r\n")
    else:
        assert t.out == GREET + reply


def test_auth_eof_in_exchange(smtp):
    t = smtp(b"AUTH LOGIN\r\n", AUTH)
    assert t.out == GREET + b"334 VXNlcm5hbWU6\r\n" and t.status == 1


def test_auth_size_parameter(smtp):
    """§2.14: SIZE= above databytes is refused at MAIL; stock ignores SIZE=."""
    t = smtp(b"MAIL FROM:<a@b> SIZE=1001\r\nMAIL FROM:<a@b> SIZE=1000\r\n"
             b"MAIL FROM:<a@b> size=99999 BODY=8BITMIME\r\n", AUTH)
    big = b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"
    assert t.out == GREET + big + b"250 ok\r\n" + big
    t = smtp(b"MAIL FROM:<a@b> SIZE=1001\r\n", cfg(databytes=1000))
    assert t.out == GREET + b"250 ok\r\n"


def test_no_limit_on_command_length():
    """§1.2: lines have no length limit (here 4 MB fed in 1 KB reads, as the driver reads)."""
    conn = SmtpConnection(CONFIG)
    list(conn.effects())
    conn.receive_data(b"NOOP ")
    for _ in range(4096):
        conn.receive_data(b"x" * 1024)
    conn.receive_data(b"\r\nVRFY " + b"y" * 100000 + b"\r\n")
    assert [e.data for e in conn.effects()] == [b"250 ok\r\n",
                                                b"252 send some mail, i'll try my best\r\n"]
