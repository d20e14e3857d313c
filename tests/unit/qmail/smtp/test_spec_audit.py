"""An audit of qmail-smtpd's core against spec/qmail.md §1.2, §2 and §15, statement by
statement, for what tests/unit/qmail/smtp/test_connection.py leaves out. Transcripts: exact
bytes in, exact bytes out, each run whole and one byte at a time (the `smtp` fixture)."""
import pytest

from qmail.smtp.address import rcpthosts_allows
from qmail.smtp.connection import SmtpConnection, qq_text
from qmail.smtp.effects import CloseQueue, Hangup, OpenQueue, QueueBytes, Reply, SmtpConfig

from unit.qmail.smtp.transcript import CONFIG

GREET = b"220 mx.example.org ESMTP\r\n"
OK = b"250 ok\r\n"
ACCEPTED = b"250 ok 1795553416 qp 6201\r\n"
GO = b"354 go ahead\r\n"
UNIMPL = b"502 unimplemented (#5.5.1)\r\n"
WANT_MAIL = b"503 MAIL first (#5.5.1)\r\n"
WANT_RCPT = b"503 RCPT first (#5.5.1)\r\n"
SYNTAX = b"555 syntax error (#5.5.4)\r\n"
BMF = b"553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n"
NOGW = b"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"
BIG = b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"
HOPS = b"554 too many hops, this message is looping (#5.4.6)\r\n"
LF = b"451 See https://cr.yp.to/docs/smtplf.html.\r\n"
DATE = b"  by 127.0.0.1 with SMTP; 24 Nov 2026 20:50:16 -0000\n"
START = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"


def cfg(**kw) -> SmtpConfig:
    fields = {name: getattr(CONFIG, name) for name in CONFIG.__slots__}
    fields.update(kw)
    return SmtpConfig(**fields)


def received(smtp, session: bytes, config: SmtpConfig = CONFIG) -> bytes:
    """The first line of smtpd's Received line after SESSION + one empty message."""
    t = smtp(session + START + b".\r\n", config)
    assert t.out.endswith(ACCEPTED)
    return t.queued[0][0].split(b"\n")[0]


# --- §1.2 the command reader -----------------------------------------------------------------

def test_only_one_cr_is_removed(smtp):
    """§1.2 step 1: a line ending CR LF loses that single CR; another CR is part of the line."""
    t = smtp(b"NOOP\r\r\nNOOP \r\r\n")
    assert t.out == GREET + UNIMPL + OK                   # verb `NOOP\r`; then argument `\r`
    assert received(smtp, b"HELO x\r\r\n") == b"Received: from unknown (HELO x?) (192.0.2.7)"


def test_argument_spaces(smtp):
    """§1.2 step 3: leading spaces of the argument are skipped, trailing ones kept."""
    assert received(smtp, b"HELO    x  \r\n") == b"Received: from unknown (HELO x??) (192.0.2.7)"
    assert received(smtp, b"HELO \r\n") == b"Received: from unknown (HELO ) (192.0.2.7)"
    assert received(smtp, b"HELO\r\n") == b"Received: from unknown (HELO ) (192.0.2.7)"
    assert received(smtp, b"EHLO\tx\r\n") == b"Received: from unknown (192.0.2.7)"   # 502


