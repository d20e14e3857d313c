"""qmail-newmrh: control/morercpthosts -> control/morercpthosts.cdb (spec/qmail.md §2.9).

No arguments; the environment is read only for $QMAILHOME. Keys are the lowercased lines
(trailing spaces, tabs and newline stripped; empty lines and lines starting `#` skipped),
values empty, in file order (duplicates kept). Written to control/morercpthosts.tmp, fsynced,
renamed over control/morercpthosts.cdb; any failure leaves the old cdb untouched.
Exit: 0, or 111 with `qmail-newmrh: fatal: ...` on fd 2.
"""
import os
import sys

from qmail.control import qmail_home
from qmail.die import Fatal, djb_error, run

PROG = "qmail-newmrh"
SOURCE = "control/morercpthosts"
TMP = "control/morercpthosts.tmp"
TARGET = "control/morercpthosts.cdb"


class _ReadError(Exception):
    pass


def keys(lines) -> list[bytes]:
    """The cdb keys of morercpthosts' LINES (each with or without its LF)."""
    result = []
    for line in lines:
        line = line.lower().rstrip(b" \t\n")
        if line and line[:1] != b"#":
            result.append(line)
    return result


def _read_lines(f):
    while True:
        try:
            line = f.readline()
        except OSError as e:
            raise _ReadError() from e
        if not line:
            return
        yield line


def newmrh() -> int:
    from rules.cdb import CdbWriter
    os.umask(0o033)
    home = qmail_home()
    try:
        os.chdir(home)
    except OSError as e:
        raise Fatal("unable to chdir to %s: %s" % (home, djb_error(e))) from None
    try:
        source = open(SOURCE, "rb")
    except OSError as e:
        raise Fatal("unable to read %s: %s" % (SOURCE, djb_error(e))) from None
    with source:
        writer = CdbWriter(TMP)
        try:
            writer.create()
            for line in _read_lines(source):
                for key in keys([line]):
                    writer.add(key, b"")
            writer.finish()
        except _ReadError as e:
            raise Fatal("unable to read %s: %s" % (SOURCE, djb_error(e.__cause__))) from None
        except OSError as e:
            raise Fatal("unable to write to %s: %s" % (TMP, djb_error(e))) from None
        finally:
            writer.close()
    try:
        writer.rename(TARGET)
    except OSError as e:
        # the C passes no ": " before the error text here (strerr_die2sys)
        raise Fatal("unable to move %s to %s%s" % (TMP, TARGET, djb_error(e))) from None
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(PROG, newmrh)


if __name__ == "__main__":
    sys.exit(main())
