"""addcr: copy fd 0 to fd 1 with a CR before every LF (spec/ucspi-tcp.md §5.4).

Arguments are ignored. Exit: 0 at end of input; 111 when reading or writing fails.
"""
import os
import sys

CHUNK = 8192


def addcr(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def filter_stdio(convert, finish=lambda: b"") -> int:
    """Read fd 0 to its end through CONVERT, writing fd 1; FINISH gives the last bytes."""
    import _signal      # not `signal`: its enums cost ~6 ms
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)    # as the C: a closed reader ends us
    try:
        while True:
            data = os.read(0, CHUNK)
            out = convert(data) if data else finish()
            while out:
                out = out[os.write(1, out):]
            if not data:
                return 0
    except OSError:
        return 111


def main(argv=None) -> int:
    return filter_stdio(addcr)


if __name__ == "__main__":
    sys.exit(main())
