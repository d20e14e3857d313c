"""DNS lookups with the djbdns client semantics ucspi-tcp 0.88 is built on (spec/ucspi-tcp.md §1.11).

The wire protocol (queries, replies, record types) is dnspython's; what this module adds is
the visible behaviour of djb's client library, which the C programs show and users rely on:

- Servers: `$DNSCACHEIP` (dotted quads, parsed as djb's ip4_scan does) else the `nameserver`
  lines of /etc/resolv.conf, else 127.0.0.1. Never /etc/hosts, nsswitch or a cache.
- Schedule: UDP to each server in turn with timeouts of 3, 11 and 45 s (djb's recursive
  schedule); SERVFAIL/REFUSED or an ICMP "connection refused" moves on at once except in the
  11 s round, where it waits the round out. So an unreachable resolver (nothing on port 53)
  costs about 11 s and a silent one about 59 s (§1.11, §4.13). A truncated reply switches
  to TCP (10 s per server).
- Results: a reply (even NXDOMAIN) is an answer, possibly empty; only a lookup that got no
  usable reply fails, with `DnsError` (the C functions' -1, a temporary failure).
- Names as text the way tcpserver puts them in TCPREMOTEHOST/TCPLOCALHOST, rule keys and
  logs: ASCII lowercased, labels joined by `.`, no trailing dot (the root is `.`), every
  byte other than `a-z 0-9 - _` written as `\\ooo` (three octal digits).

API (bytes for names, `str` dotted quads for addresses; every lookup may block for the
times above, so run it where a slow answer delays only its own connection):

    name4(ip) -> bytes                    PTR text; b"" when there is none      (dns_name4)
    ip4(name) -> list[str]                A records, random order; literal IPs  (dns_ip4)
    ip4_qualify(name) -> (list[str], fqdn)  with resolv.conf search/LOCALDOMAIN (dns_ip4_qualify)
    txt(name) -> bytes                    all TXT strings joined, odd bytes `?` (dns_txt)
    local_host(ip) -> bytes | None        TCPLOCALHOST when there is no -l (None: unset)
    remote_host(ip, paranoid) -> bytes | None   TCPREMOTEHOST for -h, with -p (None: unset)
    paranoid_ok(name, ip) -> bool         -p: does an A record of NAME equal IP?
    preload()                             import dnspython now (a server calls it before forking)

Importing this module is cheap; dnspython (about 30 ms of imports) is loaded on the first
lookup, or by preload(). The pure text functions (domain_todot, domain_fromdot, ip4_scan,
parse_dnscacheip, parse_resolv_conf, rewrite_rules, qualify) need no dnspython at all.
"""
import errno as _errno
import os
import time

__all__ = [
    "DnsError", "name4", "ip4", "ip4_qualify", "txt", "local_host", "remote_host",
    "paranoid_ok", "preload", "servers", "domain_todot", "domain_fromdot", "ip4_scan",
    "parse_dnscacheip", "parse_resolv_conf", "rewrite_rules", "qualify", "reverse_labels",
]

UDP_TIMEOUTS = (1, 3, 11, 45)   # djb's table; a recursive query starts at index 1
FIRST_UDP_ROUND = 1
PATIENT_ROUND = 2               # in this round a failure reply does not skip the server
TCP_TIMEOUT = 10
MAX_SERVERS = 16
CONFIG_LIFETIME = 600           # seconds a parsed server list / rewrite rule set is reused
CONFIG_USES = 10000

_T_A, _T_PTR, _T_TXT = 1, 12, 16
_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_")


class DnsError(Exception):
    """The lookup failed (no usable reply from any server): a temporary failure.

    `errno` is what the C library leaves in errno (ETIMEDOUT, ECONNREFUSED, EAGAIN for
    SERVFAIL, EPROTO for an unparsable name or packet, ...) for messages such as
    tcpclient's `temporarily unable to figure out IP address for NAME: ERR`.
    """

    def __init__(self, err: int) -> None:
        super().__init__(err, os.strerror(err))
        self.errno = err


