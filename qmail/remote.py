"""qmail-remote host sender recip [recip ...]: send the message on fd 0 by SMTP
(spec/qmail.md §9.4).

Routing: control/smtproutes (`domain:relay[:port]`, `.suffix:relay`, `:relay`; empty relay = MX),
else the MX records of host (no MX -> its A records), lowest preference first, skipping this
machine and everything of equal or worse preference. IPv4 only, HELO only, as the C.
Controls: helohost (default me; neither -> temporary failure), timeoutconnect (60),
timeoutremote (1200), smtproutes; queue/lock/tcpto remembers hosts that timed out (skipped
for about an hour after two timeouts). DNS: dnspython with /etc/resolv.conf;
$QMAILREMOTE_DNS_SERVER=ip[:port] replaces the name servers (for tests only).
stdout: one report per recipient (`r`, or `h`/`s` + text: refused permanently/temporarily),
then one message report (`K` delivered, `Z` temporary, `D` permanent failure + text), each
ending in NUL, as qmail-rspawn reads them. Exit 0 always.
"""
import _socket as socket    # the socket module imports enum and selectors: 5 ms per delivery
import errno
import os
import sys
import time

from qmail import control
from qmail.quote import quote

HUGESMTPTEXT = 5000
PORT_SMTP = 25

# spec/qmail.md §9.4; qmail-remote's texts, each followed by NUL
TEMP_NOMEM = b"ZOut of memory. (#4.3.0)\n"
TEMP_OSERR = b"ZSystem resources temporarily unavailable. (#4.3.0)\n"
TEMP_NOCONN = b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"
TEMP_READ = b"ZUnable to read message. (#4.3.0)\n"
TEMP_DNS = b"ZSorry, I couldn't find any host by that name. (#4.1.2)\n"
TEMP_CHDIR = b"ZUnable to switch to home directory. (#4.3.0)\n"
TEMP_CONTROL = b"ZUnable to read control files. (#4.3.0)\n"
PERM_PARTIALLINE = b"DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n"
PERM_USAGE = b"DI (qmail-remote) was invoked improperly. (#5.3.5)\n"
PERM_DNS = b"DSorry, I couldn't find any host named %s. (#5.1.2)\n"
PERM_NOMX = b"DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n"
PERM_AMBIGMX = (b"DSorry. Although I'm listed as a best-preference MX or A for that host,\n"
                b"it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n")
DROPPED = b"ZConnected to %s but connection died. %s(#4.4.2)\n"
POSSIBLE_DUPLICATE = b"Possible duplicate! "
REMOTE_SAID = b"Remote host said: "
DOES_NOT_LIKE = b" does not like recipient.\n"

# (letter, text after the IP) of quit() at each step of the dialogue
GREETING_FAILED = (b"ZConnected to ", b" but greeting failed")
HELO_REJECTED = (b"ZConnected to ", b" but my name was rejected")
SENDER_REJECTED_PERM = (b"DConnected to ", b" but sender was rejected")
SENDER_REJECTED_TEMP = (b"ZConnected to ", b" but sender was rejected")
GIVING_UP = (b"DGiving up on ", b"")
DATA_FAILED_PERM = (b"D", b" failed on DATA command")
DATA_FAILED_TEMP = (b"Z", b" failed on DATA command")
AFTER_DATA_PERM = (b"D", b" failed after I sent the message")
AFTER_DATA_TEMP = (b"Z", b" failed after I sent the message")
ACCEPTED = (b"K", b" accepted message")

DNS_OK, DNS_SOFT, DNS_HARD = 0, -1, -2


# ---------------------------------------------------------------- pure parts

def outsafe(text: bytes) -> bytes:
    return bytes(ch if 33 <= ch <= 126 else 63 for ch in text)


def remote_said(text: bytes) -> bytes:
    return REMOTE_SAID + text.replace(b"\0", b"?") if text else b""


def recipient_report(code: int, ip: bytes, text: bytes) -> bytes:
    """`r` NUL for an accepted recipient, `h`/`s` + IP + text + NUL for a refused one."""
    if code >= 500:
        return b"h" + ip + DOES_NOT_LIKE + remote_said(text) + b"\0"
    if code >= 400:
        return b"s" + ip + DOES_NOT_LIKE + remote_said(text) + b"\0"
    return b"r\0"


