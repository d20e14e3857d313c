"""A fake DNS server and a fake identd on 127.0.0.1 for tests of tcpserver, tcpclient and
rblsmtpd, ours and Debian's C programs alike (import as `fakes`).

    with fakes.FakeDns() as dns, fakes.FakeIdentd(b"{ports} : USERID : UNIX : joe\\r\\n"):
        dns.ptr("127.0.0.5", "Host.Example.")      # answers 5.0.0.127.in-addr.arpa PTR
        dns.a("host.example", "127.0.0.5")
        dns.txt("5.0.0.127.rbl.test", "listed")
        dns.fail("4.0.0.127.rbl.test", "TXT", "servfail")    # or refused, drop, truncate
        dns.delay("slow.example", "A", 2.0)
        ... run programs with DNSCACHEIP=127.0.0.1 ...
        assert ("host.example.", "A") in dns.queries

The C programs can only talk to port 53 (djb's resolver) and port 113, so the fakes bind
those fixed ports (root needed). Each holds an exclusive flock on a file in /tmp for as long
as it runs, so tests on parallel pytest workers take turns instead of colliding; keep the
`with` blocks short (function-scoped fixtures), and never nest two users of the same port in
one process (no_dns() inside FakeDns() waits for itself). Names not configured get NXDOMAIN; a configured name asked for another
type gets an empty NOERROR answer. Answers are built with dnspython, one record per RRset,
in the order given; over TCP the same answers are served (used after `truncate`).
"""
import contextlib
import fcntl
import os
import select
import socket
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rrset
import pytest

LOCK_DIR = "/tmp"
FAIL_MODES = ("servfail", "refused", "drop", "truncate", "nxdomain", "empty", "quickfail")


