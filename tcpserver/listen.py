"""tcpserver's start-up system calls: host and port, bind, listen, uid/gid (spec/ucspi-tcp.md
§1.3, §1.4, §1.5). Raises die.Fatal with the C program's texts (exit 111).
"""
import os
import socket

from tcpserver.die import Fatal, djb_error


def resolve_host(host: bytes) -> str:
    """The local IP to bind (§1.3): djbdns' dns_ip4_qualify, so dotted quads need no query, a
    name is qualified and asked for A records, and /etc/hosts is never read."""
    from tcpserver import dns
    try:
        addresses, _ = dns.ip4_qualify(host, unseeded=True)
    except dns.DnsError as e:
        raise Fatal(b"temporarily unable to figure out IP address for %s: %s"
                    % (host, djb_error(e.errno).encode())) from None
    if not addresses:
        raise Fatal(b"no IP address for " + host)
    return addresses[0]


def resolve_port(port: bytes) -> int:
    """All digits (empty included): that number modulo 65536; else /etc/services (§1.4)."""
    if not port.strip(b"0123456789"):
        return int(port or b"0") % 65536
    try:
        return socket.getservbyname(port.decode("utf-8", "strict"), "tcp")
    except (OSError, UnicodeError, ValueError):
        raise Fatal(b"unable to figure out port number for " + port) from None


def bind_listen(ip: str, port: int, backlog: int) -> socket.socket:
    """socket, SO_REUSEADDR, bind, getsockname, listen; blocking (§1.5 step 4)."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        raise Fatal("unable to create socket: " + djb_error(e)) from None
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((ip, port))
    except OSError as e:
        raise Fatal("unable to bind: " + djb_error(e)) from None
    try:
        s.getsockname()
    except OSError as e:
        raise Fatal("unable to get local address: " + djb_error(e)) from None
    backlog %= 1 << 32
    if backlog >= 1 << 31:        # a negative int in C: the kernel takes it as its maximum
        backlog = 65535
    try:
        s.listen(backlog)
    except OSError as e:
        raise Fatal("unable to listen: " + djb_error(e)) from None
    s.setblocking(True)
    return s


def drop_privileges(uid: int, gid: int) -> None:
    """-g: setgroups([gid]) then setgid; -u: setuid; 0 means unchanged (§1.5 step 5)."""
    if gid:
        try:
            os.setgroups([gid % (1 << 32)])
            os.setgid(gid % (1 << 32))
        except (OSError, OverflowError) as e:
            raise Fatal("unable to set gid: " + djb_error(e)) from None
    if uid:
        try:
            os.setuid(uid % (1 << 32))
        except (OSError, OverflowError) as e:
            raise Fatal("unable to set uid: " + djb_error(e)) from None
