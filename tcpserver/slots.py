"""The -c limit and tcpserver's log lines on fd 2 (spec/ucspi-tcp.md §1.12, §1.13). Pure.

Slots counts "children started and not yet reaped"; at the limit the server stops accepting.
"""
_UNSAFE = bytes(range(33)) + b"%:" + bytes(range(127, 256))
_SANITISE = bytes.maketrans(_UNSAFE, b"?" * len(_UNSAFE))


def safe(value: bytes) -> bytes:
    """djb's safecats (§1.12): at most 100 bytes, each byte <33, >126, `%` or `:` as `?`, and
    `...` appended when the value did not end within those 100 bytes (length 100 included).
    A NUL ends the value, as it ends the C string."""
    if b"\0" in value:
        value = value[:value.index(b"\0")]
    if len(value) >= 100:
        return value[:100].translate(_SANITISE) + b"..."
    return value.translate(_SANITISE)


def status_line(children: int, limit: int) -> bytes:
    return b"tcpserver: status: %d/%d\n" % (children, limit)


def pid_line(pid: int, remote_ip: bytes) -> bytes:
    return b"tcpserver: pid %d from %s\n" % (pid, remote_ip)


def verdict_line(deny: bool, pid: int, local_host: bytes | None, local_ip: bytes,
                 local_port: bytes, remote_host: bytes | None, remote_ip: bytes,
                 remote_info: bytes | None, remote_port: bytes) -> bytes:
    """The `ok`/`deny` line; every field through safe(), unset names as empty fields."""
    return b"tcpserver: %s %s %s:%s:%s %s:%s:%s:%s\n" % (
        b"deny" if deny else b"ok", safe(b"%d" % pid),
        safe(local_host) if local_host is not None else b"", safe(local_ip), safe(local_port),
        safe(remote_host) if remote_host is not None else b"", safe(remote_ip),
        safe(remote_info) if remote_info is not None else b"", safe(remote_port))


def end_line(pid: int, wait_status: int) -> bytes:
    """WAIT_STATUS is the raw status from waitpid (exit 3 -> 768, SIGKILL -> 9)."""
    return b"tcpserver: end %d status %d\n" % (pid, wait_status)


def drop_line(reason: bytes) -> bytes:
    return b"tcpserver: warning: dropping connection, %s\n" % reason


def fatal_line(reason: bytes) -> bytes:
    return b"tcpserver: fatal: %s\n" % reason


class Slots:
    """The child counter of the accept loop (§1.13); `full` means: do not call accept()."""
    __slots__ = ("limit", "children")

    def __init__(self, limit: int, children: int = 0) -> None:
        self.limit, self.children = limit, children

    @property
    def full(self) -> bool:
        return self.children >= self.limit

    def taken(self) -> bytes:
        self.children += 1
        return status_line(self.children, self.limit)

    def freed(self) -> bytes:
        if self.children:
            self.children -= 1
        return status_line(self.children, self.limit)

    def title(self, local: bytes) -> bytes:
        """The process title, e.g. `tcpserver: 127.0.0.1:25 3/100`."""
        return b"tcpserver: %s %d/%d" % (local, self.children, self.limit)
