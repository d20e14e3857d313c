"""The DATA byte machine: transparency and hop counting (spec/qmail.md §2.10.2, §2.10.3). Pure.

qmail-smtpd's blast() reads DATA one byte at a time through five states. This module gives the
same results a line (or a whole run of lines) at a time, which is what makes a 20 MB message
cheap in Python:

- the input is cut at LF; every LF must follow a CR (a bare LF anywhere ends the session,
  §2.10.2), and that CR LF is stored as LF; any other CR is kept;
- a line `.` ends the message; a line starting `.` loses that dot unless the next byte is
  CR (`.\\rX` keeps its dot: the C's state 3 puts it back);
- while in the header (until a line that is just CR LF), a raw line whose first 9 bytes are
  `delivered` or first 8 are `received`, ASCII case-insensitively, counts one hop.

A line longer than LONG_LINE with no LF yet is not buffered whole: its start is decided, its
middle stored, and only its last byte (perhaps the CR of the coming CR LF) is kept back.
tests/unit/qmail/smtp/test_body.py checks this against a byte-at-a-time transliteration of
blast().
"""
LONG_LINE = 1 << 16

MORE, END, STRAY = 0, 1, 2          # feed() outcomes: need more input / end of data / bare LF


class Body:
    """Feed raw DATA bytes; get stored bytes, and at the end the input that follows `.`."""

    __slots__ = ("hops", "in_header", "_pending", "_midline")

    def __init__(self) -> None:
        self.hops = 0
        self.in_header = True
        self._pending = b""          # raw bytes of the current line not yet decided
        self._midline = False        # the current line's start is already stored

    def feed(self, data: bytes) -> tuple[int, bytes, bytes]:
        """(outcome, stored bytes, input after the end mark when outcome is END)."""
        buf = self._pending + data if self._pending else data
        out = []
        pos = 0
        n = len(buf)
        while pos < n:
            if self._midline:
                lf = buf.find(b"\n", pos)
                if lf < 0:
                    out.append(buf[pos:-1])
                    self._pending = buf[-1:]
                    return MORE, b"".join(out), b""
                if lf == pos or buf[lf - 1] != 13:
                    return STRAY, b"".join(out), b""
                out.append(buf[pos:lf - 1])
                out.append(b"\n")
                self._midline = False
                pos = lf + 1
                continue
            if not self.in_header:
                outcome, pos = self._lines(buf, pos, out)
                if outcome != MORE:
                    return outcome, b"".join(out), buf[pos:]
                if pos >= n:
                    break
            lf = buf.find(b"\n", pos)
            if lf < 0:
                if n - pos > LONG_LINE and n - pos > 9:     # 9: a hop needs 9 bytes
                    self._start_long_line(buf[pos:], out)
                    pos = n - 1
                    self._pending = buf[pos:]
                    return MORE, b"".join(out), b""
                break
            outcome = self._line(buf[pos:lf], out)
            pos = lf + 1
            if outcome != MORE:
                return outcome, b"".join(out), buf[pos:]
        self._pending = buf[pos:]
        return MORE, b"".join(out), b""

    def _count_hop(self, raw: bytes) -> None:
        if raw == b"\r":                                   # the line CR LF ends the header
            self.in_header = False
            return
        head = raw[:9].lower()
        if head == b"delivered":
            self.hops += 1
        elif head[:8] == b"received":
            self.hops += 1

    def _line(self, raw: bytes, out: list) -> int:
        """One complete line, RAW without its LF."""
        if self.in_header:
            self._count_hop(raw)
        if raw[-1:] != b"\r":
            return STRAY
        if raw[:1] == b".":
            if raw == b".\r":
                return END
            if raw[1:2] != b"\r":
                raw = raw[1:]
        out.append(raw[:-1])
        out.append(b"\n")
        return MORE

    def _start_long_line(self, raw: bytes, out: list) -> None:
        """Decide the start of a line longer than LONG_LINE; store all but its last byte."""
        if self.in_header:
            self._count_hop(raw)
        if raw[:1] == b"." and raw[1:2] != b"\r":
            raw = raw[1:]
        out.append(raw[:-1])
        self._midline = True

    def _lines(self, buf: bytes, pos: int, out: list) -> tuple[int, int]:
        """The body's complete lines from POS (at a line start) at once; (outcome, new pos)."""
        last = buf.rfind(b"\n", pos)
        if last < 0:
            return MORE, pos
        if buf.startswith(b".\r\n", pos):
            return END, pos + 3
        end = buf.find(b"\r\n.\r\n", pos, last + 1)
        stop = end + 2 if end >= 0 else last + 1             # the lines before the end mark
        seg = buf[pos:stop]
        if seg.count(b"\n") != seg.count(b"\r\n"):
            return STRAY, stop
        text = seg.replace(b"\r\n", b"\n")
        if b"\n.\r" in text or text.startswith(b".\r"):      # `.\rX` keeps its dot: line by line
            for line in text.split(b"\n")[:-1]:
                if line[:1] == b"." and line[1:2] != b"\r":
                    line = line[1:]
                out.append(line)
                out.append(b"\n")
        else:
            if text[:1] == b".":
                text = text[1:]
            out.append(text.replace(b"\n.", b"\n"))
        if end >= 0:
            return END, end + 5
        return MORE, stop