# ---------------------------------------------------------------- pure text functions

def domain_todot(labels) -> bytes:
    """Labels (bytes, without the empty root label) as djb's dns_domain_todot_cat text."""
    if not labels:
        return b"."
    out = []
    for label in labels:
        text = bytearray()
        for ch in label:
            if 65 <= ch <= 90:
                ch += 32
            if ch in _SAFE:
                text.append(ch)
            else:
                text += b"\\%03o" % ch
        out.append(bytes(text))
    return b".".join(out)


def domain_fromdot(text: bytes) -> tuple[bytes, ...]:
    """djb's dns_domain_fromdot: `\\ooo` and `\\c` escapes, empty labels skipped.

    Raises DnsError(EPROTO) for a label over 63 bytes or a name over 255 (as the C does).
    """
    labels: list[bytes] = []
    label = bytearray()
    namelen = 0
    i, n = 0, len(text)

    def close_label() -> None:
        nonlocal namelen
        if label:
            namelen += len(label) + 1
            if namelen > 254:
                raise DnsError(_errno.EPROTO)
            labels.append(bytes(label))
            label.clear()

    while i < n:
        ch = text[i]
        i += 1
        if ch == 0x2E:
            close_label()
            continue
        if ch == 0x5C:
            if i >= n:
                break
            ch = text[i]
            i += 1
            if 0x30 <= ch <= 0x37:
                ch -= 0x30
                for _ in range(2):
                    if i < n and 0x30 <= text[i] <= 0x37:
                        ch = ((ch << 3) + text[i] - 0x30) & 0xFF
                        i += 1
                    else:
                        break
        if len(label) >= 63:
            raise DnsError(_errno.EPROTO)
        label.append(ch)
    close_label()
    return tuple(labels)


def _scan_ulong(s: bytes, pos: int) -> tuple[int, int]:
    """djb's scan_ulong from pos: (value, digits read)."""
    end = pos
    while end < len(s) and 0x30 <= s[end] <= 0x39:
        end += 1
    return (int(s[pos:end]) if end > pos else 0), end - pos


def ip4_scan(s: bytes, pos: int = 0) -> tuple[str, int]:
    """djb's ip4_scan: (dotted quad, bytes consumed); consumed is 0 when there is none.

    Each part is leading decimal digits, taken modulo 256 as the C stores them in a char.
    """
    parts = []
    start = pos
    for k in range(4):
        value, digits = _scan_ulong(s, pos)
        if not digits:
            return "", 0
        parts.append(value & 0xFF)
        pos += digits
        if k < 3:
            if pos >= len(s) or s[pos] != 0x2E:
                return "", 0
            pos += 1
    return "%d.%d.%d.%d" % tuple(parts), pos - start


def parse_dnscacheip(value: bytes) -> list[str]:
    """$DNSCACHEIP as djb reads it: quads separated by dots only, at most 16, stop at junk."""
    found: list[str] = []
    pos = 0
    while len(found) < MAX_SERVERS:
        if pos < len(value) and value[pos] == 0x2E:
            pos += 1
            continue
        ip, used = ip4_scan(value, pos)
        if not used:
            break
        found.append(ip)
        pos += used
    return found


def parse_resolv_conf(data: bytes) -> list[str]:
    """`nameserver` lines of resolv.conf (word then space or tab), at most 16."""
    found: list[str] = []
    for line in data.split(b"\n"):
        if line[:11] in (b"nameserver ", b"nameserver\t"):
            rest = line[10:].lstrip(b" \t")
            ip, used = ip4_scan(rest)
            if used and len(found) < MAX_SERVERS:
                found.append(ip)
    return found