@pytest.mark.parametrize("line, reply", [
    (b"QuIt", b"221 mx.example.org\r\n"),
    (b"hElO x", b"250 mx.example.org\r\n"),
    (b"eHlO x", b"250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
    (b"rSeT", b"250 flushed\r\n"),
    (b"nOoP anything at all", OK),
    (b"VRFY", b"252 send some mail, i'll try my best\r\n"),
    (b"vRfY <postmaster>", b"252 send some mail, i'll try my best\r\n"),
    (b"HELP me please", b"214 notqmail home page: https://notqmail.org\r\n"),
    (b"DaTa", WANT_MAIL),
    (b"rCpT TO:<a@b>", WANT_MAIL),
    (b"TURN", UNIMPL), (b"ETRN example.org", UNIMPL), (b"BDAT 10 LAST", UNIMPL),
    (b"EXPN postmaster", UNIMPL), (b"SEND FROM:<a@b>", UNIMPL), (b"SAML FROM:<a@b>", UNIMPL),
    (b"STARTTLS", UNIMPL), (b"AUTH PLAIN AGJvYgBzZWNyZXQ=", UNIMPL),
    (b"HELO\0x", b"250 mx.example.org\r\n"),            # the NUL cuts the line to `HELO`
    (b"MAILFROM:<a@b>", UNIMPL), (b"QUITE", UNIMPL), (b"\0QUIT", UNIMPL),
    (b"  ", UNIMPL), (b"\r", UNIMPL),
])
def test_verbs(smtp, line, reply):
    """§1.2 steps 2, 4, 5; §2.3's table: verbs in any case, everything else 502."""
    t = smtp(line + b"\r\n")
    assert t.out == GREET + reply
    assert t.status == (0 if line.lower() == b"quit" else 1)


def test_nul_cuts_addresses(smtp):
    """§1.2 step 5: the line ends at its first NUL, so does the address in it."""
    t = smtp(b"MAIL FROM:<a\0b@c>\r\nRCPT TO:<d@e>\0junk\r\nDATA\r\n.\r\n")
    assert t.queued[0][1] == b"Fa\0Td@e\0\0"


def test_empty_greeting(smtp):
    """§2.3: an empty smtpgreeting line is used as it is."""
    t = smtp(b"HELO x\r\nEHLO y\r\nQUIT\r\n", cfg(greeting=b""))
    assert t.out == (b"220  ESMTP\r\n250 \r\n250-\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                     b"221 \r\n")


# --- §2.4 session state ----------------------------------------------------------------------

def test_ehlo_and_rset_close_the_transaction(smtp):
    t = smtp(b"MAIL FROM:<a@b>\r\nEHLO x\r\nRCPT TO:<c@d>\r\n"
             b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRSET\r\nDATA\r\nRCPT TO:<c@d>\r\n")
    assert t.out == GREET + (OK + b"250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                             + WANT_MAIL + OK + OK + b"250 flushed\r\n" + WANT_MAIL + WANT_MAIL)


def test_data_without_recipients_keeps_the_transaction(smtp):
    """`503 RCPT first` leaves the transaction open: recipients may follow, then DATA."""
    t = smtp(b"MAIL FROM:<a@b>\r\nDATA\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n")
    assert t.out == GREET + OK + WANT_RCPT + OK + GO + ACCEPTED
    assert t.queued[0][1] == b"Fa@b\0Tc@d\0\0"


def test_refused_recipients_are_not_kept(smtp):
    config = cfg(rcpt_allowed=lambda addr: rcpthosts_allows(addr, frozenset({b"d"})))
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nRCPT TO:<c@d>\r\n"
             b"RCPT TO:<x@y>\r\nRCPT TO:<e@D>\r\nDATA\r\n.\r\n", config)
    assert t.out == GREET + OK + NOGW + WANT_RCPT + OK + NOGW + OK + GO + ACCEPTED
    assert t.queued[0][1] == b"Fa@b\0Tc@d\0Te@D\0\0"


def test_qqt_failure_closes_the_transaction(smtp):
    """§2.4: DATA closes the transaction before the queue program starts."""
    t = smtp(START + b"DATA\r\nRCPT TO:<c@d>\r\n", qp=None)
    assert t.out == GREET + OK + OK + b"451 qqt failure (#4.3.0)\r\n" + WANT_MAIL + WANT_MAIL


def test_every_outcome_of_data_closes_the_transaction(smtp):
    for kw, body in (({"queue_status": 0}, b".\r\n"), ({"queue_status": 53 << 8}, b".\r\n"),
                     ({"config": cfg(databytes=1)}, b"xy\r\n.\r\n"),
                     ({}, b"Received: x\r\n" * 100 + b".\r\n")):
        t = smtp(START + body + b"RCPT TO:<c@d>\r\nDATA\r\n", **kw)
        assert t.out.endswith(b"\r\n" + WANT_MAIL + WANT_MAIL)


def test_rcpt_without_argument(smtp):
    """§2.6: no argument is the empty address; without @ it passes rcpthosts (§2.9)."""
    config = cfg(rcpt_allowed=lambda addr: rcpthosts_allows(addr, frozenset()))
    t = smtp(b"MAIL\r\nRCPT\r\nRCPT TO:\r\nDATA\r\n.\r\n", config)
    assert t.out == GREET + OK + OK + OK + GO + ACCEPTED
    assert t.queued[0][1] == b"F\0T\0T\0\0"


# --- §2.6 address parsing ----------------------------------------------------------------------

@pytest.mark.parametrize("arg, addr", [
    (b"FROM: <a@b>", b"a@b"),
    (b"FROM:<a b@c> x", b"a b@c"),
    (b'FROM:"x y"@z SIZE=1', b"x y@z"),
    (b"FROM:x\\ y@z w", b"x y@z"),
    (b"FROM:   ", b""),
    (b"FROM:", b""),
    (b"TO:<a@b>>", b"a@b"),
    (b"TO:<<a@b>>", b"<a@b"),
    (b"junk <a@b> more <c@d>", b"a@b"),
    (b"TO:@r1,@r2:u@d", b"u@d"),
    (b"TO:<@r1:@r2:u@d>", b"@r2:u@d"),
    (b'TO:<"">', b""),
    (b'TO:<"a\\"b"@d>', b'a"b@d'),
    (b"TO:<a\\\\b@d>", b"a\\b@d"),
    (b"TO:<a@b", b"a@b"),
    (b"TO:<u@d.>", b"u@d."),
    (b"TO:<U@D.ORG>", b"U@D.ORG"),
    (b"TO:<\xff\x01@d>", b"\xff\x01@d"),
    (b"TO:<a@b> NOTIFY=NEVER ORCPT=rfc822;a@b", b"a@b"),
    (b"FROM:<a@b> SIZE=", b"a@b"),
])
def test_more_address_forms(smtp, arg, addr):
    """§2.6 steps 1-4: nothing is validated, nothing re-quoted, case is kept."""
    t = smtp(b"MAIL " + arg + b"\r\nRCPT " + arg + b"\r\nDATA\r\n.\r\n")
    assert t.out == GREET + OK + OK + GO + ACCEPTED
    assert t.queued[0][1] == b"F" + addr + b"\0T" + addr + b"\0\0"


def test_length_limit_counts_the_parsed_address(smtp):
    """§2.6 step 5: quotes and escapes do not count; 899 parsed bytes pass, 900 do not."""
    quoted = b'"' + b"x" * 897 + b'"@d'                  # 899 parsed bytes, 901 raw
    t = smtp(b"MAIL FROM:<" + quoted + b">\r\nRCPT TO:<" + quoted + b"x>\r\n"
             b"RCPT TO:" + b"y" * 900 + b"\r\nRCPT TO:<" + b"z" * 899 + b">\r\n")
    assert t.out == GREET + OK + SYNTAX + SYNTAX + OK


# --- §2.7 localiphost -------------------------------------------------------------------------

LOCAL = {b"\x7f\0\0\1", b"\0\0\0\0"}.__contains__


@pytest.mark.parametrize("addr, parsed", [
    (b"x@[127.0.0.01]", b"x@mx.example.org"),
    (b"x@[127.000.0.1]", b"x@mx.example.org"),
    (b"x@[0.0.0.0]", b"x@mx.example.org"),
    (b"a@b@[127.0.0.1]", b"a@b@mx.example.org"),
    (b"x@[127.0.0.1]x", b"x@[127.0.0.1]x"),
    (b"x@[127.0.0.1].", b"x@[127.0.0.1]."),
    (b"x@[127.0.0.1.]", b"x@[127.0.0.1.]"),
    (b"x@[ 127.0.0.1]", b"x@[ 127.0.0.1]"),
    (b"x@[+127.0.0.1]", b"x@[+127.0.0.1]"),
    (b"x@[IPv6:::1]", b"x@[IPv6:::1]"),
    (b"x@127.0.0.1", b"x@127.0.0.1"),
    (b"x@[127.0.0.1]@y", b"x@[127.0.0.1]@y"),
    (b"x[127.0.0.1]", b"x[127.0.0.1]"),
])
def test_local_ip_literal_forms(smtp, addr, parsed):
    config = cfg(localiphost=b"mx.example.org", is_local_ip=LOCAL)
    t = smtp(b"MAIL FROM:<" + addr + b">\r\nRCPT TO:<" + addr + b">\r\nDATA\r\n.\r\n", config)
    assert t.queued[0][1] == b"F" + parsed + b"\0T" + parsed + b"\0\0"


def test_local_ip_replaced_before_the_length_check(smtp):
    """§2.7 happens before §2.6 step 5: the limit applies to the replaced address."""
    config = cfg(localiphost=b"h", is_local_ip=LOCAL)
    long_literal = b"x" * 890 + b"@[127.0.0.1]"            # 902 bytes, 892 once replaced
    t = smtp(b"MAIL FROM:<" + long_literal + b">\r\nRCPT TO:<" + long_literal + b">\r\n",
             config)
    assert t.out == GREET + OK + OK
    config = cfg(localiphost=b"h" * 20, is_local_ip=LOCAL)
    short_literal = b"x" * 880 + b"@[127.0.0.1]"           # 892 bytes, 901 once replaced
    t = smtp(b"MAIL FROM:<" + short_literal + b">\r\n", config)
    assert t.out == GREET + SYNTAX


def test_empty_localiphost(smtp):
    """An empty localiphost file is a value: `x@[my ip]` becomes `x@`."""
    config = cfg(localiphost=b"", is_local_ip=LOCAL)
    t = smtp(b"MAIL FROM:<x@[127.0.0.1]>\r\nRCPT TO:<y@[127.0.0.1]>\r\nDATA\r\n.\r\n", config)
    assert t.queued[0][1] == b"Fx@\0Ty@\0\0"


def test_local_ip_then_badmailfrom_and_rcpthosts(smtp):
    """§2.7: the replaced address is what badmailfrom and rcpthosts judge."""
    config = cfg(localiphost=b"mx.example.org", is_local_ip=LOCAL,
                 badmailfrom=frozenset({b"@mx.example.org"}),
                 rcpt_allowed=lambda addr: rcpthosts_allows(addr, frozenset({b"mx.example.org"})))
    t = smtp(b"MAIL FROM:<a@[127.0.0.1]>\r\nRCPT TO:<b@[127.0.0.1]>\r\n"
             b"MAIL FROM:<a@[10.0.0.1]>\r\nRCPT TO:<b@[127.0.0.1]>\r\nRCPT TO:<b@[10.0.0.1]>\r\n",
             config)
    assert t.out == GREET + OK + BMF + OK + OK + NOGW


# --- §2.8-§2.9 badmailfrom, rcpthosts, RELAYCLIENT --------------------------------------------

def test_rcpt_checks_in_order(smtp):
    """§2.4: transaction -> syntax -> badmailfrom -> RELAYCLIENT/rcpthosts."""
    config = cfg(badmailfrom=frozenset({b"@bad.org"}), relayclient=b"",
                 rcpt_allowed=lambda addr: False)
    t = smtp(b"RCPT TO:<" + b"x" * 900 + b">\r\nMAIL FROM:<u@bad.org>\r\n"
             b"RCPT TO:<" + b"x" * 900 + b">\r\nRCPT TO:<c@d>\r\nDATA\r\n", config)
    assert t.out == GREET + WANT_MAIL + OK + SYNTAX + BMF + WANT_RCPT
    config = cfg(badmailfrom=frozenset({b"@bad.org"}), rcpt_allowed=lambda addr: None)
    t = smtp(b"MAIL FROM:<u@bad.org>\r\nRCPT TO:<c@d>\r\nMAIL FROM:<u@ok.org>\r\n"
             b"RCPT TO:<c@d>\r\nNOOP\r\n", config)
    assert t.out == GREET + OK + BMF + OK + b"421 unable to read controls (#4.3.0)\r\n"
    assert t.status == 1


@pytest.mark.parametrize("sender, refused", [
    (b"u@bad.org", True), (b"U@BAD.ORG", True), (b"u@x@bad.org", True),
    (b"@bad.org", False),                           # a source route: the address is empty
    (b"u@bad.org.", False), (b"u@sub.bad.org", False), (b"bad.org", False), (b"u@bad.orgx", False),
    (b"whole@x.org", True), (b"WHOLE@X.org", True), (b"whole@x.org.", False),
    (b"xwhole@x.org", False), (b"", False),
])
def test_badmailfrom_forms(smtp, sender, refused):
    """§2.8: the whole address, or the part from its last @, equal to a line (any case)."""
    config = cfg(badmailfrom=frozenset({b"@bad.org", b"whole@x.org"}))
    t = smtp(b"MAIL FROM:<" + sender + b">\r\nRCPT TO:<c@d>\r\n", config)
    assert t.out == GREET + OK + (BMF if refused else OK)


def test_relayclient_is_appended_after_the_length_check(smtp):
    """§2.9: RELAYCLIENT's value goes on after parsing, so it may pass 899 bytes."""
    rcpt = b"x" * 899
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<" + rcpt + b">\r\nRCPT TO:<>\r\nDATA\r\n.\r\n",
             cfg(relayclient=b"@relay.x"))
    assert t.out == GREET + OK + OK + OK + GO + ACCEPTED
    assert t.queued[0][1] == b"Fa@b\0T" + rcpt + b"@relay.x\0T@relay.x\0\0"


def test_relayclient_not_appended_to_the_sender(smtp):
    t = smtp(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\n", cfg(relayclient=b"+x"))
    assert t.queued[0][1] == b"Fa@b\0Tc@d+x\0\0"


def test_empty_rcpthosts_accepts_only_addresses_without_at(smtp):
    """§15 item 7."""
    config = cfg(rcpt_allowed=lambda addr: rcpthosts_allows(addr, frozenset()))
    t = smtp(b"MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nRCPT TO:<>\r\nRCPT TO:<u@example.org>\r\n",
             config)
    assert t.out == GREET + OK + OK + OK + NOGW


# --- §2.10 DATA -------------------------------------------------------------------------------

REC = b"Received: from unknown (192.0.2.7)\n" + DATE


@pytest.mark.parametrize("body, stored", [
    (b". \r\n.\r\n", b" \n"),
    (b"...\r\n.\r\n", b"..\n"),
    (b"a\r\n.b\r\n..\r\n.\r\n", b"a\nb\n.\n"),
    (b"\r\r\r\n.\r\n", b"\r\r\n"),
    (b"\r.\r\n.\r\n", b"\r.\n"),
    (b"a.\r\n.\r\n", b"a.\n"),
    (b"x\r\n.\r\r\n.\r\n", b"x\n.\r\n"),
    (b".\r.\r\n.\r\n", b".\r.\n"),
    (b"\x00\r\n\x00.\r\n.\r\n", b"\x00\n\x00.\n"),
    (b"x\r\n.\r\n.\r\n", b"x\n"),                   # the second `.` line is a command (502)
])
def test_more_transparency(smtp, body, stored):
    """§2.10.2."""
    t = smtp(START + body)
    assert t.queued == [(REC + stored, b"Fa@b\0Tc@d\0\0")]


def test_bare_lf_after_overflow_still_hangs_up(smtp):
    """§2.10.4: past databytes the byte machine still runs, bare LF included."""
    t = smtp(START + b"abc\r\nx\nmore\r\n.\r\n", cfg(databytes=1))
    assert t.out == GREET + OK + OK + GO + LF
    assert t.status == 1 and t.queued == []


@pytest.mark.parametrize("databytes, body, reply", [
    (3, b"..x\r\n.\r\n", ACCEPTED),                 # `.x` LF: the removed dot does not count
    (3, b"..xy\r\n.\r\n", BIG),
    (2, b"\r\n\r\n.\r\n", ACCEPTED),                # CR LF is stored (and counted) as LF
    (2, b"\r\n\r\n\r\n.\r\n", BIG),
    (1, b".\r\n", ACCEPTED),                        # the Received lines never count
    (3, b".\rX\r\n.\r\n", BIG),                     # `.\rX` keeps its dot: 4 bytes
])
def test_databytes_counts_stored_bytes(smtp, databytes, body, reply):
    t = smtp(START + body + b"NOOP\r\n", cfg(databytes=databytes))
    assert t.out == GREET + OK + OK + GO + reply + OK


@pytest.mark.parametrize("lines, hops", [
    (b"Delivered-To: x\r\n" * 100, True),
    (b"Delivered-To: x\r\n" * 99, False),
    (b"delivered\r\n" * 100, True),
    (b"RECEIVED\r\n" * 100, True),
    (b"Receive\r\n" * 100, False),                  # 7 bytes do not make `received`
    (b"DELIVERE\r\n" * 100, False),
    (b" Received: x\r\n" * 100, False),             # folded lines do not count
    (b"X-Received: x\r\n" * 100, False),
    (b"..Received\r\n" * 100, False),               # the raw line is compared, dot included
    (b"Received: x\r\n" * 99 + b"\r\n" + b"Received: y\r\n", False),
    (b"Received: x\r\n" * 150, True),
])
def test_hop_forms(smtp, lines, hops):
    """§2.10.3."""
    t = smtp(START + lines + b"\r\nbody\r\n.\r\n")
    assert t.out.endswith(HOPS if hops else ACCEPTED)


def test_hops_with_a_failing_queue_program(smtp):
    """§2.10.6: after a failure, too many hops wins over databytes and over the table."""
    t = smtp(START + b"Received: x\r\n" * 100 + b"12345\r\n.\r\n", cfg(databytes=2),
             queue_status=53 << 8)
    assert t.out.endswith(GO + HOPS)
    t = smtp(START + b"12345\r\n.\r\n", cfg(databytes=2), queue_status=31 << 8)
    assert t.out.endswith(GO + BIG)


def test_overflow_with_a_queue_program_that_exits_0(smtp):
    """Past databytes smtpd stops feeding the queue program (qmail_fail) and sends no
    envelope, so even its exit 0 is `qq read error`, which loses to 552 (§2.10.6)."""
    t = smtp(START + b"12345\r\n.\r\n", cfg(databytes=2), queue_status=0)
    assert t.out.endswith(GO + BIG)
    assert t.messages[0][1] is None


@pytest.mark.parametrize("errtext, reply", [
    (b"Dno\0thanks", b"554 no\r\n"),                # fd 6's text is a C string
    (b"Z\0later", b"451 \r\n"),
    (b"\0later", ACCEPTED),                         # empty C string: smtp_data accepts
    (b"Dx\r\nmore", b"554 x\r\nmore\r\n"),          # sent as it is
])
def test_fd6_text_is_a_c_string(smtp, errtext, reply):
    """§2.10.6, exit 82 (notqmail): qmail_close returns the text as a C string."""
    t = smtp(START + b".\r\n", queue_status=82 << 8, errtext=errtext)
    assert t.out == GREET + OK + OK + GO + reply


def test_qq_text_82():
    assert qq_text(82 << 8, False, b"Dab") == b"Dab"
    assert qq_text(82 << 8, False, b"Da\0") == b"Da"
    assert qq_text(82 << 8, False, b"D\0") == b"Zqq temporary problem (#4.3.0)"


# --- §2.10.5 the Received line ------------------------------------------------------------------

def test_latest_helo_decides(smtp):
    """§2.10.5: the latest HELO/EHLO argument, compared case-insensitively with REMOTEHOST."""
    config = cfg(remotehost=b"client.example")
    assert received(smtp, b"HELO other\r\nEHLO Client.EXAMPLE\r\n", config) == (
        b"Received: from client.example (192.0.2.7)")
    assert received(smtp, b"HELO client.example\r\nEHLO other\r\n", config) == (
        b"Received: from client.example (HELO other) (192.0.2.7)")
    assert received(smtp, b"EHLO client.example.\r\n", config) == (
        b"Received: from client.example (HELO client.example.) (192.0.2.7)")
    assert received(smtp, b"HELO UNKNOWN\r\n") == b"Received: from unknown (192.0.2.7)"
    assert received(smtp, b"", config) == b"Received: from client.example (192.0.2.7)"


def test_every_field_is_made_safe(smtp):
    """§2.10.5: all five fields get the `?` substitution; `[` and `]` stay (notqmail)."""
    config = cfg(remotehost=b"h_st\xff", remoteip=b"[1.2.3.4] x", remoteinfo=b"us er(1)",
                 local=b"lo;cal\t")
    t = smtp(b"HELO a\"b\\c<d>\r\n" + START + b".\r\n", config)
    assert t.queued[0][0] == (b"Received: from h?st? (HELO a?b?c?d?) (us?er?1?@[1.2.3.4]?x)\n"
                              b"  by lo?cal? with SMTP; 24 Nov 2026 20:50:16 -0000\n")


def test_received_line_date_is_taken_when_the_queue_opens(smtp):
    t = smtp(START + b".\r\n", now=951782400)                        # 29 Feb 2000 00:00:00
    assert t.queued[0][0].endswith(b"; 29 Feb 2000 00:00:00 -0000\n")
    assert t.out.endswith(b"250 ok 951782400 qp 6201\r\n")


# --- §1.3, §2.12 timeouts and exits ------------------------------------------------------------

def drain(conn):
    effects = []
    for effect in conn.effects():
        effects.append(effect)
        if isinstance(effect, OpenQueue):
            conn.queue_opened(6201, 1795553416)
        elif isinstance(effect, CloseQueue):
            conn.queue_closed(0)
    return effects


def test_timeout_in_data_queues_nothing():
    conn = SmtpConnection(CONFIG)
    drain(conn)
    conn.receive_data(START + b"Subject: x\r\n")
    effects = drain(conn)
    assert effects[-1] == QueueBytes(b"Subject: x\n")
    conn.timed_out()
    assert drain(conn) == [Reply(b"451 timeout (#4.4.2)\r\n", True), Hangup(1)]


def test_timeout_in_auth_exchange():
    conn = SmtpConnection(cfg(auth=True))
    drain(conn)
    conn.receive_data(b"AUTH LOGIN\r\n")
    assert drain(conn) == [Reply(b"334 VXNlcm5hbWU6\r\n", True)]
    conn.timed_out()
    assert drain(conn) == [Reply(b"451 timeout (#4.4.2)\r\n", True), Hangup(1)]


def test_input_after_quit_is_ignored(smtp):
    t = smtp(b"QUIT\r\nMAIL FROM:<a@b>\r\n")
    assert t.out == GREET + b"221 mx.example.org\r\n" and t.status == 0
    assert t.replies[-1] == (b"221 mx.example.org\r\n", True)


def test_exit_1_after_a_refused_data_and_eof(smtp):
    t = smtp(b"MAIL FROM:<a@b>\r\nDATA\r\n")
    assert t.status == 1 and t.messages == []


# --- §2.14 AUTH (the seed's form) ---------------------------------------------------------------

AUTH = cfg(auth=True, databytes=1000,
           rcpt_allowed=lambda addr: rcpthosts_allows(addr, frozenset({b"example.org"})))


def test_auth_helo_is_stock(smtp):
    t = smtp(b"HELO x\r\n", AUTH)
    assert t.out == GREET + b"250 mx.example.org\r\n"


@pytest.mark.parametrize("data, reply", [
    (b"AUTH PLAIN\r\n*\r\n", b"334 \r\n501 auth exchange canceled (#5.0.0)\r\n"),
    (b"AUTH CRAM-MD5\r\n*\r\n", None),
    (b"AUTH LOGIN !!!!\r\n", b"501 malformed auth input (#5.5.4)\r\n"),
    (b"AUTH LOGIN\r\n\r\n", b"334 VXNlcm5hbWU6\r\n501 malformed auth input (#5.5.4)\r\n"),
    (b"AUTH FOO bar\r\n", b"504 auth type unimplemented (#5.5.1)\r\n"),
])
def test_auth_more_refusals(smtp, data, reply):
    t = smtp(data + b"NOOP\r\n", AUTH)
    if reply is None:
        assert t.out.startswith(GREET + b"334 ")
        assert t.out.endswith(b"\r\n501 auth exchange canceled (#5.0.0)\r\n" + OK)
    else:
        assert t.out == GREET + reply + OK
    assert t.auths == []


def test_auth_replaces_relayclient_and_identity(smtp):
    """§2.14: success makes RELAYCLIENT empty (a previous value is no longer appended) and
    the user the Received line's INFO."""
    config = cfg(auth=True, relayclient=b"@relay.x", remoteinfo=b"ident")
    t = smtp(b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\n"
             b"DATA\r\n.\r\n", config)
    assert t.queued[0][1] == b"Fa@b\0Tu@other.org\0\0"
    assert t.queued[0][0].startswith(b"Received: from unknown (bob@192.0.2.7)\n"
                                     b"  by 127.0.0.1 with ESMTPA; ")


def test_auth_failure_keeps_relay_closed_and_allows_retry(smtp):
    t = smtp(b"AUTH PLAIN AGJvYgB3cm9uZw==\r\nRCPT TO:<u@other.org>\r\n"
             b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\n",
             AUTH, auth_status=lambda u, p, c: 0 if p == b"secret" else 1 << 8)
    assert t.out == GREET + (b"535 authentication failed (#5.7.1)\r\n" + WANT_MAIL
                             + b"235 ok, go ahead (#2.0.0)\r\n" + OK + OK)


def test_auth_size_without_databytes(smtp):
    t = smtp(b"MAIL FROM:<a@b> SIZE=99999999999\r\n", cfg(auth=True))
    assert t.out == GREET + OK


def test_auth_spaces_before_mechanism_and_initial_response(smtp):
    """Spaces after AUTH (the command reader) and after the mechanism are skipped."""
    t = smtp(b"AUTH  LOGIN   Ym9i\r\nc2VjcmV0\r\n", AUTH)
    assert t.out == GREET + b"334 UGFzc3dvcmQ6\r\n235 ok, go ahead (#2.0.0)\r\n"
    assert t.auths == [(b"bob", b"secret", b"")]


def test_empty_environment_values_are_values(smtp):
    """§2.1: a set but empty TCPREMOTEHOST/TCPREMOTEIP/TCPLOCALHOST is used as it is; an
    empty HELO then equals the remote host."""
    config = cfg(remotehost=b"", remoteip=b"", local=b"")
    t = smtp(b"HELO\r\n" + START + b".\r\n", config)
    assert t.queued[0][0] == b"Received: from  ()\n  by  with SMTP; 24 Nov 2026 20:50:16 -0000\n"
    assert received(smtp, b"HELO x\r\n", config) == b"Received: from  (HELO x) ()"
