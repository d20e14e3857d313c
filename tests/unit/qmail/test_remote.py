"""qmail/remote.py's pure parts: routes, MX order, replies, DATA stuffing, reports (§9.4)."""
import pytest
from hypothesis import given, settings, strategies as st

from qmail import remote
from qmail.remote import Blaster, PartialLine, ReplyReader


ROUTES = {b"example.com": b"relay.example.net:2525", b".example.com": b"sub-relay",
          b"mx.example.com": b"", b"": b"default-relay", b"lit.example": b"[10.0.0.1]:26"}


@pytest.mark.parametrize("host, expected", [
    (b"example.com", (b"relay.example.net", 2525)),
    (b"EXAMPLE.COM", (b"relay.example.net", 2525)),
    (b"a.b.example.com", (b"sub-relay", 25)),
    (b"mx.example.com", (None, 25)),          # empty relay: use MX
    (b"other.org", (b"default-relay", 25)),
    (b"lit.example", (b"[10.0.0.1]", 26)),
])
def test_route(host, expected):
    assert remote.route(host, ROUTES) == expected


def test_route_without_smtproutes_and_odd_ports():
    assert remote.route(b"x.org", {}) == (None, 25)
    assert remote.route(b"x.org", {b"x.org": b"h:12ab"}) == (b"h", 12)
    assert remote.route(b"x.org", {b"x.org": b"h:"}) == (b"h", 0)


def test_ip_literal():
    assert remote.ip_literal(b"127.0.0.1") == b"127.0.0.1"
    assert remote.ip_literal(b"[10.0.0.01]") == b"10.0.0.1"
    assert remote.ip_literal(b"example.com") is None
    assert remote.ip_literal(b"1.2.3.256") is None
    assert remote.ip_literal(b"1.2.3") is None


def test_mangle_quotes_the_box_only():
    assert remote.mangle(b"a b@Example.COM") == b'"a b"@Example.COM'
    assert remote.mangle(b"joe@x") == b"joe@x"
    assert remote.mangle(b"") == b""


def test_order_mx_lowest_first_and_a_permutation():
    records = [(20, b"b"), (10, b"a1"), (30, b"c"), (10, b"a2"), (10, b"a3")]
    for random in (0, 1, 12345, 2**40 + 7):
        ordered = remote.order_mx(records, random)
        assert sorted(ordered) == sorted(records)
        assert [p for p, _ in ordered] == [10, 10, 10, 20, 30]
    firsts = {remote.order_mx(records, r)[0] for r in range(200)}
    assert len(firsts) > 1                      # equals are shuffled


def test_usable_skips_this_machine_and_worse():
    ips = [(10, b"1.1.1.1"), (20, b"127.0.0.1"), (30, b"2.2.2.2")]
    me = {b"127.0.0.1", b"0.0.0.0"}
    assert remote.usable(ips, me, relayed=False) == [b"1.1.1.1"]
    assert remote.usable([(10, b"127.0.0.1"), (20, b"1.1.1.1")], me, False) is None
    assert remote.usable([(0, b"127.0.0.1")], me, relayed=True) == [b"127.0.0.1"]


REPLIES = [
    (b"220 mx ESMTP\r\n", (220, b"220 mx ESMTP\n")),
    (b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n", (250, b"250-mx\n250-PIPELINING\n250 8BITMIME\n")),
    (b"550\n", (550, b"550\n")),
    (b"451-first\r\n250 second\r\n", (451, b"451-first\n250 second\n")),   # the first code counts
]


@pytest.mark.parametrize("wire, expected", REPLIES)
@pytest.mark.parametrize("chunked", [False, True])
def test_reply_reader(wire, expected, chunked):
    reader = ReplyReader()
    got = None
    for piece in ([wire[i:i + 1] for i in range(len(wire))] if chunked else [wire]):
        assert got is None
        reader.feed(piece)
        got = reader.reply()
    assert got == expected


def test_reply_reader_keeps_the_next_reply_and_caps_text():
    reader = ReplyReader()
    reader.feed(b"250 ok\r\n354 go")
    assert reader.reply() == (250, b"250 ok\n")
    assert reader.reply() is None
    reader.feed(b" ahead\r\n")
    assert reader.reply() == (354, b"354 go ahead\n")
    reader.feed(b"250 " + b"x" * 6000 + b"\r\n")
    code, text = reader.reply()
    assert (code, len(text)) == (250, remote.HUGESMTPTEXT)


BLASTS = [
    (b"a\nb\n", b"a\r\nb\r\n.\r\n"),
    (b".\n..x\n", b"..\r\n...x\r\n.\r\n"),
    (b"bare\rcr\ncrlf\r\n.\rdot\nend\n", b"bare\r\ncr\r\ncrlf\r\n..\r\ndot\r\nend\r\n.\r\n"),  # spec, verified
    (b"x\r.\r\n", b"x\r\n..\r\n.\r\n"),          # a bare CR never lets "." end the data
    (b"", b".\r\n"),
    (b"end\r", b"end\r\n.\r\n"),
]


@pytest.mark.parametrize("message, wire", BLASTS)
@pytest.mark.parametrize("chunked", [False, True])
def test_blaster(message, wire, chunked):
    blaster = Blaster()
    pieces = [message[i:i + 1] for i in range(len(message))] if chunked else [message]
    out = b"".join(blaster.feed(p) for p in pieces) + blaster.finish()
    assert out == wire


def test_blaster_refuses_a_partial_final_line():
    blaster = Blaster()
    blaster.feed(b"a\nno newline")
    with pytest.raises(PartialLine):
        blaster.finish()


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 7))
def test_blaster_output_never_has_a_bare_cr_lf_or_an_early_end(message, size):
    blaster = Blaster()
    out = b"".join(blaster.feed(message[i:i + size]) for i in range(0, len(message), size))
    try:
        out += blaster.finish()
    except PartialLine:
        return
    assert out.endswith(b".\r\n")
    body = out[:-3]
    assert b"\r\n.\r\n" not in b"\r\n" + body
    assert body.replace(b"\r\n", b"").count(b"\r") == 0
    assert body.replace(b"\r\n", b"").count(b"\n") == 0