def reverse_labels(ip: str | bytes) -> tuple[bytes, ...]:
    """The PTR query name of an IPv4 address: d.c.b.a.in-addr.arpa as labels."""
    if isinstance(ip, str):
        ip = ip.encode()
    parts = ip.split(b".")
    return tuple(b"%d" % int(p) for p in reversed(parts)) + (b"in-addr", b"arpa")


def rewrite_rules(environ, read_file, hostname: bytes) -> list[bytes]:
    """djb's dns_resolvconfrewrite: the qualification rules, one bytes string each.

    environ maps bytes to bytes; read_file(path) returns the bytes or None when the file
    does not exist (other errors propagate as OSError and fail the lookup, as in the C).
    """
    path = environ.get(b"DNSREWRITEFILE") or b"/etc/dnsrewrite"
    data = read_file(path)
    if data is not None:
        return [line.rstrip(b" \t\r") for line in data.split(b"\n")]
    local = environ.get(b"LOCALDOMAIN")
    if local is not None:
        return [b"?:" + b"".join(b"+." + d for d in local.split(b" ")), b"*.:"]
    data = read_file(b"/etc/resolv.conf")
    if data is not None:
        for line in data.split(b"\n"):
            if line[:7] in (b"search ", b"search\t", b"domain ", b"domain\t"):
                words = line[7:].replace(b"\t", b" ").split(b" ")
                return [b"?:" + b"".join(b"+." + w for w in words if w), b"*.:"]
    dot = hostname.find(b".")
    rules = [b"?:" + hostname[dot:]] if dot >= 0 else []
    return rules + [b"*.:"]


def _apply_rule(work: bytes, rule: bytes) -> bytes:
    kind, rule = rule[:1], rule[1:]
    if kind not in (b"?", b"=", b"*", b"-"):
        return work
    colon = rule.find(b":")
    if colon < 0:
        return work
    if len(work) < colon:
        return work
    prefixlen = len(work) - colon
    if kind == b"=" and prefixlen:
        return work
    if rule[:colon].lower() != work[prefixlen:].lower():
        return work
    if kind == b"?" and any(c in work[:prefixlen] for c in b".[]"):
        return work
    return (b"" if kind == b"-" else work[:prefixlen]) + rule[colon + 1:]


def qualify(name: bytes, rules: list[bytes]) -> list[bytes]:
    """The names dns_ip4_qualify tries in turn: rules applied, then `a+.b+.c` expanded."""
    for rule in rules:
        name = _apply_rule(name, rule)
    plus = name.find(b"+")
    if plus < 0:
        return [name]
    base = name[:plus]
    return [base + suffix for suffix in name[plus + 1:].split(b"+")]


def _literal_ip4(name: bytes) -> list[str] | None:
    """dns_ip4's shortcut for names made of digits, dots and brackets (else None)."""
    if any(c not in b"0123456789.[]" for c in name):
        return None
    octets = bytearray()
    code = 0
    for ch in name + b".":
        if ch in b"[]":
            continue
        if ch == 0x2E:
            octets.append(code & 0xFF)
            code = 0
        else:
            code = code * 10 + ch - 0x30
    usable = len(octets) & ~3
    return ["%d.%d.%d.%d" % tuple(octets[i:i + 4]) for i in range(0, usable, 4)]


# ---------------------------------------------------------------- configuration (cached)

_config_cache: dict[str, tuple[float, int, object]] = {}


def _cached(key: str, compute):
    now = time.monotonic()
    entry = _config_cache.get(key)
    if entry is None or entry[0] < now or entry[1] <= 0:
        entry = (now + CONFIG_LIFETIME, CONFIG_USES, compute())
    _config_cache[key] = (entry[0], entry[1] - 1, entry[2])
    return entry[2]


def _read_file(path: bytes) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _compute_servers() -> list[str]:
    value = os.environb.get(b"DNSCACHEIP")
    found = parse_dnscacheip(value) if value is not None else []
    if not found:
        data = _read_file(b"/etc/resolv.conf")
        found = parse_resolv_conf(data) if data else []
    return found or ["127.0.0.1"]


