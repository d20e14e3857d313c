"""tcprules rules.cdb rules.tmp: compile the rules text on fd 0 into rules.cdb (spec/ucspi-tcp.md §2).

argv: the cdb and the temporary file; no options. fd 0: the rules text (fd $TCPRULES_INPUT_FD
instead when our launcher scripts/tcprules had to move a directory off fd 0). fd 2: errors.
Exit: 0 done; 100 usage or a line that does not parse; 111 a system failure.
Order as in the C: create/truncate tmp, read and parse, write, fsync, rename. On any error the
target is untouched and tmp stays behind, holding what the C program would have flushed.
"""
import io
import os
import sys

import cdblib

from rules.cdb import CdbWriter
from rules.records import compile_rules
from rules.syntax import ParseError
from tcpserver.die import EXIT_PERM, Fatal, Usage, djb_error, run

USAGE = "tcprules rules.cdb rules.tmp"
BUFFER = 8192        # djb's cdb_make output buffer: what is on disk when tcprules dies early
HEADER = 2048        # cdb_make_start seeks past the header without writing it


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return run("tcprules", lambda: _tcprules([os.fsencode(a) for a in args]))


def _tcprules(args: list[bytes]) -> int:
    if len(args) < 2:
        raise Usage(USAGE, "tcprules")
    target, tmp = args[0], args[1]
    fd = _create(tmp)
    try:
        text = _read_input(int(os.environ.pop("TCPRULES_INPUT_FD", "0")))
        stream = io.BytesIO()
        writer = cdblib.Writer(stream, strict=True)
        put = writer.put
        try:
            for key, data in compile_rules(text):
                put(key, data)
        except ParseError as e:
            _flush_partial(fd, tmp, stream.getbuffer()[HEADER:])
            raise Fatal(b"unable to parse this line: " + e.line, EXIT_PERM) from None
        writer.finalize()
        _write_all(fd, tmp, stream.getbuffer())
        try:
            os.fsync(fd)
        except OSError as e:
            raise _write_error(tmp, e) from None
    finally:
        fd = _close(fd, tmp)
    try:
        CdbWriter(tmp).rename(target)
    except OSError as e:
        raise Fatal(b"unable to move %s to %s: %s" % (tmp, target, djb_error(e).encode())) from None
    return 0


def _create(tmp: bytes) -> int:
    try:
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        raise Fatal(b"unable to create %s: %s" % (tmp, djb_error(e).encode())) from None


def _read_input(fd: int) -> bytes:
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError as e:
        raise Fatal("unable to read input: " + djb_error(e)) from None
    return b"".join(chunks)


def _flush_partial(fd: int, tmp: bytes, body) -> None:
    """Leave tmp as the C leaves it: only full 8192-byte buffers written, after a 2048-byte hole."""
    flushed = (len(body) - 1) // BUFFER * BUFFER if body else 0
    if flushed:
        os.lseek(fd, HEADER, os.SEEK_SET)
        _write_all(fd, tmp, body[:flushed])


def _write_all(fd: int, tmp: bytes, data) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:
        raise _write_error(tmp, e) from None


def _write_error(tmp: bytes, err: OSError) -> Fatal:
    return Fatal(b"unable to write to %s: %s" % (tmp, djb_error(err).encode()))


def _close(fd: int, tmp: bytes) -> int:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError as e:
            raise _write_error(tmp, e) from None
    return -1