@contextlib.contextmanager
def port_lock(name: str, timeout: float = 100.0):
    """An exclusive flock on /tmp/pyqmail-fake-NAME.lock, waited for up to timeout seconds."""
    path = os.path.join(LOCK_DIR, f"pyqmail-fake-{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{path} stayed locked for {timeout} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)        # releases the lock


def _name(name) -> dns.name.Name:
    """str (dnspython text, escapes allowed), bytes labels tuple, or Name -> absolute Name."""
    if isinstance(name, dns.name.Name):
        return name if name.is_absolute() else name.concatenate(dns.name.root)
    if isinstance(name, (tuple, list)):
        return dns.name.Name(tuple(name) + (b"",))
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return dns.name.from_text(name)


def _reverse(ip: str) -> dns.name.Name:
    return dns.name.from_text(".".join(reversed(ip.split("."))) + ".in-addr.arpa.")


class _Listener:
    """A UDP and a TCP socket on HOST:PORT served by threads until stop()."""

    def __init__(self, host: str, port: int, udp: bool, tcp: bool, what: str) -> None:
        self.host, self.port, self.what = host, port, what
        self.udp = self.tcp = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        try:
            if udp:
                self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.udp.bind((host, port))
            if tcp:
                self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.tcp.bind((host, port))
                self.tcp.listen(64)
        except PermissionError as e:
            self.close()
            reason = f"fake {what} needs root to bind {host}:{port} ({e})"
            if os.environ.get("REQUIRE_REFERENCE") == "1":
                pytest.fail(reason + " and REQUIRE_REFERENCE=1")
            pytest.skip(reason)
        except OSError as e:
            self.close()
            raise RuntimeError(f"fake {what} cannot bind {host}:{port}: {e}"
                               " (is another server using the port?)") from e

    def spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def readable(self, sock: socket.socket, timeout: float = 0.05) -> bool:
        try:
            return bool(select.select([sock], [], [], timeout)[0])
        except (OSError, ValueError):
            return False

    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        for t in list(self._threads):
            t.join(5)
        for s in (self.udp, self.tcp):
            if s is not None:
                s.close()


class FakeDns:
    """A configurable authoritative-looking DNS server on HOST:PORT (UDP and TCP)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 53) -> None:
        self.host, self.port = host, port
        self._records: dict[dns.name.Name, list] = {}
        self._fail: dict[tuple[dns.name.Name, int], str] = {}
        self._delay: dict[tuple[dns.name.Name, int], float] = {}
        self.responder = None          # fn(query Message) -> bytes | None, tried first
        self.queries: list[tuple[str, str]] = []     # (name text lowercased, type), in order
        self._lock = threading.Lock()
        self._listener = None
        self._stack = None

    # ------------------------------------------------------------ configuration
    def add(self, name, rdata) -> "FakeDns":
        """Add one record (a dnspython rdata) under NAME, after those already there."""
        with self._lock:
            self._records.setdefault(_name(name), []).append(rdata)
        return self

    def a(self, name, *ips: str) -> "FakeDns":
        for ip in ips:
            self.add(name, dns.rdtypes.IN.A.A(dns.rdataclass.IN, dns.rdatatype.A, ip))
        return self

    def ptr(self, ip: str, *targets) -> "FakeDns":
        """PTR records for IP's reverse name; a target is dnspython text or bytes labels."""
        for target in targets:
            self.add(_reverse(ip), dns.rdtypes.ANY.PTR.PTR(
                dns.rdataclass.IN, dns.rdatatype.PTR, _name(target)))
        return self

    def txt(self, name, *strings) -> "FakeDns":
        """One TXT record; each argument is one character-string (str or bytes)."""
        strings = tuple(s.encode("latin-1") if isinstance(s, str) else s for s in strings)
        return self.add(name, dns.rdtypes.ANY.TXT.TXT(
            dns.rdataclass.IN, dns.rdatatype.TXT, strings))

    def fail(self, name, rdtype: str, mode: str) -> "FakeDns":
        """Answer NAME/TYPE with servfail, refused, nxdomain or empty; drop (no reply);
        truncate (TC bit over UDP, the real answer over TCP); or quickfail (TC bit over UDP,
        SERVFAIL over TCP: djb's client gives up at once, a temporary failure in
        milliseconds instead of the 11 s that servfail and refused cost)."""
        if mode not in FAIL_MODES:
            raise ValueError(mode)
        key = (_name(name), dns.rdatatype.from_text(rdtype))
        with self._lock:
            self._fail[key] = mode
        return self

    def fail_reverse(self, ip: str, mode: str) -> "FakeDns":
        return self.fail(_reverse(ip), "PTR", mode)

    def delay(self, name, rdtype: str, seconds: float) -> "FakeDns":
        key = (_name(name), dns.rdatatype.from_text(rdtype))
        with self._lock:
            self._delay[key] = seconds
        return self

    def asked(self, name, rdtype: str) -> int:
        """How many queries for NAME/TYPE arrived so far."""
        want = (_name(name).to_text().lower(), rdtype.upper())
        with self._lock:
            return sum(1 for q in self.queries if q == want)

    # ------------------------------------------------------------ answering
    def answer(self, wire: bytes, tcp: bool) -> tuple[bytes | None, float]:
        """The reply bytes for a query (None: no reply) and the delay before sending it."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None, 0.0
        if len(query.question) != 1:
            return None, 0.0
        q = query.question[0]
        with self._lock:
            self.queries.append((q.name.to_text().lower(), dns.rdatatype.to_text(q.rdtype)))
            mode = self._fail.get((q.name, q.rdtype))
            delay = self._delay.get((q.name, q.rdtype), 0.0)
            records = list(self._records.get(q.name, ()))
            exists = q.name in self._records
        if self.responder is not None:
            custom = self.responder(query)
            if custom is not None:
                return custom, delay
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        if mode == "drop":
            return None, 0.0
        if mode == "servfail" or (mode == "quickfail" and tcp):
            response.set_rcode(dns.rcode.SERVFAIL)
        elif mode == "refused":
            response.set_rcode(dns.rcode.REFUSED)
        elif mode == "nxdomain" or (mode is None and not exists):
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif mode in ("truncate", "quickfail") and not tcp:
            response.flags |= dns.flags.TC
        elif mode != "empty":
            for rdata in records:
                if rdata.rdtype == q.rdtype:
                    rrset = dns.rrset.RRset(q.name, dns.rdataclass.IN, rdata.rdtype)
                    rrset.add(rdata, 60)
                    response.answer.append(rrset)
        return response.to_wire(max_size=65535), delay

    def _send_later(self, send, data: bytes, delay: float) -> None:
        if delay:
            t = threading.Timer(delay, send, (data,))
            t.daemon = True
            t.start()
        else:
            send(data)

    def _serve_udp(self) -> None:
        sock = self._listener.udp
        while not self._listener.stopping():
            if not self._listener.readable(sock):
                continue
            try:
                wire, peer = sock.recvfrom(65535)
            except OSError:
                continue
            data, delay = self.answer(wire, tcp=False)
            if data is not None:
                def send(d, peer=peer):
                    with contextlib.suppress(OSError):
                        sock.sendto(d, peer)
                self._send_later(send, data, delay)

    def _serve_tcp_conn(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            conn.settimeout(0.05)
            while not self._listener.stopping():
                try:
                    chunk = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                    size = int.from_bytes(buf[:2], "big")
                    wire, buf = buf[2:2 + size], buf[2 + size:]
                    data, delay = self.answer(wire, tcp=True)
                    if data is None:
                        return
                    if delay:
                        time.sleep(delay)
                    with contextlib.suppress(OSError):
                        conn.sendall(len(data).to_bytes(2, "big") + data)

    def _serve_tcp(self) -> None:
        sock = self._listener.tcp
        while not self._listener.stopping():
            if not self._listener.readable(sock):
                continue
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            self._listener.spawn(self._serve_tcp_conn, conn)

    # ------------------------------------------------------------ context manager
    def __enter__(self) -> "FakeDns":
        self._stack = contextlib.ExitStack()
        try:
            self._stack.enter_context(port_lock(f"dns-{self.port}"))
            self._listener = _Listener(self.host, self.port, True, True, "DNS")
            self._stack.callback(self._listener.close)
            self._listener.spawn(self._serve_udp)
            self._listener.spawn(self._serve_tcp)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()


class FakeIdentd:
    """An RFC 1413 server on HOST:PORT answering each request line with REPLY.

    reply: bytes, where `{ports}` stands for the request's `remote , local` text (spaces
    normalised), or a function request_line -> bytes | None (None: close without a reply).
    delay: seconds before replying. silent=True: never reply, keep the connection open.
    IDENT goes to the client's address, so a test with clients from 127.0.0.8 runs a second
    FakeIdentd(host="127.0.0.8") (one lock per address and port).
    requests: (peer IP, request line as received) for each connection, in order.
    """

    def __init__(self, reply=b"{ports} : USERID : UNIX : joe\r\n", *, delay: float = 0.0,
                 silent: bool = False, host: str = "127.0.0.1", port: int = 113) -> None:
        self.reply, self.delay, self.silent = reply, delay, silent
        self.host, self.port = host, port
        self.requests: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._listener = None
        self._stack = None

    def _reply_for(self, line: bytes) -> bytes | None:
        if callable(self.reply):
            return self.reply(line)
        ports = b" , ".join(p.strip() for p in line.strip().split(b","))
        return self.reply.replace(b"{ports}", ports)

    def _serve_conn(self, conn: socket.socket, peer: str) -> None:
        with conn:
            conn.settimeout(0.05)
            line = b""
            while b"\n" not in line and len(line) < 1000 and not self._listener.stopping():
                try:
                    chunk = conn.recv(1000)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                line += chunk
            with self._lock:
                self.requests.append((peer, line))
            if self.silent:
                while not self._listener.stopping():
                    try:
                        if not conn.recv(1000):
                            return
                    except socket.timeout:
                        continue
                    except OSError:
                        return
                return
            end = time.monotonic() + self.delay
            while time.monotonic() < end and not self._listener.stopping():
                time.sleep(min(0.02, max(end - time.monotonic(), 0)))
            data = self._reply_for(line)
            if data is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(data)

    def _serve(self) -> None:
        sock = self._listener.tcp
        while not self._listener.stopping():
            if not self._listener.readable(sock):
                continue
            try:
                conn, peer = sock.accept()
            except OSError:
                continue
            self._listener.spawn(self._serve_conn, conn, peer[0])

    def __enter__(self) -> "FakeIdentd":
        self._stack = contextlib.ExitStack()
        try:
            self._stack.enter_context(port_lock(f"identd-{self.host}-{self.port}"))
            self._listener = _Listener(self.host, self.port, False, True, "identd")
            self._stack.callback(self._listener.close)
            self._listener.spawn(self._serve)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()


@contextlib.contextmanager
def no_dns(port: int = 53):
    """Hold the DNS port lock with nothing listening: lookups see "connection refused"."""
    with port_lock(f"dns-{port}"):
        yield