def servers() -> list[str]:
    """The resolver addresses a lookup uses now (dns_resolvconfip; 0.0.0.0 entries skipped)."""
    try:
        return [ip for ip in _cached("ip", _compute_servers) if ip != "0.0.0.0"]
    except OSError as e:
        raise DnsError(e.errno or _errno.EIO) from None


def _rules() -> list[bytes]:
    def compute():
        import socket
        return rewrite_rules(os.environb, _read_file, socket.gethostname().encode())
    try:
        return _cached("rw", compute)
    except OSError as e:
        raise DnsError(e.errno or _errno.EIO) from None


# ---------------------------------------------------------------- transport

_dns = None     # the dnspython modules, once imported


def preload():
    """Import dnspython now (about 30 ms): servers call this once before forking children."""
    global _dns
    if _dns is None:
        import sys
        # dnspython probes for optional packages (idna, cryptography, ...) with
        # importlib.metadata, which pulls in email and costs ~20 ms per process; we never use
        # them (names go in and out as byte labels), so while dnspython loads the probe finds
        # a module without `version` and answers "not installed" (dns._features catches it).
        stub = None
        if "importlib.metadata" not in sys.modules:
            import types
            stub = sys.modules["importlib.metadata"] = types.ModuleType("importlib.metadata")
        try:
            import dns.flags
            import dns.message
            import dns.name
            import dns.rdataclass
            import dns.rdatatype
            import dns.rdtypes.ANY.PTR      # record types are otherwise imported while
            import dns.rdtypes.ANY.TXT      # parsing a reply, i.e. in every forked child
            import dns.rdtypes.IN.A
            import random  # noqa: F401     (and what a lookup itself needs)
            import select  # noqa: F401
            import socket  # noqa: F401
        finally:
            if stub is not None and sys.modules.get("importlib.metadata") is stub:
                del sys.modules["importlib.metadata"]
        _dns = dns
    return _dns


class DjbRandom:
    """djbdns' dns_random(): the `surf` generator. tcpserver never calls dns_random_init, so
    its seed and input stay zero and the sequence is fixed; every query attempt takes three
    values (two for the query id, one for the random source port), and dns_sortip takes one
    per swap. So the address tcpserver binds for a name with several A records is the C's
    (§1.3: two records -> the second, three -> the third, after one query)."""

    def __init__(self) -> None:
        self.seed = [0] * 32
        self.inp = [0] * 12
        self.out = [0] * 8
        self.left = 0

    def _surf(self) -> None:
        m = 0xFFFFFFFF
        seed = self.seed
        t = [self.inp[i] ^ seed[12 + i] for i in range(12)]
        out = seed[24:32]
        x = t[11]
        total = 0
        for _ in range(2):
            for _ in range(16):
                total = (total + 0x9E3779B9) & m
                for i, b in ((0, 5), (1, 7), (2, 9), (3, 13), (4, 5), (5, 7), (6, 9), (7, 13),
                             (8, 5), (9, 7), (10, 9), (11, 13)):
                    rot = ((x << b) | (x >> (32 - b))) & m
                    x = t[i] = (t[i] + ((((x ^ seed[i]) + total) & m) ^ rot)) & m
            for i in range(8):
                out[i] ^= t[i + 4]
        self.out = out

    def __call__(self, n: int) -> int:
        if not n:
            return 0
        if not self.left:
            for i in range(4):                       # ++in[0], carrying into in[1..3]
                self.inp[i] = (self.inp[i] + 1) & 0xFFFFFFFF
                if self.inp[i]:
                    break
            self._surf()
            self.left = 8
        self.left -= 1
        return self.out[self.left] % n

    def sortip(self, ips: list) -> list:
        """dns_sortip: swap each last element with a random earlier-or-same one."""
        ips = list(ips)
        n = len(ips)
        while n > 1:
            i = self(n)
            n -= 1
            ips[i], ips[n] = ips[n], ips[i]
        return ips


