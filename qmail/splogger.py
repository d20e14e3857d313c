"""splogger [TAG [FACILITY]]: qmail's stdin-to-syslog logger (spec/qmail.md §7).

fd 0: lines to log. Each line goes to syslog as `<sec>.<usec> <text>`, tagged TAG (default
`splogger`, no PID), facility FACILITY << 3 (default mail). Bytes outside 0x20-0x7E become `?`;
empty lines are dropped; lines longer than 799 bytes are cut into 799-byte chunks, the later ones
logged as `<sec>.<usec>+<text>` with the first chunk's stamp and priority. Priority: `warning` for
lines starting `warning:`, `alert` for `alert:`, else `info`. Bytes after the last LF are dropped
(a chunk already cut from them at 799 bytes has been logged, as in the C).
Environment: not read. Exit: 0 at end of input (or on a read error, as the C does).
"""
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

# syslog(3) priorities and facilities (<syslog.h>).
LOG_ALERT, LOG_WARNING, LOG_INFO = 1, 4, 6
LOG_USER, LOG_MAIL = 1 << 3, 2 << 3
LOG_FACMASK = 0x3F8

CHUNK = 799                     # the C's buf[800] less its NUL (§7)
DEFAULT_TAG = b"splogger"

_PRINTABLE = bytes(c if 0x20 <= c <= 0x7E else ord("?") for c in range(256))


def sanitise(data: bytes) -> bytes:
    """Every byte outside 0x20-0x7E (TAB, CR, 8-bit bytes) becomes `?` (§7)."""
    return data.translate(_PRINTABLE)


def line_priority(first_chunk: bytes) -> int:
    """`warning:` -> warning, `alert:` -> alert, else info; case-sensitive (§7)."""
    if first_chunk.startswith(b"alert:"):
        return LOG_ALERT
    if first_chunk.startswith(b"warning:"):
        return LOG_WARNING
    return LOG_INFO


def stamp(now_ns: int) -> bytes:
    """`<seconds>.<microseconds, 6 digits>` (§7)."""
    seconds, ns = divmod(now_ns, 1_000_000_000)
    return b"%d.%06d" % (seconds, ns // 1000)


def scan_ulong(arg: bytes) -> int:
    """djb's scan_ulong: the leading decimal digits (0 if none), modulo 2**64."""
    digits = len(arg) - len(arg.lstrip(b"0123456789"))
    return int(arg[:digits] or b"0") % 2**64


def facility_code(arg: bytes | None) -> int:
    """The facility openlog(3) ends up with for `splogger TAG ARG`.

    The C passes `scan_ulong(ARG) << 3` as an int; glibc keeps its default (user) when that
    is 0 or has bits outside LOG_FACMASK. So `mail` (no digits) and `0` mean user, not mail.
    """
    if arg is None:
        return LOG_MAIL
    code = (scan_ulong(arg) << 3) & 0xFFFFFFFF
    if code == 0 or code & ~LOG_FACMASK:
        return LOG_USER
    return code


@dataclass(frozen=True, slots=True)
class Message:
    priority: int
    text: bytes                 # `<stamp> <chunk>` or `<stamp>+<chunk>`


class Splogger:
    """Bytes in, syslog messages out; the clock arrives with the bytes.

    State: the current line's unlogged bytes (at most 799, sanitised), whether a chunk of it
    has been logged (then its stamp and priority are kept for the continuation chunks).
    """

    def __init__(self) -> None:
        self._buf = b""
        self._cont = False
        self._stamp = b""
        self._priority = LOG_INFO

    def receive_data(self, data: bytes, now_ns: int) -> Iterator[Message]:
        """Messages to log for DATA, read at NOW_NS; stamps are taken when a chunk is logged."""
        pos = 0
        while True:
            lf = data.find(b"\n", pos)
            end = len(data) if lf < 0 else lf
            self._buf += sanitise(data[pos:end])
            # The C cuts a chunk when the 800th byte arrives, not when the 799th is stored.
            while len(self._buf) > CHUNK:
                yield self._chunk(self._buf[:CHUNK], now_ns)
                self._buf = self._buf[CHUNK:]
            if lf < 0:
                return
            if self._buf:
                yield self._chunk(self._buf, now_ns)
                self._buf = b""
            self._cont = False
            pos = lf + 1

    def _chunk(self, text: bytes, now_ns: int) -> Message:
        if self._cont:
            return Message(self._priority, self._stamp + b"+" + text)
        self._stamp = stamp(now_ns)
        self._priority = line_priority(text)
        self._cont = True
        return Message(self._priority, self._stamp + b" " + text)


def main(argv: list[str] | None = None) -> int:
    import syslog
    import time

    args = [os.fsencode(a) for a in (sys.argv[1:] if argv is None else argv)]
    tag = args[0] if args else DEFAULT_TAG
    facility = facility_code(args[1] if len(args) > 1 else None)
    try:
        import setproctitle
        setproctitle.setproctitle(" ".join(["splogger", *map(os.fsdecode, args)]))
    except ImportError:
        pass
    # glibc keeps the ident pointer; the syslog module keeps the string alive for it.
    syslog.openlog(tag.decode("utf-8", "replace"), 0, facility)
    core = Splogger()
    while True:
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        if not data:
            return 0
        for message in core.receive_data(data, time.time_ns()):
            syslog.syslog(message.priority, message.text.decode("ascii"))


if __name__ == "__main__":
    sys.exit(main())
