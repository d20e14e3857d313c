"""delcr: copy fd 0 to fd 1 removing the CR of every CR LF (spec/ucspi-tcp.md §5.4).

Other CRs stay, a CR at the very end included. Arguments are ignored. Exit: 0 at end of
input; 111 when reading or writing fails.
"""
import sys

from tcpserver.addcr import filter_stdio


class CrRemover:
    """Drops a CR right before LF; a CR at the end of a chunk waits for the next byte."""

    def __init__(self) -> None:
        self.pending_cr = False

    def __call__(self, data: bytes) -> bytes:
        if self.pending_cr:
            data = b"\r" + data
        self.pending_cr = data.endswith(b"\r")
        if self.pending_cr:
            data = data[:-1]
        return data.replace(b"\r\n", b"\n")

    def finish(self) -> bytes:
        return b"\r" if self.pending_cr else b""


def main(argv=None) -> int:
    remover = CrRemover()
    return filter_stdio(remover, remover.finish)


if __name__ == "__main__":
    sys.exit(main())
