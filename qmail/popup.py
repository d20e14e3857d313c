"""qmail-popup HOSTNAME SUBPROGRAM [ARGS...]: the POP3 authorization phase (spec/qmail.md §4).

fds 0/1: the client (timeouts of 1200 s per read and write). The subprogram gets fds 0/1/2
as they are and a pipe as fd 3 carrying user NUL password NUL <stamp> NUL (§4.4).
Environment: not read (passed on to the subprogram). Exit: always 1 (SIGALRM too, as in the C).
When the subprogram is our own vchkpw or checkpassword, a forked child runs it in-process
(no fresh interpreter), with what the exec'd program would get.

Input is read without read-ahead: on a socket the line end is found with MSG_PEEK and only
that much is taken; on anything else one byte at a time. So whatever a client pipelines after
PASS/APOP stays in the socket for the subprogram (§4.4 item 6). The password is wiped from
our buffers once it is written to the pipe.
"""
import _signal          # the C module: signal.py would import enum
import os
import select
import sys
import time

from qmail.die import write_all
from qmail.pop3.commands import Hangup, Reply
from qmail.pop3.popup import (ERR_FORK, ERR_PIPE, ERR_USAGE, ERR_WRITE,
                              Authenticate, PopupConnection)
from qmail.wire import Timeout, Wire, WireClosed

TIMEOUT = 1200
SIGPIPE, SIGXFSZ = 13, 25     # Linux numbers; the child gets their defaults back (STYLE §2)
PIPE_BUF = 4096               # a pipe holds at least this much (POSIX)


class _Die(Exception):
    """Reply with this -ERR text and exit 1 (qmail-popup's die_*())."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(reply)
        self.reply = reply


class LineReader:
    """Reads fd 0 no further than the next LF."""

    def __init__(self, fd: int, timeout: float) -> None:
        self.fd, self.timeout = fd, timeout
        self.buf = bytearray(1024)
        self.sock = None
        try:
            import _socket      # the C module only: socket.py would add selectors and enum
            self._peek = _socket.MSG_PEEK
            self.sock = _socket.socket(fileno=fd)
        except (ImportError, OSError):
            self.sock = None

    def read(self) -> memoryview:
        """Bytes up to and including the next LF (or all there are, with no LF among them);
        empty at end of input or on a read error. The view is into self.buf: copy it."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        if not poller.poll(int(self.timeout * 1000)):
            raise Timeout()
        view = memoryview(self.buf)
        try:
            if self.sock is None:
                return view[:os.readv(self.fd, [view[:1]])]
            n = self.sock.recv_into(self.buf, len(self.buf), self._peek)
            if n:
                end = self.buf.find(b"\n", 0, n)
                n = self.sock.recv_into(self.buf, n if end < 0 else end + 1)
            return view[:n]
        except OSError:
            return view[:0]

    def wipe(self) -> None:
        self.buf[:] = bytes(len(self.buf))

    def drain(self, limit: int = 1 << 16) -> None:
        """Discard input already sent: closing a socket with unread bytes makes the kernel
        reset the connection, and the client could lose our last reply (the C qmail-popup
        has usually swallowed them into its 128-byte buffer)."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        try:
            while limit > 0 and poller.poll(0):
                n = os.readv(self.fd, [self.buf])
                if n <= 0:
                    return
                limit -= n
        except OSError:
            pass

    def close(self) -> None:
        if self.sock is not None:
            self.sock.detach()      # fd 0 stays open: it is the client
            self.sock = None


def _write_payload(w: int, auth: Authenticate) -> None:
    """user NUL password NUL stamp NUL into the pipe, then close it and wipe the password."""
    payload = auth.payload()
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(w, view):]
    except OSError:
        raise _Die(ERR_WRITE) from None
    finally:
        payload[:] = bytes(len(payload))
        if isinstance(auth.password, bytearray):
            auth.password[:] = bytes(len(auth.password))
        os.close(w)


CHECKERS = {"vchkpw": b"from qmail.vchkpw import main",      # what pip's console scripts
            "checkpassword": b"from qmail.checkpassword import main"}     # import


def our_checker(name: str) -> tuple[str, str] | None:
    """(path, module) when execvp(name) would run our own vchkpw or checkpassword console
    script (the one next to our interpreter): the first executable file execvp's PATH
    search finds (default /bin:/usr/bin)."""
    if "/" in name:
        candidates = [name]
    else:
        path = os.environ.get("PATH", "/bin:/usr/bin")
        candidates = [os.path.join(entry, name) for entry in path.split(":")]
    bindir = os.path.dirname(sys.executable)
    for candidate in candidates:
        try:
            if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
                continue                    # execvp goes on past ENOENT, EACCES ...
            real = os.path.realpath(candidate)
            for module, line in CHECKERS.items():
                if real == os.path.realpath(os.path.join(bindir, module)):
                    with open(candidate, "rb") as f:
                        head = f.read(512)
                    if head.startswith(b"#!") and line in head:
                        return candidate, module
        except OSError:
            pass
        return None                         # ... and runs the first executable file
    return None


def _fork_checker(path: str, module: str, argv: list[str]) -> int:
    """Our vchkpw/checkpassword in a forked child instead of a fresh interpreter: what the
    exec'd program gets (argv, environment, fds 0-3, a fresh Python's signal dispositions:
    SIGPIPE and SIGXFSZ ignored, as here), its exit code as the child's."""
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)       # as in a fresh interpreter
        sys.argv = [path, *argv[1:]]
        if module == "vchkpw":
            from qmail.vchkpw import main
        else:
            from qmail.checkpassword import main
        status = main(sys.argv)
    except SystemExit as e:
        status = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()      # as an exec'd interpreter would, exit 1
    finally:
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
        finally:
            os._exit(status & 0xFF)


