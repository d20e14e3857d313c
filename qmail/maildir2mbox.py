"""maildir2mbox: move every message of $MAILDIR (new/ and cur/, oldest first) to the end of
the mbox $MAIL, through the temporary file $MAILTMP (same filesystem), then delete them.

The mbox is locked (flock) while $MAILTMP is written and renamed over it. Each message gets a
`From ` line from its Return-Path line and its mtime, `>From ` quoting and an empty line after
it. As in the C, a final line without LF is left out. Exit 0, or 111 with
`maildir2mbox: fatal: ...` on fd 2.
"""
import os
import time

from qmail.delivery import EXIT_TEMP, die, err_text, write_all
from qmail.dotqmail import is_from_line, myctime

FATAL = b"maildir2mbox: fatal: "
WARNING = b"maildir2mbox: warning: "
OLD_TMP = 36 * 3600


class Trouble(Exception):
    pass


def from_line(first: bytes, complete: bool, mtime: float) -> bytes:
    """`From SENDER DATE` LF from the message's first line (maildir2mbox.c's rules)."""
    ufline = b"From XXX "
    if complete and first.startswith(b"Return-Path: <"):
        if first[14:15] == b">":
            ufline = b"From MAILER-DAEMON "
        else:
            who = first[14:len(first) - 2].replace(b" ", b"-").replace(b"\t", b"-")
            ufline = b"From " + who + b" "
    return ufline + myctime(mtime)


def convert(message: bytes, mtime: float) -> bytes:
    """One message as it goes into the mbox."""
    lines = message.split(b"\n")
    complete = lines[:-1]                       # the last piece lacks LF (maybe empty)
    first = complete[0] + b"\n" if complete else lines[0]
    out = [from_line(first, bool(complete), mtime)]
    for line in complete:
        out.append((b">" if is_from_line(line) else b"") + line + b"\n")
    out.append(b"\n")
    return b"".join(out)


def scan() -> list[tuple[float, bytes]]:
    """(mtime, name) of new/ and cur/ messages, oldest first; clears old tmp/ files."""
    now = time.time()
    try:
        for name in os.listdir(b"tmp"):
            try:
                st = os.stat(b"tmp/" + name)
                if now > st.st_atime + OLD_TMP:
                    os.unlink(b"tmp/" + name)
            except OSError:
                pass
    except OSError:
        pass
    found = []
    for sub in (b"new", b"cur"):
        try:
            names = os.listdir(sub)
        except OSError as e:
            raise Trouble(b"unable to scan $MAILDIR/%s: %s" % (sub, err_text(e))) from None
        for name in names:
            if name.startswith(b"."):
                continue
            path = sub + b"/" + name
            try:
                found.append((os.stat(path).st_mtime, path))
            except OSError:
                continue
    found.sort()
    return found


def run() -> int:
    import fcntl

    os.umask(0o077)
    mbox = os.environb.get(b"MAIL")
    if mbox is None:
        raise Trouble(b"MAIL not set")
    mboxtmp = os.environb.get(b"MAILTMP")
    if mboxtmp is None:
        raise Trouble(b"MAILTMP not set")
    maildir = os.environb.get(b"MAILDIR")
    if maildir is None:
        raise Trouble(b"MAILDIR not set")
    try:
        os.chdir(maildir)
    except OSError as e:
        raise Trouble(b"unable to chdir to %s: %s" % (maildir, err_text(e))) from None
    messages = scan()
    if not messages:
        return 0
    try:
        lock = os.open(mbox, os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
    except OSError as e:
        raise Trouble(b"unable to lock %s: %s" % (mbox, err_text(e))) from None
    try:
        old = open(mbox, "rb")
    except OSError as e:
        raise Trouble(b"unable to read %s: %s" % (mbox, err_text(e))) from None
    try:
        new = os.open(mboxtmp, os.O_WRONLY | os.O_NONBLOCK | os.O_TRUNC | os.O_CREAT, 0o644)
    except OSError as e:
        raise Trouble(b"unable to create %s: %s" % (mboxtmp, err_text(e))) from None

    def put(data: bytes) -> None:
        try:
            write_all(new, data)
        except OSError as e:
            raise Trouble(b"unable to write to %s: %s" % (mboxtmp, err_text(e))) from None

    while True:
        try:
            data = old.read(65536)
        except OSError as e:
            raise Trouble(b"unable to read %s: %s" % (mbox, err_text(e))) from None
        if not data:
            break
        put(data)
    for mtime, path in messages:
        try:
            with open(path, "rb") as f:
                message = f.read()
        except OSError as e:
            raise Trouble(b"unable to read $MAILDIR/%s: %s" % (path, err_text(e))) from None
        put(convert(message, mtime))
    try:
        os.fsync(new)
        os.close(new)
    except OSError as e:
        raise Trouble(b"unable to write to %s: %s" % (mboxtmp, err_text(e))) from None
    try:
        os.rename(mboxtmp, mbox)
    except OSError as e:
        raise Trouble(b"unable to move %s to %s: %s" % (mboxtmp, mbox, err_text(e))) from None
    for _, path in messages:
        try:
            os.unlink(path)
        except OSError as e:
            write_all(2, WARNING + b"$MAILDIR/%s will be delivered twice; unable to unlink: %s\n"
                      % (path, err_text(e)))
    return 0


def main(argv: list[str] | None = None) -> int:
    # maildir2mbox takes no arguments
    try:
        return run()
    except Trouble as e:
        return die(FATAL, e.args[0], EXIT_TEMP)
