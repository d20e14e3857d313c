"""IDENT (RFC 1413) as ucspi-tcp 0.88 does it, for TCPREMOTEINFO (spec/ucspi-tcp.md §1.10).

The exchange: a new TCP socket bound to the connection's local IP (port 0) connects to
REMOTEIP port 113 and sends `REMOTEPORT , LOCALPORT\\r\\n`; the reply is read up to `\\n`.
One deadline (tcpserver/tcpclient `-t`, default 26 s) covers connect, send and reply.

What lands in TCPREMOTEINFO:
- bytes (possibly b"", which is "set but empty") when a reply line arrived: space, tab
  and CR are skipped everywhere, everything up to and including the third `:` is dropped,
  the rest is kept up to 257 bytes (a reply with fewer than three colons gives b"");
- None (unset) when there is no connection, the connection closes before `\\n`, or the
  deadline passes. `-t 0` gives None at once (the request may still reach the identd).

API: `request(remote_port, local_port)`, the pure `IdentReply` parser (feed bytes, ask
`.info`), `parse_reply(data)` for a whole reply, and the blocking client `remote_info()`.
"""
import errno
import select
import socket
import time

__all__ = ["MAX_INFO", "IdentReply", "parse_reply", "remote_info", "request"]

MAX_INFO = 257          # the C keeps appending until it holds more than 256 bytes
_SKIP = b" \t\r"


def request(remote_port: int, local_port: int) -> bytes:
    """The query line: the client's (remote) port first, then ours."""
    return b"%d , %d\r\n" % (remote_port, local_port)


class IdentReply:
    """Sans-I/O reply parser: feed() bytes as they arrive; `done` once the info is known.

    After done, `info` is the TCPREMOTEINFO value (bytes, possibly empty); bytes fed after
    that are ignored. A reply that ends (EOF) before done means "unset".
    """

    def __init__(self) -> None:
        self.colons = 0
        self._info = bytearray()
        self.done = False

    def feed(self, data: bytes) -> bool:
        for ch in data:
            if self.done:
                break
            if ch in _SKIP:
                continue
            if ch == 0x0A:
                self.done = True
            elif self.colons < 3:
                if ch == 0x3A:
                    self.colons += 1
            else:
                self._info.append(ch)
                if len(self._info) >= MAX_INFO:
                    self.done = True
        return self.done

    @property
    def info(self) -> bytes | None:
        return bytes(self._info) if self.done else None


def parse_reply(data: bytes) -> bytes | None:
    """TCPREMOTEINFO for a complete reply as received (None: it never finished)."""
    parser = IdentReply()
    parser.feed(data)
    return parser.info


def _wait(sock: socket.socket, deadline: float, events: int) -> bool:
    p = select.poll()
    p.register(sock, events)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if p.poll(left * 1000 + 1):
            return True


def remote_info(remote_ip: str, remote_port: int, local_ip: str, local_port: int,
                timeout: float) -> bytes | None:
    """Ask REMOTE_IP's identd about the connection; the TCPREMOTEINFO value or None (unset)."""
    deadline = time.monotonic() + timeout
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        sock.setblocking(False)
        sock.bind((local_ip, 0))
        err = sock.connect_ex((remote_ip, 113))
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
            return None
        if timeout <= 0:
            # The C polls with no time left: the request may go out, no answer is read.
            if err == 0 or _wait(sock, time.monotonic() + 0.001, select.POLLOUT):
                try:
                    sock.send(request(remote_port, local_port))
                except OSError:
                    pass
            return None
        if err:
            if not _wait(sock, deadline, select.POLLOUT):
                return None
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return None
        out = request(remote_port, local_port)
        while out:
            if not _wait(sock, deadline, select.POLLOUT):
                return None
            out = out[sock.send(out):]
        parser = IdentReply()
        while not parser.done:
            if not _wait(sock, deadline, select.POLLIN):
                return None
            data = sock.recv(128)
            if not data:
                return None
            parser.feed(data)
        return parser.info
    except OSError:
        return None
    finally:
        sock.close()
