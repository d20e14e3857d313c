"""fixcrio program [ arg ... ]: run program with CR LF line ends in both directions.

spec/ucspi-tcp.md §5.4. Like recordio, program keeps the process (exec) and a forked copy
sits between the outside fds 0/1 and program's: every LF not preceded by CR (also across
reads) gets a CR inserted, both ways. Exit: program's status; 100 usage; 111 failures.
"""
import os
import sys

USAGE = b"fixcrio: usage: fixcrio program [ arg ... ]\n"


class CrFixer:
    """Insert CR before each LF that does not follow a CR; remembers the last byte."""

    def __init__(self) -> None:
        self.after_cr = False

    def __call__(self, data: bytes) -> bytes:
        if not data:
            return data
        out = data.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
        if self.after_cr and data[:1] == b"\n":
            out = out[1:]
        self.after_cr = data[-1:] == b"\r"
        return out


def main(argv=None) -> int:
    if argv is None:
        argv = [os.fsencode(a) for a in sys.argv]
    if len(argv) < 2:
        os.write(2, USAGE)
        return 100
    from tcpserver.recordio import run_between
    return run_between(b"fixcrio", list(argv[1:]), CrFixer(), CrFixer())


if __name__ == "__main__":
    sys.exit(main())
