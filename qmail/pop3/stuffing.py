"""A stored message as qmail-pop3d sends it for RETR and TOP (spec/qmail.md §6.3), pure.

Stored lines end in LF; each goes out with CR LF, a line starting with "." gets one more ".",
CRs already in the file are sent as they are ("\r\n" -> "\r\r\n"), a final line without LF
still gets CR LF, and every message ends with an extra empty line and the terminator:
"\r\n.\r\n" (qmail's "work around for client bugs").

    blast(chunks, body_lines) -> output chunks; chunks is any iterable of stored bytes.
"""
from collections.abc import Iterable, Iterator

TERMINATOR = b"\r\n.\r\n"          # the extra empty line and "."  (§6.3)


def stuff(chunk: bytes, at_line_start: bool) -> bytes:
    """One chunk of a whole message in wire form; at_line_start: the previous chunk ended
    in LF (or this is the first). Empty lines never get a dot; "." alone becomes ".."."""
    out = chunk.replace(b"\n.", b"\n..").replace(b"\n", b"\r\n")
    if at_line_start and chunk[:1] == b".":
        out = b"." + out
    return out


def blast(chunks: Iterable[bytes], body_lines: int | None = None) -> Iterator[bytes]:
    """The whole message (body_lines None), or the header, the empty line and at most
    body_lines lines of the body (TOP), followed by TERMINATOR."""
    if body_lines is None:
        at_line_start = True
        for chunk in chunks:
            if chunk:
                yield stuff(chunk, at_line_start)
                at_line_start = chunk.endswith(b"\n")
        yield TERMINATOR if at_line_start else b"\r\n" + TERMINATOR
    else:
        yield from _top(chunks, body_lines)
        yield TERMINATOR


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Stored lines with their LF; the last one may lack it. Linear in the message size,
    however long its lines (a line spanning many chunks is collected in one bytearray)."""
    partial = bytearray()
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                partial += chunk[start:]
                break
            if partial:
                partial += chunk[start:end + 1]
                yield bytes(partial)
                partial.clear()
            else:
                yield chunk[start:end + 1]
            start = end + 1
    if partial:
        yield bytes(partial)


def _top(chunks: Iterable[bytes], body_lines: int) -> Iterator[bytes]:
    # As qmail-pop3d's blast(): limit = k + 1, counted down on every line after the header.
    limit = body_lines + 1
    in_headers = True
    out = []
    for line in _lines(chunks):
        text = line[:-1] if line.endswith(b"\n") else line
        if not in_headers:
            limit -= 1
            if not limit:
                break
        if not text:
            in_headers = False
        elif text[:1] == b".":
            out.append(b".")
        out.append(text)
        out.append(b"\r\n")
        if len(out) > 1024:
            yield b"".join(out)
            out = []
    if out:
        yield b"".join(out)