def hand_off(auth: Authenticate, subprogram: list[str]) -> tuple[bool, int]:
    """Run the subprogram with the pipe as fd 3 (§4.4); (crashed, exit code)."""
    try:
        os.close(3)
    except OSError:
        pass
    try:
        r, w = os.pipe()
    except OSError:
        raise _Die(ERR_PIPE) from None
    if r != 3:          # fd 0, 1 or 2 is closed: the C gives up rather than move the pipe
        os.close(r)
        os.close(w)
        raise _Die(ERR_PIPE)
    # What fits in the pipe is written before the child starts, so a child that exits
    # without reading cannot turn its verdict into "unable to write pipe" (a race in the C).
    early = len(auth.user) + len(auth.password) + len(auth.stamp) + 3 <= PIPE_BUF
    if early:
        _write_payload(w, auth)
    os.set_inheritable(3, True)
    ours = our_checker(subprogram[0]) if early else None
    try:
        if ours is not None:
            pid = _fork_checker(*ours, subprogram)
        else:
            pid = os.posix_spawnp(subprogram[0], subprogram, os.environ,
                                  setsigdef=(SIGPIPE, SIGXFSZ))
    except OSError as e:
        os.close(r)
        if not early:
            os.close(w)
        if e.errno in (11, 12):           # EAGAIN, ENOMEM: fork itself failed
            raise _Die(ERR_FORK) from None
        return False, 1         # the C child's execvp failed: _exit(1)
    except ValueError:          # an empty program name: execvp("") fails with ENOENT
        os.close(r)
        if not early:
            os.close(w)
        return False, 1
    os.close(r)
    if not early:
        _write_payload(w, auth)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        raise _Die(b"") from None          # the C dies silently when wait fails
    if os.WIFSIGNALED(status):
        return True, 0
    return False, os.waitstatus_to_exitcode(status)


def serve(conn: PopupConnection, wire: Wire, reader: LineReader, subprogram: list[str]) -> int:
    while True:
        for effect in conn.effects():
            match effect:
                case Reply(data):
                    wire.write(data, flush=True)
                case Authenticate():
                    conn.wipe()         # before the hand-off: nothing of the password is
                    reader.wipe()       # left for a forked child (it is in `effect` only)
                    crashed, code = hand_off(effect, subprogram)
                    conn.subprogram_done(crashed, code)
                case Hangup(status):
                    wire.flush()
                    reader.drain()
                    return status
        try:
            conn.receive_data(reader.read())
        except Timeout:
            conn.timed_out()


def _alarm(signum, frame) -> None:
    os._exit(1)         # qmail-popup's sig_alarmcatch(die)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    _signal.signal(_signal.SIGALRM, _alarm)
    if len(argv) < 3:
        write_all(1, ERR_USAGE)
        return 1
    try:        # the C's now(): time(NULL), the kernel's coarse clock (see qmail/pop3d.py)
        when = int(time.clock_gettime(5))        # CLOCK_REALTIME_COARSE on Linux
    except OSError:
        when = int(time.time())
    conn = PopupConnection(os.fsencode(argv[1]), os.getpid(), when)
    wire = Wire(TIMEOUT)
    reader = LineReader(0, TIMEOUT)
    try:
        return serve(conn, wire, reader, argv[2:])
    except _Die as e:
        write_all(1, e.reply)
        return 1
    except (Timeout, WireClosed):
        return 1
    finally:
        reader.close()


if __name__ == "__main__":
    sys.exit(main())
