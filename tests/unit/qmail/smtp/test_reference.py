"""The stock core against a reference model: qmail-smtpd's command loop, addrparse, bmfcheck,
rcpthosts, blast and smtp_data written out byte by byte as the C does them (spec/qmail.md
§1.2, §2.3-§2.10), fed the same random sessions. Replies, what the queue program receives
(message and envelope) and the exit status must be identical, whole and one byte at a time."""
import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from qmail.smtp.address import rcpthosts_allows
from qmail.smtp.effects import SmtpConfig

from unit.qmail.smtp.c_model import addrparse
from unit.qmail.smtp.transcript import NOW, QP, transcript

GREETING = b"mx.example.org"
LOCAL_IPS = {(127, 0, 0, 1), (0, 0, 0, 0)}
RCPTHOSTS = (b"example.org", b".example.net", b"mx.example.org")
BADMAILFROM = (b"@bad.org", b"spam@x.org")
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.@%+/=:-[]"


class Exit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class Reference:
    """qmail-smtpd.c (stock), one byte at a time; queue program: exit 0, reads everything."""

    def __init__(self, data: bytes, remotehost: bytes, databytes: int,
                 relayclient: bytes | None) -> None:
        self.data, self.pos = data, 0
        self.out = bytearray()
        self.messages = []
        self.remotehost, self.databytes, self.relayclient = remotehost, databytes, relayclient
        self.seenmail, self.flagbarf = False, False
        self.mailfrom, self.rcptto = b"", []
        self.helohost = remotehost
        self.fakehelo = None

    def get(self) -> int:
        if self.pos >= len(self.data):
            raise Exit(1)                                   # die_read
        self.pos += 1
        return self.data[self.pos - 1]

    def run(self) -> int:
        self.out += b"220 " + GREETING + b" ESMTP\r\n"
        try:
            while True:
                self.command()
        except Exit as e:
            return e.status

    def command(self) -> None:
        cmd = bytearray()
        while (ch := self.get()) != 10:
            cmd.append(ch)
        if cmd and cmd[-1] == 13:
            del cmd[-1]
        cmd = bytes(cmd).split(b"\0")[0]
        i = cmd.find(b" ")
        i = len(cmd) if i < 0 else i
        j = i
        while cmd[j:j + 1] == b" ":
            j += 1
        verb, arg = cmd[:i].lower(), cmd[j:]
        if verb == b"rcpt":
            self.rcpt(arg)
        elif verb == b"mail":
            self.mail(arg)
        elif verb == b"data":
            self.smtp_data()
        elif verb == b"quit":
            self.out += b"221 " + GREETING + b"\r\n"
            raise Exit(0)
        elif verb in (b"helo", b"ehlo"):
            self.out += (b"250 " + GREETING + b"\r\n" if verb == b"helo" else
                         b"250-" + GREETING + b"\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            self.seenmail = False
            self.helohost = arg
            self.fakehelo = None if arg.lower() == self.remotehost.lower() else arg
        elif verb == b"rset":
            self.seenmail = False
            self.out += b"250 flushed\r\n"
        elif verb == b"help":
            self.out += b"214 notqmail home page: https://notqmail.org\r\n"
        elif verb == b"noop":
            self.out += b"250 ok\r\n"
        elif verb == b"vrfy":
            self.out += b"252 send some mail, i'll try my best\r\n"
        else:
            self.out += b"502 unimplemented (#5.5.1)\r\n"

    @staticmethod
    def scan_ulong(s: bytes, i: int) -> tuple[int, int]:
        start, u = i, 0
        while i < len(s) and 48 <= s[i] <= 57:
            u = u * 10 + s[i] - 48
            i += 1
        return i - start, u

    def ip_scanbracket(self, s: bytes):
        if s[:1] != b"[":
            return 0, None
        i, ip = 1, []
        for part in range(4):
            n, u = self.scan_ulong(s, i)
            if not n:
                return 0, None
            ip.append(u % (1 << 64) % 256)
            i += n
            if part < 3:
                if s[i:i + 1] != b".":
                    return 0, None
                i += 1
        if s[i:i + 1] != b"]":
            return 0, None
        return i + 1, tuple(ip)

    def addrparse(self, arg: bytes) -> bytes | None:
        addr = addrparse(arg)
        at = addr.rfind(b"@")
        if at >= 0 and addr[at + 1:at + 2] == b"[":
            n, ip = self.ip_scanbracket(addr[at + 1:])
            if n and at + 1 + n == len(addr) and ip in LOCAL_IPS:
                addr = addr[:at + 1] + GREETING
        return addr if len(addr) + 1 <= 900 else None

    def mail(self, arg: bytes) -> None:
        addr = self.addrparse(arg)
        if addr is None:
            self.out += b"555 syntax error (#5.5.4)\r\n"
            return
        lower = addr.lower()
        at = lower.rfind(b"@")
        self.flagbarf = lower in BADMAILFROM or (at >= 0 and lower[at:] in BADMAILFROM)
        self.seenmail, self.rcptto, self.mailfrom = True, [], addr
        self.out += b"250 ok\r\n"

    def rcpt(self, arg: bytes) -> None:
        if not self.seenmail:
            self.out += b"503 MAIL first (#5.5.1)\r\n"
            return
        addr = self.addrparse(arg)
        if addr is None:
            self.out += b"555 syntax error (#5.5.4)\r\n"
            return
        if self.flagbarf:
            self.out += b"553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n"
            return
        if self.relayclient is not None:
            addr += self.relayclient
        else:
            at = addr.rfind(b"@")
            if at >= 0:
                host = addr[at + 1:].lower()
                if not any(host[j:] in RCPTHOSTS for j in range(len(host))
                           if j == 0 or host[j] == ord(".")):
                    self.out += (b"553 sorry, that domain isn't in my list of allowed rcpthosts"
                                 b" (#5.7.1)\r\n")
                    return
        self.rcptto.append(addr)
        self.out += b"250 ok\r\n"

    def received(self) -> bytes:
        def safe(s: bytes) -> bytes:
            return bytes(c if c in SAFE else ord("?") for c in s)
        t = time.gmtime(NOW)
        line = b"Received: from " + safe(self.remotehost)
        if self.fakehelo is not None:
            line += b" (HELO " + safe(self.fakehelo) + b")"
        date = "%d %s %d %02d:%02d:%02d -0000\n" % (t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year,
                                                   t.tm_hour, t.tm_min, t.tm_sec)
        return (line + b" (192.0.2.7)\n  by 127.0.0.1 with SMTP; " + date.encode())

    def smtp_data(self) -> None:
        if not self.seenmail:
            self.out += b"503 MAIL first (#5.5.1)\r\n"
            return
        if not self.rcptto:
            self.out += b"503 RCPT first (#5.5.1)\r\n"
            return
        self.seenmail = False
        self.bytestooverflow = self.databytes + 1 if self.databytes else 0
        self.flagerr = False
        self.message = bytearray(self.received())
        self.out += b"354 go ahead\r\n"
        hops = self.blast() >= 100
        if hops:
            self.flagerr = True
        envelope = None
        if not self.flagerr:
            envelope = (b"F" + self.mailfrom + b"\0"
                        + b"".join(b"T" + r + b"\0" for r in self.rcptto) + b"\0")
        self.messages.append((bytes(self.message), envelope))
        if not self.flagerr:
            self.out += b"250 ok %d qp %d\r\n" % (NOW, QP)
        elif hops:
            self.out += b"554 too many hops, this message is looping (#5.4.6)\r\n"
        elif self.databytes and not self.bytestooverflow:
            self.out += b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"
        else:
            self.out += b"451 qq read error (#4.3.0)\r\n"

    def put(self, ch: int) -> None:
        if self.bytestooverflow:
            self.bytestooverflow -= 1
            if not self.bytestooverflow:
                self.flagerr = True
        if not self.flagerr:
            self.message.append(ch)

    def blast(self) -> int:
        state, hops, inheader, pos = 1, 0, True, 0
        maybe_x = maybe_y = maybe_z = True
        while True:
            ch = self.get()
            if inheader:
                if pos < 9:
                    if ch not in (b"delivered"[pos], b"DELIVERED"[pos]):
                        maybe_z = False
                    if maybe_z and pos == 8:
                        hops += 1
                    if pos < 8:
                        if ch not in (b"received"[pos], b"RECEIVED"[pos]):
                            maybe_x = False
                        if maybe_x and pos == 7:
                            hops += 1
                    if pos < 2:
                        if ch != b"\r\n"[pos]:
                            maybe_y = False
                        if maybe_y and pos == 1:
                            inheader = False
                    pos += 1
                if ch == 10:
                    pos, maybe_x, maybe_y, maybe_z = 0, True, True, True
            if state in (0, 1, 2) and ch == 10:
                self.out += b"451 See https://cr.yp.to/docs/smtplf.html.\r\n"
                raise Exit(1)
            if state == 0:
                if ch == 13:
                    state = 4
                    continue
            elif state == 1:
                if ch == 46:
                    state = 2
                    continue
                if ch == 13:
                    state = 4
                    continue
                state = 0
            elif state == 2:
                if ch == 13:
                    state = 3
                    continue
                state = 0
            elif state == 3:
                if ch == 10:
                    return hops
                self.put(46)
                self.put(13)
                if ch == 13:
                    state = 4
                    continue
                state = 0
            elif state == 4:
                if ch == 10:
                    state = 1
                elif ch != 13:
                    self.put(13)
                    state = 0
            self.put(ch)


COMMANDS = [
    b"MAIL FROM:<a@b>\r\n", b"MAIL FROM:<u@BAD.org>\r\n", b"mail from:<>\r\n",
    b"MAIL FROM:<x@[127.0.0.1]>\r\n", b"MAIL FROM:<spam@x.org> SIZE=5\r\n",
    b"MAIL FROM:<" + b"l" * 899 + b">\r\n", b"MAIL FROM:<" + b"l" * 900 + b">\r\n",
    b"MAIL FROM:<" + b"l" * 887 + b"@[127.0.0.1]>\r\n", b"MAIL FROM:a@b c\r\n", b"MAIL\r\n",
    b"RCPT TO:<c@example.org>\r\n", b"RCPT TO:<c@d>\r\n", b"RCPT TO:<u@a.example.net>\r\n",
    b"rcpt to:<@r:v@[0.0.0.0]>\r\n", b'RCPT TO:<"q x"@d>\r\n', b"RCPT postmaster\r\n",
    b"RCPT TO:<z@[127.0.0.1]x>\r\n", b"RCPT TO:<z@[127.0.0.1>\r\n", b"RCPT TO:<z@[10.0.0.1]>\r\n",
    b"RCPT TO:<" + b"l" * 900 + b">\r\n", b"RCPT TO:<" + b"l" * 885 + b"@example.org>\r\n",
    b"RCPT TO:<a@example.org.>\r\n", b"RCPT TO:<a@EXAMPLE.net>\r\n",
    b"RCPT TO:<a@x@example.org>\r\n",
    b"DATA\r\n", b"DATA\n", b"data x\r\n", b"HELO client.example\r\n", b"EHLO other\r\n",
    b"HELO\r\n", b"ehlo CLIENT.EXAMPLE\r\r\n", b"RSET\r\n", b"NOOP\0x\r\n", b"VRFY\r\n",
    b"HELP\r\n", b"QUIT\r\n", b"FOO\r\n", b" NOOP\r\n", b"\r\n", b"\n", b"NOOP", b"\r",
]
BODY = [
    b".\r\n", b"..\r\n", b".x\r\n", b".\r", b"\r\n", b"\r", b"\n", b".", b"x", b"\0", b"\xff",
    b"Received: x\r\n", b"Delivered-To: y\r\n", b"RECEIVED", b"deliveredX", b"0123456789",
    b"\r\n.\r\n", b".\rX\r\n", b"\r\r\n",
]
command = st.sampled_from(COMMANDS)
hops = st.tuples(st.sampled_from([b"Received: x\r\n", b"delivered\r\n"]),
                 st.integers(95, 101)).map(lambda t: t[0] * t[1])
body = st.lists(st.one_of(st.sampled_from(BODY), hops, st.binary(max_size=3)),
                max_size=12).map(b"".join)
transaction = st.tuples(st.lists(command, max_size=4).map(b"".join), body,
                        st.sampled_from([b"\r\n.\r\n", b".\r\n", b"", b"\n.\r\n"])).map(
    lambda t: b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n" + t[0] + b"DATA\r\n" + t[1] + t[2])
session = st.lists(st.one_of(command, transaction, st.binary(max_size=4)),
                   max_size=12).map(b"".join)


def config(remotehost: bytes, databytes: int, relayclient: bytes | None) -> SmtpConfig:
    return SmtpConfig(greeting=GREETING, local=b"127.0.0.1", remoteip=b"192.0.2.7",
                      remotehost=remotehost, databytes=databytes, relayclient=relayclient,
                      badmailfrom=frozenset(BADMAILFROM), localiphost=GREETING,
                      is_local_ip=lambda ip: tuple(ip) in LOCAL_IPS,
                      rcpt_allowed=lambda a: rcpthosts_allows(a, frozenset(RCPTHOSTS)))


@settings(max_examples=300, deadline=None)
@example(b"ehlo CLIENT.EXAMPLE\r\r\nHELO client.example\r\nMAIL FROM:<a@b>\r\n"
         b"RCPT TO:<c@example.org>\r\nDATA\r\nx\r\n.\r\n", b"client.example", 0, None)
@example(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + b"Received: x\r\n" * 100
         + b"y\r\n.\r\nQUIT\r\n", b"unknown", 20, b"")
@given(session, st.sampled_from([b"unknown", b"client.example"]),
       st.sampled_from([0, 0, 3, 20, 200]), st.sampled_from([None, None, b"", b"@relay.x"]))
def test_core_is_the_reference(data, remotehost, databytes, relayclient):
    ref = Reference(data, remotehost, databytes, relayclient)
    status = ref.run()
    conf = config(remotehost, databytes, relayclient)
    for bytewise in (False, True):
        t = transcript(data, bytewise, conf)
        assert t.out == bytes(ref.out)
        assert t.messages == ref.messages
        assert t.status == status