def test_reports():
    ip = b"127.0.0.1"
    assert remote.recipient_report(250, ip, b"250 ok\n") == b"r\0"
    assert remote.recipient_report(550, ip, b"550 no\n") == (
        b"h127.0.0.1 does not like recipient.\nRemote host said: 550 no\n\0")
    assert remote.recipient_report(451, ip, b"451 later\n") == (
        b"s127.0.0.1 does not like recipient.\nRemote host said: 451 later\n\0")
    assert remote.quit_report(remote.ACCEPTED, ip, b"250 ok 1\n") == (
        b"K127.0.0.1 accepted message.\nRemote host said: 250 ok 1\n\0")
    assert remote.quit_report(remote.SENDER_REJECTED_PERM, ip, b"553 go\0away\n") == (
        b"DConnected to 127.0.0.1 but sender was rejected.\nRemote host said: 553 go?away\n\0")
    assert remote.quit_report(remote.GIVING_UP, ip, b"") == b"DGiving up on 127.0.0.1.\n\0"
    assert remote.dropped_report(ip, True) == (
        b"ZConnected to 127.0.0.1 but connection died. Possible duplicate! (#4.4.2)\n\0")
    assert remote.dropped_report(ip, False) == (
        b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0")
    assert remote.PERM_DNS % remote.outsafe(b"a b\x7f") == (
        b"DSorry, I couldn't find any host named a?b?. (#5.1.2)\n")


def test_tcpto_table():
    empty = bytes(1024)
    ip = bytes([10, 0, 0, 1])
    assert remote.tcpto_blocked(empty, ip, 1000, 0) == (False, False)
    assert remote.tcpto_update(empty, ip, False, False, 1000) is None       # success, unknown
    index, record = remote.tcpto_update(empty, ip, True, False, 1000)
    assert (index, record) == (0, ip + b"\x01\0\0\0" + (1000).to_bytes(4, "little") + bytes(4))
    table = record + empty[16:]
    assert remote.tcpto_blocked(table, ip, 1001, 0) == (False, True)        # one error: try
    assert remote.tcpto_update(table, ip, True, True, 1100) is None         # within 120 s
    index, record = remote.tcpto_update(table, ip, True, True, 1200)
    assert record[4] == 2 and remote._when(record) == 1200
    table = record + empty[16:]
    assert remote.tcpto_blocked(table, ip, 1200 + 3839, 0) == (True, True)  # 60 << 6 seconds
    assert remote.tcpto_blocked(table, ip, 1200 + 3840, 0) == (False, True)
    assert remote.tcpto_blocked(table, ip, 1200 + 3840, 31) == (True, True)  # pid & 31 adds
    assert remote.tcpto_update(table, ip, False, True, 5000) == (0, ip + bytes(4) + record[8:])


def test_tcpto_replaces_the_oldest_when_full():
    records = b"".join(bytes([1, 1, 1, i]) + b"\x01\0\0\0" + (5000 - i).to_bytes(4, "little")
                       + bytes(4) for i in range(64))
    index, record = remote.tcpto_update(records, bytes([9, 9, 9, 9]), True, False, 6000)
    assert index == 63 and record[:5] == bytes([9, 9, 9, 9, 1])


def test_tcpto_skips_a_timed_out_host(tmp_path, monkeypatch):
    monkeypatch.setenv("QMAILHOME", str(tmp_path))
    (tmp_path / "queue" / "lock").mkdir(parents=True)
    table = tmp_path / "queue" / "lock" / "tcpto"
    table.write_bytes(bytes(1024))
    t = remote.Tcpto()
    assert not t.blocked(b"10.0.0.1")
    t.record(b"10.0.0.1", True)
    table.write_bytes(table.read_bytes()[:4] + b"\x05" + table.read_bytes()[5:])
    assert t.blocked(b"10.0.0.1")
    t.record(b"10.0.0.1", False)
    assert not t.blocked(b"10.0.0.1")


# ---------------------------------------------------------------- SmtpClient transcripts

from qmail.remote import Finish, Send, SendMessage, SmtpClient  # noqa: E402

IP = b"192.0.2.7"


def converse(server: bytes, recipients=(b"a@x", b"b@y"), bytewise=False, message_ok=True):
    """Feed the server's bytes (whole or one at a time); the client's bytes and its report."""
    client = SmtpClient(IP, b"helo.example", b"s@z", list(recipients))
    sent = bytearray()
    report = None
    pieces = [server[i:i + 1] for i in range(len(server))] if bytewise else [server]
    for piece in pieces + [None]:
        if piece is None:
            client.connection_lost()
        else:
            client.receive_data(piece)
        while effects := client.effects():
            for effect in effects:
                if isinstance(effect, Send):
                    sent += effect.data
                elif isinstance(effect, SendMessage):
                    sent += b"<message>"
                    if message_ok:
                        sent += b".\r\n"
                        client.message_sent()
                    else:
                        client.partial_line()
                else:
                    report = effect.report
        if report is not None:
            return bytes(sent), report
    raise AssertionError("no report")


TRANSCRIPTS = [
    ("accepted",
     b"220 hi\r\n250 hello\r\n250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n250 queued\r\n",
     b"HELO helo.example\r\nMAIL FROM:<s@z>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
     b"<message>.\r\nQUIT\r\n",
     b"r\0h192.0.2.7 does not like recipient.\nRemote host said: 550 no\n\0"
     b"K192.0.2.7 accepted message.\nRemote host said: 250 queued\n\0"),
    ("greeting",
     b"421-busy\r\n421 later\r\n", b"QUIT\r\n",
     b"ZConnected to 192.0.2.7 but greeting failed.\nRemote host said: 421-busy\n421 later\n\0"),
    ("all refused",
     b"220 hi\r\n250 hello\r\n250 ok\r\n450 full\r\n550 no\r\n",
     b"HELO helo.example\r\nMAIL FROM:<s@z>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@y>\r\nQUIT\r\n",
     b"s192.0.2.7 does not like recipient.\nRemote host said: 450 full\n\0"
     b"h192.0.2.7 does not like recipient.\nRemote host said: 550 no\n\0"
     b"DGiving up on 192.0.2.7.\n\0"),
    ("dies after the dot",
     b"220 hi\r\n250 hello\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
     b"HELO helo.example\r\nMAIL FROM:<s@z>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
     b"<message>.\r\n",
     b"r\0r\0ZConnected to 192.0.2.7 but connection died. Possible duplicate! (#4.4.2)\n\0"),
    ("dies before",
     b"220 hi\r\n250 hel", b"HELO helo.example\r\n",
     b"ZConnected to 192.0.2.7 but connection died. (#4.4.2)\n\0"),
]


@pytest.mark.parametrize("name, server, client_bytes, report", TRANSCRIPTS)
@pytest.mark.parametrize("bytewise", [False, True])
def test_smtp_client_transcripts(name, server, client_bytes, report, bytewise):
    assert converse(server, bytewise=bytewise) == (client_bytes, report)


def test_smtp_client_partial_line():
    sent, report = converse(b"220 hi\r\n250 hello\r\n250 ok\r\n250 ok\r\n354 go\r\n",
                            recipients=[b"a@x"], message_ok=False)
    assert report == b"r\0DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\0"
    assert not sent.endswith(b"QUIT\r\n")


def test_smtp_client_quit_write_failure_reports_the_dropped_connection():
    client = SmtpClient(IP, b"h", b"s@z", [b"a@x"])
    client.receive_data(b"554 no\r\n")
    assert client.effects()[0] == Send(b"QUIT\r\n")       # the driver's write fails here
    client.connection_lost()
    assert client.effects() == [Finish(
        b"ZConnected to 192.0.2.7 but connection died. (#4.4.2)\n\0")]
