"""The client's fds 0/1 as qmail uses them: timed reads and writes, explicit buffered output.

spec/qmail.md §1.3: before each read or write the program waits up to `timeout` seconds;
output is buffered and flushed when the buffer fills or the program asks.
"""
import os
import select

POLL_MAX = (1 << 31) - 1     # poll() takes a C int of milliseconds; the C's select() takes seconds


class Timeout(Exception):
    """No data could be read or written within the timeout."""


class WireClosed(Exception):
    """Writing to the client failed (it went away)."""


class Wire:
    def __init__(self, timeout: float, rfd: int = 0, wfd: int = 1,
                 read_size: int = 1024, buffer_size: int = 512) -> None:
        self.timeout = timeout
        self.rfd, self.wfd = rfd, wfd
        self.read_size, self.buffer_size = read_size, buffer_size
        self._out = bytearray()

    def read(self) -> bytes:
        """Up to read_size bytes; b"" on end of input or a read error. Flushes first."""
        self.flush()
        if not self._wait(self.rfd, for_write=False):
            raise Timeout()
        try:
            return os.read(self.rfd, self.read_size)
        except OSError:
            return b""

    def write(self, data: bytes, flush: bool = False) -> None:
        self._out += data
        if flush:
            self.flush()
        else:
            while len(self._out) >= self.buffer_size:
                self._send(self.buffer_size)

    def flush(self) -> None:
        while self._out:
            self._send(len(self._out))

    def _send(self, limit: int) -> None:
        if not self._wait(self.wfd, for_write=True):
            raise Timeout()
        try:
            n = os.write(self.wfd, self._out[:limit])
        except OSError as e:
            raise WireClosed() from e
        del self._out[:n]

    def _wait(self, fd: int, for_write: bool) -> bool:
        poller = select.poll()
        poller.register(fd, select.POLLOUT if for_write else select.POLLIN)
        left = int(self.timeout * 1000)
        while True:
            try:
                if left > POLL_MAX:            # e.g. timeoutsmtpd 3000000: wait in slices
                    if poller.poll(POLL_MAX):
                        return True
                    left -= POLL_MAX
                    continue
                return bool(poller.poll(left))
            except InterruptedError:
                continue
