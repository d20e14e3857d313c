"""qmail-pop3d MAILDIRNAME: the POP3 transaction phase over a Maildir (spec/qmail.md §6).

argv: the Maildir's name relative to the cwd (checkpassword leaves us in $HOME).
fds 0/1: the client (timeouts of 1200 s per read and write); fd 2: the log.
Environment: not read. Exit: 0 (QUIT, EOF, timeout, SIGALRM, a client gone, no Maildir); 1
when run as uid 0 (notqmail), after `qmail-pop3d invoked as uid 0, terminating` on fd 2.
Nothing is committed unless the client says QUIT (§6.4).
"""
import _signal          # the C module: signal.py would import enum
import os
import sys
import time

from qmail import maildir
from qmail.die import write_all
from qmail.pop3.commands import Hangup, Reply
from qmail.pop3.pop3d import (ERR_NOMAILDIR, ERR_SCAN, OK, ROOT, Commit, Pop3Connection,
                              SendMessage)
from qmail.pop3.stuffing import blast
from qmail.wire import Timeout, Wire, WireClosed

TIMEOUT = 1200
CHUNK = 1 << 16


class _ReadError(Exception):
    """A message file failed mid-read: the process ends without completing the reply."""


def _chunks(fd: int):
    while True:
        try:
            chunk = os.read(fd, CHUNK)
        except OSError as e:
            raise _ReadError() from e
        if not chunk:
            return
        yield chunk


def send_message(wire: Wire, path: bytes, body_lines: int | None) -> bool:
    """OK and the message in wire form; False when the file cannot be opened (§6.3)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        chunks = _chunks(fd)
        try:
            first = next(chunks, b"")
        except _ReadError:
            wire.write(OK, flush=True)      # the C's okay() has flushed it (a directory
            raise                           # in new/ is listed, opens, and fails to read)
        wire.write(OK)
        for data in blast(_prepend(first, chunks), body_lines):
            wire.write(data)
    finally:
        os.close(fd)
    return True


def _prepend(first: bytes, rest):
    yield first
    yield from rest


def serve(conn: Pop3Connection, wire: Wire, messages: list[maildir.Message]) -> int:
    while True:
        for effect in conn.effects():
            match effect:
                case Reply(data):
                    wire.write(data)
                case SendMessage(index, body_lines):
                    if not send_message(wire, messages[index].path, body_lines):
                        conn.open_failed()
                case Commit(deleted):
                    conn.committed(maildir.commit(messages, frozenset(deleted)))
                case Hangup(status):
                    wire.flush()
                    return status
        try:
            conn.receive_data(wire.read())     # flushes the replies first (§1.3)
        except Timeout:
            conn.timed_out()


CLOCK_REALTIME_COARSE = 5      # Linux


def now() -> int:
    """time(NULL) as the C gets it: glibc's time() reads the kernel's coarse clock, which
    lags the precise one (time.time()) by up to a tick, so near a second boundary the
    current second of §6.1 item 4 is the earlier one."""
    try:
        return int(time.clock_gettime(CLOCK_REALTIME_COARSE))
    except OSError:
        return int(time.time())


def _alarm(signum, frame) -> None:
    os._exit(0)         # qmail-pop3d's sig_alarmcatch(die): nothing committed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    _signal.signal(_signal.SIGALRM, _alarm)
    if os.getuid() == 0:
        write_all(2, ROOT)
        return 1
    wire = Wire(TIMEOUT, read_size=4096, buffer_size=CHUNK)
    try:
        if len(argv) < 2:
            wire.write(ERR_NOMAILDIR, flush=True)
            return 0
        try:
            os.chdir(argv[1])
        except OSError:
            wire.write(ERR_NOMAILDIR, flush=True)
            return 0
        maildir.clean_tmp(now())
        try:
            messages = maildir.scan(now())                  # now() again, as maildir_scan()
        except OSError:
            wire.write(ERR_SCAN, flush=True)
            return 0
        conn = Pop3Connection([m.size for m in messages], [m.uid for m in messages])
        return serve(conn, wire, messages)
    except (Timeout, WireClosed, _ReadError):
        return 0       # qmail-pop3d's die(): silently, nothing committed


if __name__ == "__main__":
    sys.exit(main())
