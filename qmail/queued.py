"""qmail-queued: the privileged half of qmail-queue for callers that may not write the queue.

Run as the queue's owner (qmailq; qmail-start starts it). Listens on the Unix socket
$QMAILHOME/queued/socket (mode 0666: anyone may queue mail, as anyone may run the setuid C
qmail-queue). A caller (our qmail-queue, when it cannot write queue/pid itself) connects and
passes its fds 0 and 1 with SCM_RIGHTS; a forked worker reads the message and envelope
straight from them, writes the queue exactly as qmail-queue does (qmail/queue.py enqueue(),
same files, same fsyncs, same crash hook), and answers one byte: qmail-queue's exit status.
The caller's uid and pid come from the kernel (SO_PEERCRED), never from the caller. If the
caller is gone before todo/N would be linked, the worker drops the message (nobody was told
it was accepted).

argv: `-w` (as qmail-start runs it): also exit when fd 0 reaches end of file, i.e. when
qmail-send, which holds the other end, is gone. Exit: 0 after SIGTERM (or -w's EOF); 111 with `qmail-queued: fatal: ...` if it cannot start.
"""
import os
import select
import signal
import socket
import struct
import sys
import time

from qmail.die import Fatal, djb_error, run
from qmail.queue import (DEATH, EXIT_BUG, EXIT_NOMEM, SOCKET, _alarm, _Crash, _how,
                         enqueue, prepare)

PROG = "qmail-queued"


def _peer(conn: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end (SO_PEERCRED)."""
    pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                         struct.calcsize("3i")))
    return pid, uid


def _still_connected(conn: socket.socket):
    def check() -> bool:
        p = select.poll()
        p.register(conn, select.POLLIN | getattr(select, "POLLRDHUP", 0))
        gone = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)
        return not any(ev & gone for _fd, ev in p.poll(0))
    return check


def serve(conn: socket.socket) -> int:
    """One caller, in a forked worker whose cwd is queue/: returns the status sent back."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(DEATH)
    try:
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 16, 4)
        if len(fds) != 2:
            status = EXIT_BUG
        else:
            pid, uid = _peer(conn)
            status = enqueue(fds[0], fds[1], uid, pid, time.time(), _how(uid),
                             _Crash(os.environ), _still_connected(conn))
    except MemoryError:
        status = EXIT_NOMEM
    except Exception:
        status = EXIT_BUG
    try:
        conn.sendall(bytes([status]))
    except OSError:
        pass
    return status


class _Stop(Exception):
    pass


def _stop(signum, frame) -> None:
    raise _Stop


def _reap(signum, frame) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _fork_worker(listener: socket.socket, conn: socket.socket) -> None:
    try:
        pid = os.fork()
    except OSError:
        conn.close()               # the caller gets no answer: qmail-queue exits 81
        return
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        listener.close()
        serve(conn)
        os._exit(0)
    conn.close()


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    watch = "-w" in argv[1:]

    def go() -> int:
        from qmail.control import qmail_home
        os.umask(0o033)
        try:
            os.chdir(qmail_home())
        except OSError as e:
            raise Fatal("unable to chdir to home: %s" % djb_error(e)) from None
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                os.unlink(SOCKET)
            except FileNotFoundError:
                pass
            listener.bind(SOCKET)
            os.chmod(SOCKET, 0o666)
            listener.listen(128)
            os.chdir("queue")
        except OSError as e:
            raise Fatal("unable to listen on %s: %s" % (SOCKET, djb_error(e))) from None
        signal.signal(signal.SIGCHLD, _reap)
        signal.signal(signal.SIGTERM, _stop)
        prepare()                          # the accounts, once: workers are forked from here
        try:
            while True:
                if watch:
                    ready, _, _ = select.select([listener, 0], [], [])
                    if 0 in ready and not os.read(0, 512):
                        break
                    if listener not in ready:
                        continue
                try:
                    conn, _ = listener.accept()
                except OSError:
                    time.sleep(0.1)        # EMFILE and friends: do not spin
                    continue
                _fork_worker(listener, conn)
        except _Stop:
            pass
        listener.close()
        try:
            os.unlink(os.path.join("..", SOCKET))
        except OSError:
            pass
        return 0

    return run(PROG, go)


if __name__ == "__main__":
    sys.exit(main())
