"""The one module that imports cdblib (pure-cdb): read a cdb the way djb's cdb_find does, and
replace a cdb atomically (write the temporary file, fsync, rename).

Errors are OSError with the errno the C programs report (spec/ucspi-tcp.md §1.9, §3.1):
ENOENT, EISDIR, EINVAL for a 0-byte file, EPROTO for a lookup that reads past the end.
"""
import errno
import mmap
import os
import stat
import struct
from collections.abc import Iterable

import cdblib

_PAIR = struct.Struct("<LL")
_MMAP_OVER = 1 << 16           # smaller files are read whole: cheaper per connection


class _CdbReader(cdblib.Reader):
    """cdblib's Reader with cdb_find's exact bounds: every read outside the file is EPROTO, a
    probe visits each slot of its table at most once (cdblib's own loop never ends on a table
    with no empty slot), and a file shorter than the 2048-byte header still answers the keys
    whose header slot it holds, as the C reader does."""

    def __init__(self, data) -> None:  # noqa: D107 - deliberately skips the eager index read
        self.data = data
        self.file_obj = self.mmap_obj = None
        cdblib.cdblib._CDBBase.__init__(self, strict=True)

    def _pair(self, pos: int) -> tuple[int, int]:
        if pos + 8 > len(self.data):
            raise OSError(errno.EPROTO, os.strerror(errno.EPROTO))
        return _PAIR.unpack_from(self.data, pos)

    def _bytes(self, pos: int, length: int) -> bytes:
        if pos + length > len(self.data):
            raise OSError(errno.EPROTO, os.strerror(errno.EPROTO))
        return bytes(self.data[pos:pos + length])

    def gets(self, key: bytes):
        key, h = self.hash_key(key)
        table_pos, slots = self._pair((h << 3) & 2047)
        if not slots:
            return
        slot = table_pos + (((h >> 8) % slots) << 3)
        table_end = table_pos + (slots << 3)
        for _ in range(slots):
            slot_hash, pos = self._pair(slot)
            if not pos:
                return
            slot += 8
            if slot == table_end:
                slot = table_pos
            if slot_hash == h:
                klen, dlen = self._pair(pos)
                if klen == len(key) and self._bytes(pos + 8, klen) == key:
                    yield self._bytes(pos + 8 + klen, dlen)


def open_cdb(path: str | bytes) -> _CdbReader:
    """A reader for PATH; OSError as the C programs see it (ENOENT, EISDIR, EINVAL if empty)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        size = info.st_size
        if size == 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), path)
        if size > _MMAP_OVER:
            return _CdbReader(mmap.mmap(fd, 0, access=mmap.ACCESS_READ))
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return _CdbReader(b"".join(chunks))
    finally:
        os.close(fd)


def find_rule(path: str | bytes, keys: Iterable[bytes]) -> tuple[bytes, bytes] | None:
    """The first of KEYS present in the cdb at PATH and its data, or None (§3)."""
    reader = open_cdb(path)
    for key in keys:
        data = reader.get(key)
        if data is not None:
            return key, data
    return None


def get(path: str | bytes, key: bytes) -> bytes | None:
    """The data of the first record for KEY in the cdb at PATH, or None."""
    return open_cdb(path).get(key)


class CdbWriter:
    """A cdb built in TMP and renamed over the target, in tcprules' steps (§2.1):
    create() truncates TMP first; add(); finish() writes the tables and fsyncs; rename()."""

    def __init__(self, tmp: str | bytes) -> None:
        self.tmp = tmp
        self._file = None
        self._writer = None

    def create(self) -> None:
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self._file = os.fdopen(fd, "wb", buffering=1 << 16)
        self._writer = cdblib.Writer(self._file, strict=True)

    def add(self, key: bytes, data: bytes) -> None:
        self._writer.put(key, data)

    def finish(self) -> None:
        self._writer.finalize()
        self._file.flush()
        os.fsync(self._file.fileno())
        self.close()

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                pass

    def rename(self, target: str | bytes) -> None:
        os.rename(self.tmp, target)


def replace_cdb(target: str | bytes, tmp: str | bytes, records: Iterable[tuple[bytes, bytes]]) -> None:
    """Write RECORDS (in order) to TMP, fsync, rename over TARGET. Any error escapes before the
    rename, so TARGET keeps its old contents."""
    writer = CdbWriter(tmp)
    writer.create()
    try:
        for key, data in records:
            writer.add(key, data)
        writer.finish()
    finally:
        writer.close()
    writer.rename(target)
