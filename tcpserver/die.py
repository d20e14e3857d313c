"""Fatal errors and usage lines in ucspi-tcp's words; run() turns them into fd 2 + exit code."""
import os

from rules.errors import djb_error

EXIT_PERM, EXIT_TEMP = 100, 111

__all__ = ["EXIT_PERM", "EXIT_TEMP", "Fatal", "Usage", "djb_error", "run", "warn", "write2", "write_fd"]


class Fatal(Exception):
    """A system failure: `PROG: fatal: TEXT`, exit CODE."""

    def __init__(self, text: str | bytes, code: int = EXIT_TEMP) -> None:
        super().__init__(text)
        self.text = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        self.code = code


class Usage(Exception):
    """A usage error: the exact usage line (without `PROG: usage: `), exit 100."""

    def __init__(self, line: str, prog: str) -> None:
        super().__init__(line)
        self.line = line
        self.prog = prog


def write_fd(fd: int, data: bytes) -> None:
    """Write all of data to fd, ignoring errors (djb's buffer_1/buffer_2 do not report them)."""
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass


def write2(data: bytes) -> None:
    write_fd(2, data)


def warn(prog: str, text: str | bytes) -> None:
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    write2(b"%s: warning: %s\n" % (prog.encode(), text))


def run(prog: str, main) -> int:   # main: () -> exit status
    try:
        return main()
    except Fatal as e:
        write2(b"%s: fatal: %s\n" % (prog.encode(), e.text))
        return e.code
    except Usage as e:
        write2(b"%s: usage: %s\n" % (e.prog.encode(), e.line.encode()))
        return EXIT_PERM
