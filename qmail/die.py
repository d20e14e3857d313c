"""Fatal errors of the qmail programs; run() turns them into output and an exit code."""
import os
from collections.abc import Callable

from rules.errors import djb_error

EXIT_PERM, EXIT_TEMP = 100, 111

__all__ = ["EXIT_PERM", "EXIT_TEMP", "Fatal", "djb_error", "run", "write_all"]


class Fatal(Exception):
    """A failure reported as `PROG: fatal: TEXT` (or raw TEXT with raw=True) and exit CODE."""

    def __init__(self, text: str | bytes, code: int = EXIT_TEMP, raw: bool = False) -> None:
        super().__init__(text)
        self.text = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        self.code = code
        self.raw = raw


def write_all(fd: int, data: bytes) -> None:
    """Write all of data to fd; errors are ignored (the log may be gone)."""
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass


def run(prog: str, main: Callable[[], int], fd: int = 2) -> int:
    try:
        return main()
    except Fatal as e:
        write_all(fd, e.text if e.raw else b"%s: fatal: %s\n" % (prog.encode(), e.text))
        return e.code