djb_random = DjbRandom()


def _query(dns, qname, qtype: int):
    for _ in range(3):            # djb's query id (2 values) and random source port (1)
        djb_random(256)
    q = dns.message.make_query(qname, qtype, use_edns=False)   # RD set, random id
    return q, q.to_wire()


def _relevant(dns, data: bytes, q) -> bool:
    """djb's irrelevant(), inverted: our id, one question, same name/type/class IN."""
    if len(data) < 12 or data[0:2] != q.id.to_bytes(2, "big") or data[4:6] != b"\0\1":
        return False
    try:
        reply = dns.message.from_wire(data, question_only=True, ignore_trailing=True)
    except Exception:
        return False
    question = q.question[0]
    got = reply.question[0] if reply.question else None
    return (got is not None and got.name == question.name and got.rdtype == question.rdtype
            and got.rdclass == dns.rdataclass.IN)


def _wants_tcp(data: bytes) -> bool:
    return bool(data[2] & 2)


def _failed(data: bytes) -> bool:
    rcode = data[3] & 15
    return rcode not in (0, 3)


def _wait(sock, deadline: float, write: bool = False) -> bool:
    import select
    p = select.poll()
    p.register(sock, select.POLLOUT if write else select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if p.poll(left * 1000 + 1):
            return True


def _udp(dns, qname, qtype: int, addresses: list[str]) -> bytes:
    import socket
    err = _errno.EIO
    for round_ in range(FIRST_UDP_ROUND, len(UDP_TIMEOUTS)):
        for server in addresses:
            q, wire = _query(dns, qname, qtype)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                try:
                    sock.connect((server, 53))
                    if sock.send(wire) != len(wire):
                        continue
                except OSError as e:
                    err = e.errno or _errno.EIO
                    continue
                deadline = time.monotonic() + UDP_TIMEOUTS[round_]
                while True:
                    if not _wait(sock, deadline):
                        err = _errno.ETIMEDOUT
                        break
                    try:
                        data = sock.recv(513)
                    except OSError as e:
                        err = e.errno or _errno.EIO
                        if round_ == PATIENT_ROUND:
                            continue
                        break
                    if not data:
                        if round_ == PATIENT_ROUND:
                            continue
                        break
                    if len(data) > 512 or not _relevant(dns, data, q):
                        continue
                    if _wants_tcp(data):
                        return _tcp(dns, qname, qtype, addresses)
                    if _failed(data):
                        err = _errno.EAGAIN
                        if round_ == PATIENT_ROUND:
                            continue
                        break
                    return data
            finally:
                sock.close()
    raise DnsError(err)


def _recv_exact(sock, n: int, deadline: float) -> bytes:
    data = b""
    while len(data) < n:
        if not _wait(sock, deadline):
            raise OSError(_errno.ETIMEDOUT, "timed out")
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError(_errno.EIO, "eof")
        data += chunk
    return data


def _tcp(dns, qname, qtype: int, addresses: list[str]) -> bytes:
    import socket
    err = _errno.EIO
    for server in addresses:
        q, wire = _query(dns, qname, qtype)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            deadline = time.monotonic() + TCP_TIMEOUT
            try:
                sock.connect((server, 53))
            except BlockingIOError:
                if not _wait(sock, deadline, write=True):
                    raise OSError(_errno.ETIMEDOUT, "timed out") from None
                so_error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if so_error:
                    raise OSError(so_error, os.strerror(so_error)) from None
            sock.setblocking(True)
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.sendall(len(wire).to_bytes(2, "big") + wire)
            sock.setblocking(False)
            deadline = time.monotonic() + TCP_TIMEOUT
            size = int.from_bytes(_recv_exact(sock, 2, deadline), "big")
            data = _recv_exact(sock, size, deadline)
        except OSError as e:
            err = e.errno or _errno.EIO
            continue
        finally:
            sock.close()
        if not _relevant(dns, data, q) or _wants_tcp(data):
            err = _errno.EIO
        elif _failed(data):
            err = _errno.EAGAIN
        else:
            return data
    raise DnsError(err)


def _resolve(labels: tuple[bytes, ...], qtype: int):
    """One query with djb's schedule; the parsed reply (answers one record per rrset)."""
    dns = preload()
    addresses = servers()
    try:
        qname = dns.name.Name(labels + (b"",))
    except Exception:
        raise DnsError(_errno.EPROTO) from None
    data = _udp(dns, qname, qtype, addresses)     # a name fits in UDP, so djb never starts on TCP
    try:
        return dns.message.from_wire(data, one_rr_per_rrset=True, ignore_trailing=True)
    except Exception:
        raise DnsError(_errno.EPROTO) from None


def _answers(reply, rdtype: int):
    for rrset in reply.answer:
        if rrset.rdtype == rdtype and rrset.rdclass == 1:
            yield from rrset


# ---------------------------------------------------------------- lookups

def name4(ip: str | bytes) -> bytes:
    """The first PTR record for IP as escaped text (dns_name4); b"" when there is none."""
    reply = _resolve(reverse_labels(ip), _T_PTR)
    for rdata in _answers(reply, _T_PTR):
        return domain_todot(rdata.target.labels[:-1] if rdata.target.is_absolute()
                            else rdata.target.labels)
    return b""


def ip4(name: bytes, unseeded: bool = False) -> list[str]:
    """A records of NAME in random order (dns_ip4); a dotted-quad NAME needs no query.
    unseeded: the order of djb's never-seeded generator (tcpserver), else truly random."""
    literal = _literal_ip4(name)
    if literal is not None:
        return literal
    reply = _resolve(domain_fromdot(name), _T_A)
    found = [rdata.address for rdata in _answers(reply, _T_A)]
    if unseeded:
        return djb_random.sortip(found)
    import random
    random.shuffle(found)
    return found


def ip4_qualify(name: bytes, unseeded: bool = False) -> tuple[list[str], bytes]:
    """dns_ip4_qualify: resolv.conf `search`/`domain`, $LOCALDOMAIN, $DNSREWRITEFILE rules.

    Returns (addresses, the name last tried); tries each qualified candidate in turn until
    one has addresses.
    """
    found: list[str] = []
    fqdn = name
    for fqdn in qualify(name, _rules()):
        found = ip4(fqdn, unseeded)
        if found:
            break
    return found, fqdn


def txt(name: bytes) -> bytes:
    """All TXT strings of NAME concatenated, bytes outside 32..126 as `?` (dns_txt)."""
    reply = _resolve(domain_fromdot(name), _T_TXT)
    out = bytearray()
    for rdata in _answers(reply, _T_TXT):
        for string in rdata.strings:
            out += bytes(c if 32 <= c <= 126 else 63 for c in string)
    return bytes(out)


def paranoid_ok(name: bytes, ip: str) -> bool:
    """tcpserver -p: is IP among the A records of NAME? A failed lookup counts as no."""
    try:
        return ip in ip4(name)
    except DnsError:
        return False


def local_host(ip: str) -> bytes | None:
    """TCPLOCALHOST when no -l is given: the PTR name, None (unset) on failure or no name."""
    try:
        return name4(ip) or None
    except DnsError:
        return None


def remote_host(ip: str, paranoid: bool = False) -> bytes | None:
    """TCPREMOTEHOST for tcpserver -h (and -p): None (unset) on failure, no name, or a
    name whose A records do not include IP when paranoid."""
    host = local_host(ip)
    if host is not None and paranoid and not paranoid_ok(host, ip):
        return None
    return host
