"""tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ]
[ -t timeoutinfo ] host port program [ arg ... ]: connect, then run program on the socket.

spec/ucspi-tcp.md §5.1. fds: the socket on fd 6 (read) and fd 7 (write) of the program, which
replaces tcpclient (exec); fds 0, 1, 2 are tcpclient's own. Environment set for the program,
in this update order: PROTO=TCP, TCPLOCALPORT, TCPLOCALIP, TCPLOCALHOST, TCPREMOTEPORT,
TCPREMOTEIP, TCPREMOTEHOST, TCPREMOTEINFO. Unlike tcpserver, a PTR lookup that answers with no
name sets TCPLOCALHOST/TCPREMOTEHOST to the empty string; only a failed lookup (or -H) unsets.
Host `0` or `` means 127.0.0.1; names go through djb's resolver with qualification
(tcpserver.dns.ip4_qualify); several addresses are tried in random order, `-T x+y` (default
2+58) seconds per address in a first pass, y more for those that timed out (x+y with one
address). Exit: the program's status; 100 usage; 111 connection or system failure.
"""
import errno
import os
import select
import socket
import sys
from dataclasses import dataclass

from tcpserver.die import djb_error, write2
from tcpserver.options import getopt, scan_ulong

# spec/ucspi-tcp.md §5.1
USAGE = (b"tcpclient: usage: tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ]"
         b" [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] host port program\n")
OPTSTRING = b"dDvqQhHrRi:p:t:T:l:"
FATAL = b"tcpclient: fatal: "


@dataclass(frozen=True, slots=True)
class ClientOptions:
    host: bytes
    port: bytes
    program: tuple[bytes, ...]
    verbosity: int = 1                      # 0 -q, 1 -Q, 2 -v
    delay: bool = True                      # -d / -D (TCP_NODELAY)
    remote_host: bool = True                # -h / -H
    remote_info: bool = True                # -r / -R
    info_timeout: int = 26                  # -t
    connect_timeout: tuple[int, int] = (2, 58)   # -T x+y
    local_ip: str = "0.0.0.0"               # -i
    local_port: int = 0                     # -p
    local_host: bytes | None = None         # -l


class BadUsage(Exception):
    """TEXT for fd 2 (already empty when -q silences it), exit 100."""

    def __init__(self, text: bytes) -> None:
        super().__init__(text)
        self.text = text


class Failure(Exception):
    """A fatal error: TEXT (a whole line, without the newline), exit 111; -q silences it."""

    def __init__(self, text: bytes) -> None:
        super().__init__(text)
        self.text = text


def parse_options(argv) -> ClientOptions:
    """argv (argv[0] included) -> ClientOptions, or BadUsage with the C program's text."""
    from tcpserver.dns import ip4_scan
    o: dict = {}
    rest = len(argv)
    for opt, value in getopt(argv, OPTSTRING):
        if opt is None:
            rest = value
        elif opt == b"?":
            raise BadUsage(value + USAGE)
        elif opt in _FLAGS:
            name, setting = _FLAGS[opt]
            o[name] = setting
        elif opt == b"t":
            o["info_timeout"] = scan_ulong(value)
        elif opt == b"T":
            first = scan_ulong(value)
            digits = len(value) - len(value.lstrip(b"0123456789"))
            if value[digits:digits + 1] == b"+":
                digits += 1
            o["connect_timeout"] = (first, scan_ulong(value[digits:]))
        elif opt == b"i":
            ip, used = ip4_scan(value)
            if not used:
                raise BadUsage(USAGE)
            o["local_ip"] = ip
        elif opt == b"p":
            o["local_port"] = scan_ulong(value) & 0xFFFF
        elif opt == b"l":
            o["local_host"] = value
    quiet = o.get("verbosity", 1) == 0
    args = list(argv[rest:])
    if len(args) < 3:
        raise BadUsage(b"" if quiet else USAGE)
    host, port, *program = args
    if host in (b"", b"0"):
        host = b"127.0.0.1"
    return ClientOptions(host=host, port=port, program=tuple(program), **o)


_FLAGS = {
    b"d": ("delay", True), b"D": ("delay", False),
    b"v": ("verbosity", 2), b"q": ("verbosity", 0), b"Q": ("verbosity", 1),
    b"h": ("remote_host", True), b"H": ("remote_host", False),
    b"r": ("remote_info", True), b"R": ("remote_info", False),
}


def port_number(text: bytes) -> int:
    """All digits (or empty): the number modulo 2**16; else a name from /etc/services."""
    if not text.lstrip(b"0123456789"):
        return scan_ulong(text) & 0xFFFF
    try:
        return socket.getservbyname(text.decode("latin-1"), "tcp")
    except (OSError, UnicodeError):
        raise Failure(FATAL + b"unable to figure out port number for " + text) from None


def connect_timeouts(addresses: list[str], first: int, second: int) -> tuple[int, int]:
    """With one address both passes' time goes to the first pass."""
    return (first + second, 0) if len(addresses) == 1 else (first, second)