def quit_report(step: tuple[bytes, bytes], ip: bytes, text: bytes) -> bytes:
    prepend, append = step
    return prepend + ip + append + b".\n" + remote_said(text) + b"\0"


def dropped_report(ip: bytes, critical: bool) -> bytes:
    return DROPPED % (ip, POSSIBLE_DUPLICATE if critical else b"") + b"\0"


def route(host: bytes, routes: dict[bytes, bytes]) -> tuple[bytes | None, int]:
    """smtproutes: (relay or None for MX, port). Exact host, then `.suffix` keys from the
    longest, then the empty key; an empty relay means "use MX" (spec/qmail.md §13)."""
    key = host.lower()
    relay = None
    for i in range(len(key) + 1):
        if i == 0 or i == len(key) or key[i:i + 1] == b".":
            relay = routes.get(key[i:])
            if relay is not None:
                break
    if not relay:
        return None, PORT_SMTP
    name, colon, port = relay.partition(b":")
    if not colon:
        return relay, PORT_SMTP
    digits = len(port) - len(port.lstrip(b"0123456789"))
    return name, int(port[:digits] or b"0")


def ip_literal(host: bytes) -> bytes | None:
    """`1.2.3.4` or `[1.2.3.4]` -> b"1.2.3.4" (qmail's ip_scan/ip_scanbracket), else None."""
    inner = host[1:-1] if host.startswith(b"[") and host.endswith(b"]") else host
    parts = inner.split(b".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) < 256 for p in parts):
        return None
    return b".".join(b"%d" % int(p) for p in parts)


def mangle(address: bytes) -> bytes:
    """addrmangle(): the box quoted as needed, the domain kept (no CNAME rewriting, notqmail)."""
    at = address.rfind(b"@")
    if at == -1:
        return address
    return quote(address[:at]) + address[at:]


def order_mx(records: list[tuple[int, bytes]], random: int) -> list[tuple[int, bytes]]:
    """MX records lowest preference first, random among equals (dns.c's dns_mxip)."""
    mx = list(records)
    result = []
    mask = (1 << 64) - 1
    while mx:
        i = 0
        numsame = 1
        for j in range(1, len(mx)):
            if mx[j][0] < mx[i][0]:
                i, numsame = j, 1
            elif mx[j][0] == mx[i][0]:
                numsame += 1
                random = (random * 69069 + 1) & mask
                if random // 2 < 2147483647 // numsame:
                    i = j
        result.append(mx[i])
        mx[i] = mx[-1]
        mx.pop()
    return result


def usable(ips: list[tuple[int, bytes]], me: set[bytes], relayed: bool) -> list[bytes] | None:
    """The IPs to try, in order: those preferred over this machine's own MX entry (all of
    them for a relay). None: this machine is a best-preference MX (perm_ambigmx)."""
    prefme = 100000
    for pref, ip in ips:
        if ip in me and pref < prefme:
            prefme = pref
    if relayed:
        prefme = 300000
    chosen = [ip for pref, ip in ips if pref < prefme]
    return chosen or None


class ReplyReader:
    """SMTP replies as qmail-remote's smtpcode() reads them: the code is the first line's
    first three bytes, continuation lines follow `NNN-`; the text is every byte but CR, up to
    5000 bytes."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self._reset()

    def _reset(self) -> None:
        self.code = 0
        self.text = bytearray()
        # 0..2: code bytes; 3: the fourth byte; 4: skip to LF, then a continuation line;
        # 5: skip to the LF that ends the reply
        self._state = 0
        self._first = True

    def feed(self, data: bytes) -> None:
        self.pending += data

    def reply(self) -> tuple[int, bytes] | None:
        """The next complete reply from the bytes fed so far, or None if more are needed."""
        used = 0
        for ch in self.pending:
            used += 1
            if ch != 13 and len(self.text) < HUGESMTPTEXT:
                self.text.append(ch)
            state = self._state
            if state < 3:
                if self._first:
                    self.code = self.code * 10 + (ch - 48)
                self._state += 1
            elif state == 3:
                if ch == 45:                 # "-"
                    self._state = 4
                elif ch == 10:
                    return self._done(used)
                else:
                    self._state = 5
            elif ch == 10:
                if state == 4:
                    self._state, self._first = 0, False
                else:
                    return self._done(used)
        del self.pending[:used]
        return None

    def _done(self, used: int) -> tuple[int, bytes]:
        del self.pending[:used]
        code = self.code if self.code >= 0 else self.code + (1 << 64)
        result = (code, bytes(self.text))
        self._reset()
        return result


class PartialLine(Exception):
    pass


class Blaster:
    """The message as DATA: LF and CR LF and bare CR each end a line (sent as CR LF), lines
    starting with `.` get another; a final line without LF is refused (spec/qmail.md §9.4)."""

    def __init__(self) -> None:
        self._bol = True
        self._cr = False

    def feed(self, data: bytes) -> bytes:
        if self._cr:
            data = b"\r" + data
            self._cr = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self._cr = True
        if not data:
            return b""
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._bol and data.startswith(b"."):
            data = b"." + data
        self._bol = data.endswith(b"\n")
        return data.replace(b"\n.", b"\n..").replace(b"\n", b"\r\n")

    def finish(self) -> bytes:
        out = b""
        if self._cr:
            out, self._cr, self._bol = b"\r\n", False, True
        if not self._bol:
            raise PartialLine()
        return out + b".\r\n"


# ---------------------------------------------------------------- lock/tcpto (tcpto.c)
# 64 records of 16 bytes: IPv4 address (0-3), error count (4), time of the last error as a
# little-endian 32-bit number (8-11). A host with 2+ errors is skipped for 64 to 95 minutes.

def _when(record: bytes | bytearray) -> int:
    return int.from_bytes(record[8:12], "little")


def tcpto_blocked(buf: bytes, ip: bytes, now: int, pid: int) -> tuple[bool, bool]:
    """(skip this IP now?, is it in the table?) for a 4-byte IP."""
    for i in range(len(buf) >> 4):
        record = buf[i << 4:(i + 1) << 4]
        if record[:4] == ip:
            if record[4] >= 2 and now - _when(record) < ((60 + (pid & 31)) << 6):
                return True, True
            return False, True
    return False, False


def tcpto_update(buf: bytes, ip: bytes, error: bool, wasthere: bool, now: int
                 ) -> tuple[int, bytes] | None:
    """tcpto_err(): (record number, new 16 bytes) to write after a connection attempt."""
    n = len(buf) >> 4
    if not error and not wasthere:
        return None
    records = [bytearray(buf[i << 4:(i + 1) << 4]) for i in range(n)]
    for i, record in enumerate(records):
        if record[:4] == ip:
            if not error:
                record[4] = 0
            else:
                if record[4] and now < 120 + _when(record):
                    return None
                record[4] = min(record[4] + 1, 10)
                record[8:12] = (now & 0xFFFFFFFF).to_bytes(4, "little")
            return i, bytes(record)
    if not error or not n:
        return None
    free = next((i for i, record in enumerate(records) if not record[4]), None)
    if free is None:
        free = min(range(n), key=lambda i: (_when(records[i]) + (records[i][4] << 10), i))
    record = records[free]
    record[:4] = ip
    record[8:12] = (now & 0xFFFFFFFF).to_bytes(4, "little")
    record[4] = 1
    return free, bytes(record)


class Tcpto:
    """queue/lock/tcpto, locked while read or written; any trouble disables it (as the C)."""

    def __init__(self) -> None:
        self.path = control.home_path("queue", "lock", "tcpto")
        self.wasthere = False

    def _open(self) -> tuple[int, bytes] | None:
        import fcntl
        try:
            lock = os.open(self.path, os.O_WRONLY)
        except OSError:
            return None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with open(self.path, "rb") as f:
                buf = f.read(1024)
        except OSError:
            os.close(lock)
            return None
        if len(buf) < 16:
            os.close(lock)
            return None
        return lock, buf[:len(buf) & ~15]

    def blocked(self, ip: bytes) -> bool:
        self.wasthere = False
        opened = self._open()
        if opened is None:
            return False
        lock, buf = opened
        os.close(lock)
        skip, self.wasthere = tcpto_blocked(buf, socket.inet_aton(ip.decode()), int(time.time()),
                                            os.getpid())
        return skip

    def record(self, ip: bytes, error: bool) -> None:
        if not error and not self.wasthere:
            return
        opened = self._open()
        if opened is None:
            return
        lock, buf = opened
        try:
            change = tcpto_update(buf, socket.inet_aton(ip.decode()), error, self.wasthere,
                                  int(time.time()))
            if change is not None:
                os.pwrite(lock, change[1], change[0] << 4)
        except OSError:
            pass
        finally:
            os.close(lock)


# ---------------------------------------------------------------- DNS (dnspython) and ipme

def _resolver():
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver()        # /etc/resolv.conf
    except dns.resolver.NoResolverConfiguration:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]      # what libc's resolver does without one
    server = os.environ.get("QMAILREMOTE_DNS_SERVER")
    if server:                                    # tests only: ip[:port]
        ip, _, port = server.partition(":")
        resolver.nameservers = [ip]
        resolver.port = int(port or 53)
    return resolver


def _lookup(resolver, name: bytes, rdtype: str) -> tuple[int, list]:
    import dns.exception
    import dns.name
    import dns.resolver

    try:
        qname = dns.name.from_text(name.decode("latin-1"))
        answer = resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return DNS_HARD, []
    except (dns.name.EmptyLabel, dns.name.LabelTooLong, dns.name.NameTooLong,
            dns.name.BadEscape, UnicodeError):
        return DNS_HARD, []
    except dns.exception.DNSException:
        return DNS_SOFT, []
    return DNS_OK, list(answer.rrset) if answer.rrset is not None else []


def dns_ip(resolver, host: bytes, pref: int = 0) -> tuple[int, list[tuple[int, bytes]]]:
    literal = ip_literal(host)
    if literal is not None:
        return DNS_OK, [(pref, literal)]
    status, records = _lookup(resolver, host, "A")
    return status, [(pref, r.address.encode()) for r in records]


def dns_mxip(resolver, host: bytes, random: int) -> tuple[int, list[tuple[int, bytes]]]:
    literal = ip_literal(host)
    if literal is not None:
        return DNS_OK, [(0, literal)]
    status, records = _lookup(resolver, host, "MX")
    if status == DNS_SOFT:
        return DNS_SOFT, []
    if status == DNS_HARD or not records:
        return dns_ip(resolver, host)             # no MX -> the host's own A records
    mx = [(r.preference, r.exchange.to_text(omit_final_dot=True).encode()) for r in records]
    soft = False
    ips: list[tuple[int, bytes]] = []
    for pref, name in order_mx(mx, random):
        status, found = dns_ip(resolver, name, pref)
        if status == DNS_SOFT:
            soft = True
        ips += found
    return (1 if soft else DNS_OK), ips


def ipme() -> set[bytes]:
    """This machine's IPv4 addresses (SIOCGIFCONF), plus 0.0.0.0 (qmail's ipme)."""
    import array
    import fcntl
    import struct

    me = {b"0.0.0.0", b"127.0.0.1"}
    size = 40                                     # struct ifreq on 64-bit Linux
    buf = array.array("B", bytes(size * 256))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        addr, _ = buf.buffer_info()
        ifconf = struct.pack("iL", len(buf), addr)
        length = struct.unpack("iL", fcntl.ioctl(s.fileno(), 0x8912, ifconf))[0]
    finally:
        s.close()
    data = buf.tobytes()[:length]
    for i in range(0, length, size):
        me.add(socket.inet_ntoa(data[i + 20:i + 24]).encode())
    return me


# ---------------------------------------------------------------- the SMTP dialogue (sans I/O)
# States: GREETING -> HELO -> MAIL -> RCPT (one reply per recipient) -> DATA -> MESSAGE (the
# driver streams the message, then calls message_sent) -> DOT -> DONE. Every end is a
# Finish(report); ends after a reply first Send QUIT, as quit() does.

GREETING, HELO, MAIL, RCPT, DATA, MESSAGE, DOT, DONE = range(8)


class Send:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other) -> bool:
        return isinstance(other, Send) and other.data == self.data

    def __repr__(self) -> str:
        return f"Send({self.data!r})"


class SendMessage:
    """Stream the message now (Blaster), then call message_sent()."""
    __slots__ = ()

    def __eq__(self, other) -> bool:
        return isinstance(other, SendMessage)

    def __repr__(self) -> str:
        return "SendMessage()"


class Finish:
    """The whole report for stdout; the session is over."""
    __slots__ = ("report",)

    def __init__(self, report: bytes) -> None:
        self.report = report

    def __eq__(self, other) -> bool:
        return isinstance(other, Finish) and other.report == self.report

    def __repr__(self) -> str:
        return f"Finish({self.report!r})"


class SmtpClient:
    """qmail-remote's smtp(): replies in, commands and the report out. Plain classes, no
    dataclasses: qmail-remote starts once per delivery."""

    def __init__(self, ip: bytes, helohost: bytes, sender: bytes, recipients: list[bytes]) -> None:
        self.ip, self.helohost, self.sender = ip, helohost, sender
        self.recipients = recipients
        self.reader = ReplyReader()
        self.state = GREETING
        self.critical = False
        self.bother = False
        self.index = 0
        self.report = bytearray()
        self._effects: list = []

    def effects(self) -> list:
        out, self._effects = self._effects, []
        return out

    def receive_data(self, data: bytes) -> None:
        self.reader.feed(data)
        while self.state not in (DONE, MESSAGE):     # replies after DATA wait for the message
            reply = self.reader.reply()
            if reply is None:
                return
            self._reply(*reply)

    def connection_lost(self) -> None:
        """EOF, a read/write error or a timeout on the connection: replaces whatever was still
        to be done (a failed QUIT write too reports the dropped connection, as in the C)."""
        self.state = DONE
        self._effects = [Finish(bytes(self.report) + dropped_report(self.ip, self.critical))]

    def message_sent(self) -> None:
        self.critical = True
        self.state = DOT
        self.receive_data(b"")

    def partial_line(self) -> None:
        self._finish(PERM_PARTIALLINE + b"\0")

    def read_error(self) -> None:
        self._finish(TEMP_READ + b"\0")

    def _finish(self, text: bytes) -> None:
        self.state = DONE
        self._effects.append(Finish(bytes(self.report) + text))

    def _quit(self, step: tuple[bytes, bytes], text: bytes) -> None:
        self._effects.append(Send(b"QUIT\r\n"))
        self._finish(quit_report(step, self.ip, text))

    def _send(self, data: bytes, state: int) -> None:
        self._effects.append(Send(data))
        self.state = state

    def _reply(self, code: int, text: bytes) -> None:
        state = self.state
        if state == GREETING:
            if code != 220:
                return self._quit(GREETING_FAILED, text)
            self._send(b"HELO " + self.helohost + b"\r\n", HELO)
        elif state == HELO:
            if code != 250:
                return self._quit(HELO_REJECTED, text)
            self._send(b"MAIL FROM:<" + self.sender + b">\r\n", MAIL)
        elif state == MAIL:
            if code >= 500:
                return self._quit(SENDER_REJECTED_PERM, text)
            if code >= 400:
                return self._quit(SENDER_REJECTED_TEMP, text)
            self._next_rcpt()
        elif state == RCPT:
            self.report += recipient_report(code, self.ip, text)
            if code < 400:
                self.bother = True
            self.index += 1
            self._next_rcpt()
        elif state == DATA:
            if code >= 500:
                return self._quit(DATA_FAILED_PERM, text)
            if code >= 400:
                return self._quit(DATA_FAILED_TEMP, text)
            self.state = MESSAGE
            self._effects.append(SendMessage())
        elif state == DOT:
            self.critical = False
            if code >= 500:
                return self._quit(AFTER_DATA_PERM, text)
            if code >= 400:
                return self._quit(AFTER_DATA_TEMP, text)
            self._quit(ACCEPTED, text)

    def _next_rcpt(self) -> None:
        if self.index < len(self.recipients):
            self._send(b"RCPT TO:<" + self.recipients[self.index] + b">\r\n", RCPT)
        elif not self.bother:
            self._quit(GIVING_UP, b"")        # the refusals' texts went into their reports
        else:
            self._send(b"DATA\r\n", DATA)


def converse(client: SmtpClient, sock, fd: int = 0) -> bytes:
    """The driver: the core's effects on the socket until it finishes; the report."""
    while True:
        for effect in client.effects():
            if isinstance(effect, Finish):
                return effect.report
            try:
                if isinstance(effect, Send):
                    sock.sendall(effect.data)
                else:
                    stream_message(client, sock, fd)
            except OSError:
                client.connection_lost()
                break                          # the rest of this batch is void
        if client.state == DONE:
            continue
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if data:
            client.receive_data(data)
        else:
            client.connection_lost()


