"""qmail-qread: list the messages in the queue and their recipients (spec/qmail.md §12.1).

For each message in info/ (directory order):
    `D Mon YYYY HH:MM:SS GMT  #N  SIZE  <SENDER> ` [+ ` bouncing`]
then per recipient of local/N and remote/N: TAB local|remote TAB address (pending) or
`  done` TAB local|remote TAB address. Bytes outside 0x20-0x7E print as `_`. Everything,
warnings and fatal errors too, goes to stdout. Exit 0; 111 with `fatal: unable to chdir: ...`
or `fatal: unable to opendir info/N: ...`.
Must run as a user that can read the queue (root, qmails).
"""
import os
import sys

from qmail.queue import date822
from qmail.queuefs import fmtqfn, read_split_dir
from rules.errors import djb_error


def printable(s: bytes) -> bytes:
    return bytes(c if 32 <= c <= 126 else 0x5F for c in s)


def stats_line(qtime: float, id_: int, size: int, sender: bytes, bouncing: bool) -> bytes:
    """The message line, printable() applied, with its LF."""
    line = (date822(qtime)[:-7] + b" GMT  #%d  %d  <" % (id_, size) + sender + b"> "
            + (b" bouncing" if bouncing else b""))
    return printable(line) + b"\n"


def recipient_lines(records: bytes, channel: bytes) -> bytes:
    out = bytearray()
    for rec in records.split(b"\0")[:-1]:
        if rec[:1] == b"D":
            out += b"  done"
        elif rec[:1] != b"T":
            continue
        out += b"\t" + channel + b"\t" + printable(rec[1:]) + b"\n"
    return bytes(out)


def message_report(id_: int) -> bytes:
    """The lines for message ID (cwd: queue/), or a warning line."""
    try:
        size = os.stat(fmtqfn("mess/", id_, True)).st_size
        bouncing = os.path.exists(fmtqfn("bounce/", id_, False))
        with open(fmtqfn("info/", id_, True), "rb") as f:
            qtime = os.fstat(f.fileno()).st_mtime
            sender = f.read().split(b"\0", 1)[0]
    except OSError as e:
        return b"warning: trouble with #%d: %s\n" % (id_, djb_error(e).encode())
    out = stats_line(qtime, id_, size, sender[1:], bouncing)
    for prefix, name in (("local/", b"local"), ("remote/", b"remote")):
        try:
            with open(fmtqfn(prefix, id_, True), "rb") as f:
                out += recipient_lines(f.read(), name)
        except FileNotFoundError:
            pass
        except OSError as e:
            out += b"warning: trouble with #%d: %s\n" % (id_, djb_error(e).encode())
    return out


class _Fatal(Exception):
    pass


def die_opendir(path: str, error: OSError) -> bool:
    """qmail-qread's die_opendir(): on stdout, like everything else it says; exit 111."""
    raise _Fatal(b"fatal: unable to opendir %s: %s\n" % (path.encode(), djb_error(error).encode()))


def main(argv=None) -> int:
    from qmail.control import qmail_home
    from qmail.die import write_all
    try:
        os.chdir(qmail_home())
        os.chdir("queue")
    except OSError as e:
        write_all(1, b"fatal: unable to chdir: %s\n" % djb_error(e).encode())
        return 111
    out = bytearray()
    try:
        for id_ in read_split_dir("info", die_opendir):
            out += message_report(id_)
            if len(out) > 65536:
                write_all(1, bytes(out))
                out.clear()
    except _Fatal as e:
        write_all(1, bytes(out) + e.args[0])
        return 111
    write_all(1, bytes(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