def _timeoutconn(sock: socket.socket, ip: str, port: int, timeout: int) -> None:
    """djb's timeoutconn: a non-blocking connect waited for up to TIMEOUT seconds."""
    import time
    sock.setblocking(False)
    err = sock.connect_ex((ip, port))
    if err in (errno.EINPROGRESS, errno.EAGAIN):
        deadline = time.monotonic() + timeout
        p = select.poll()
        p.register(sock, select.POLLOUT)
        while not p.poll(max(deadline - time.monotonic(), 0) * 1000):
            if time.monotonic() >= deadline:
                raise OSError(errno.ETIMEDOUT, "timed out")
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))
    sock.setblocking(True)


def connect(o: ClientOptions, addresses: list[str], port: int, warn) -> socket.socket | None:
    """Try the addresses in two passes (§5.1); the connected socket, or None."""
    timeouts = connect_timeouts(addresses, *o.connect_timeout)
    for cloop in (0, 1):
        retry = []
        for ip in addresses:
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                raise Failure(FATAL + b"unable to create socket: " + djb_error(e).encode()) from None
            try:
                sock.bind((o.local_ip, o.local_port))
            except OSError as e:
                sock.close()
                raise Failure(FATAL + b"unable to bind socket: " + djb_error(e).encode()) from None
            try:
                _timeoutconn(sock, ip, port, timeouts[cloop])
                return sock
            except OSError as e:
                sock.close()
                if cloop == 0 and timeouts[1] and e.errno == errno.ETIMEDOUT:
                    retry.append(ip)
                else:
                    warn(b"tcpclient: unable to connect to %s port %d: %s\n"
                         % (ip.encode(), port, djb_error(e).encode()))
        addresses = retry
    return None


def _host(lookup, ip: str) -> bytes | None:
    from tcpserver import dns
    try:
        return lookup(ip)
    except dns.DnsError:
        return None


def run(o: ClientOptions, warn) -> int:
    from tcpserver import dns
    from tcpserver import environ as environment
    from tcpserver import ident
    from tcpserver.argv0 import run_program

    port = port_number(o.port)
    try:
        addresses, _ = dns.ip4_qualify(o.host)
    except dns.DnsError as e:
        raise Failure(FATAL + b"temporarily unable to figure out IP address for %s: %s"
                      % (o.host, djb_error(e.errno).encode())) from None
    if not addresses:
        raise Failure(FATAL + b"no IP address for " + o.host)
    sock = connect(o, addresses, port, warn)
    if sock is None:
        return 111
    if not o.delay:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    try:
        local_ip, local_port = sock.getsockname()
    except OSError as e:
        raise Failure(FATAL + b"unable to get local address: " + djb_error(e).encode()) from None
    local_host = o.local_host
    if local_host is None:
        local_host = _host(dns.name4, local_ip)
    try:
        remote_ip, remote_port = sock.getpeername()
    except OSError as e:
        raise Failure(FATAL + b"unable to get remote address: " + djb_error(e).encode()) from None
    if o.verbosity >= 2:
        warn(b"tcpclient: connected to %s port %d\n" % (remote_ip.encode(), remote_port))
    remote_host = _host(dns.name4, remote_ip) if o.remote_host else None
    remote_info = None
    if o.remote_info:
        remote_info = ident.remote_info(remote_ip, remote_port, local_ip, local_port,
                                        o.info_timeout)
    updates = [(b"PROTO", b"TCP"), (b"TCPLOCALPORT", b"%d" % local_port),
               (b"TCPLOCALIP", local_ip.encode()), (b"TCPLOCALHOST", local_host),
               (b"TCPREMOTEPORT", b"%d" % remote_port), (b"TCPREMOTEIP", remote_ip.encode()),
               (b"TCPREMOTEHOST", remote_host), (b"TCPREMOTEINFO", remote_info)]
    envp = environment.apply_updates(environment.inherited(), updates)
    fd = sock.detach()
    try:
        if fd == 6:         # fds 6 and 7 were closed at start, so the socket may be 6
            os.set_inheritable(6, True)
        else:
            os.dup2(fd, 6)
            os.close(fd)
    except OSError as e:
        raise Failure(FATAL + b"unable to set up descriptor 6: " + djb_error(e).encode()) from None
    try:
        os.dup2(6, 7)
    except OSError as e:
        raise Failure(FATAL + b"unable to set up descriptor 7: " + djb_error(e).encode()) from None
    err = run_program(list(o.program), envp)
    raise Failure(FATAL + b"unable to run %s: %s" % (o.program[0], djb_error(err).encode()))


def main(argv=None) -> int:
    if argv is None:
        argv = [os.fsencode(a) for a in sys.argv]
    for fd in (6, 7):           # the C closes them first, so nothing stale is passed on
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        o = parse_options(argv)
    except BadUsage as e:
        write2(e.text)
        return 100
    warn = write2 if o.verbosity else (lambda text: None)
    try:
        return run(o, warn)
    except Failure as e:
        warn(e.text + b"\n")
        return 111


if __name__ == "__main__":
    sys.exit(main())
