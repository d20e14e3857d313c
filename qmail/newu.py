"""qmail-newu: compile $QMAILHOME/users/assign into users/cdb (spec/qmail.md §10.1).

assign lines, up to a line starting with `.`:
    =local:user:uid:gid:home:dash:ext:      exact address local (key `!local` NUL)
    +prefix:user:uid:gid:home:dash:pre:     every address starting with prefix (key `!prefix`)
Keys are lowercased; the record under the empty key lists the last byte of every wildcard
prefix (qmail-lspawn only tries prefixes ending in one of them). Writes users/cdb.tmp,
fsyncs, renames. Errors: `qmail-newu: fatal: ...` on stderr, exit 111.
"""
import os

from qmail.die import Fatal, run

PROG = "qmail-newu"


def compile_assign(data: bytes) -> list[tuple[bytes, bytes]]:
    """users/assign -> cdb records, in file order, the wildcard-characters record last.

    Raises ValueError for qmail-newu's `bad format in users/assign`."""
    records = []
    wildchars = bytearray()
    lines = data.split(b"\n")
    for k, line in enumerate(lines):
        last = k == len(lines) - 1
        if line[:1] == b".":
            break
        if last:                       # a final line without LF (or nothing after the last LF)
            raise ValueError("bad format")
        if b"\0" in line:
            raise ValueError("bad format")
        i = line.find(b":")
        if i <= 0:
            raise ValueError("bad format")
        if line[:1] == b"+":
            key = (b"!" + line[1:i]).lower()
            if i >= 2 and line[i - 1] not in wildchars:
                wildchars.append(line[i - 1])
        else:
            key = (b"!" + line[1:i] + b"\0").lower()
        fields = line[i + 1:].split(b":")
        if len(fields) < 7:
            raise ValueError("bad format")
        records.append((key, b"\0".join(fields[:6])))
    records.append((b"", bytes(wildchars)))
    return records


def main(argv=None) -> int:
    def go() -> int:
        from qmail.control import qmail_home
        os.umask(0o033)
        try:
            os.chdir(qmail_home())
        except OSError:
            raise Fatal("unable to chdir") from None
        try:
            with open("users/assign", "rb") as f:
                try:
                    data = f.read()
                except OSError:
                    raise Fatal("unable to read users/assign") from None
        except OSError:
            raise Fatal("unable to open users/assign") from None
        try:
            fd = os.open("users/cdb.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError:
            raise Fatal("unable to open users/cdb.tmp") from None
        try:
            records = compile_assign(data)
        except ValueError:
            os.close(fd)
            raise Fatal("bad format in users/assign") from None
        import cdblib
        try:
            with os.fdopen(fd, "wb") as f:
                writer = cdblib.Writer(f)
                for key, value in records:
                    writer.put(key, value)
                writer.finalize()
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            raise Fatal("unable to write users/cdb.tmp") from None
        try:
            os.rename("users/cdb.tmp", "users/cdb")
        except OSError:
            raise Fatal("unable to move users/cdb.tmp to users/cdb") from None
        return 0
    return run(PROG, go)


if __name__ == "__main__":
    raise SystemExit(main())