def stream_message(client: SmtpClient, sock, fd: int) -> None:
    """blast(): the message from fd as DATA; socket errors propagate to converse()."""
    blaster = Blaster()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            client.read_error()
            return
        if not data:
            break
        out = blaster.feed(data)
        if out:
            sock.sendall(out)
    try:
        end = blaster.finish()
    except PartialLine:
        client.partial_line()
        return
    client.message_sent()
    sock.sendall(end)


def connect(ip: bytes, port: int, timeout: int, tcpto: Tcpto):
    """A connected socket, or None; timeouts are remembered in lock/tcpto."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((ip.decode(), port))
    except OSError as e:
        sock.close()
        tcpto.record(ip, isinstance(e, TimeoutError) or e.errno == errno.ETIMEDOUT)
        return None
    tcpto.record(ip, False)
    return sock


def deliver(args: list[bytes]) -> bytes:
    """The whole report for qmail-remote HOST SENDER RECIP..."""
    if len(args) < 3:
        return PERM_USAGE + b"\0"
    home = control.qmail_home()
    if not os.path.isdir(home):
        return TEMP_CHDIR + b"\0"
    try:
        timeout = control.read_int("timeoutremote", 1200)
        timeoutconnect = control.read_int("timeoutconnect", 60)
        helohost = control.read_line_or_me("helohost")
        routes = control.read_map("smtproutes") or {}
    except control.ControlError:
        return TEMP_CONTROL + b"\0"
    if helohost is None:
        return TEMP_CONTROL + b"\0"

    host, sender, recipients = args[0], mangle(args[1]), [mangle(r) for r in args[2:]]
    relay, port = route(host, routes)
    if relay is not None:
        host = relay
    literal = ip_literal(host)
    if literal is not None:
        status, ips = DNS_OK, [(0, literal)]
    else:
        resolver = _resolver()
        if relay is not None:
            status, ips = dns_ip(resolver, host)
        else:
            status, ips = dns_mxip(resolver, host, int(time.time()) + (os.getpid() << 16))
    if status == DNS_SOFT:
        return TEMP_DNS + b"\0"
    if status == DNS_HARD:
        return PERM_DNS % outsafe(host) + b"\0"
    if status == 1 and not ips:
        return TEMP_DNS + b"\0"
    if not ips:
        return PERM_NOMX + b"\0"
    try:
        me = ipme() if relay is None else set()
    except OSError:
        return TEMP_OSERR + b"\0"
    chosen = usable(ips, me, relay is not None)
    if chosen is None:
        return PERM_AMBIGMX + b"\0"
    tcpto = Tcpto()
    for ip in chosen:
        if tcpto.blocked(ip):
            continue
        sock = connect(ip, port, timeoutconnect, tcpto)
        if sock is None:
            continue
        sock.settimeout(timeout)
        try:
            return converse(SmtpClient(ip, helohost, sender, recipients), sock)
        finally:
            sock.close()
    return TEMP_NOCONN + b"\0"


# a bug here must not bounce mail: qmail-rspawn reads any exit but 0 as a permanent failure
INTERNAL = b"Zqmail-remote: internal error (%s). (#4.3.0)\n\0"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        report = deliver([os.fsencode(a) for a in args])
    except Exception as e:                        # noqa: BLE001
        report = INTERNAL % type(e).__name__.encode()
    try:
        view = memoryview(report)
        while view:
            view = view[os.write(1, view):]
    except OSError:
        pass
    return 0
