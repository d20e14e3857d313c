"""The deliveries qmail-local performs, and running qmail-queue (spec/qmail.md §3.1, §10.3, §11).

Every failure is a Failure(code, text) with qmail-local's text; the message is read from a
seekable fd (0), rewound before each delivery. Imports stay light: this runs once per delivery.
"""
import errno
import os
import _signal   # the signal module imports enum: 3 ms per delivery
signal = _signal
import sys
import time

from qmail.qq import ERRTEXT_MAX, close_text
from rules.errors import djb_error

EXIT_PERM, EXIT_TEMP = 100, 111
BUFSIZE = 65536

# spec/qmail.md §11, §10.3 (qmail-local's texts)
MAILDIR_CHDIR = b"Unable to chdir to maildir. (#4.2.1)"
MAILDIR_TIMEOUT = b"Timeout on maildir delivery. (#4.3.0)"
MAILDIR_READ = b"Unable to read message. (#4.3.0)"
MAILDIR_TEMP = b"Temporary error on maildir delivery. (#4.3.0)"
SLOW_LOCK = b"File has been locked for 30 seconds straight. (#4.3.0)"
REWIND = b"Unable to rewind message. (#4.3.0)"
CHILD_CRASHED = b"Aack, child crashed. (#4.3.0)"

_TEMP_ERRNOS = frozenset({
    errno.EINTR, errno.ENOMEM, errno.ETXTBSY, errno.EIO, errno.ETIMEDOUT, errno.EAGAIN,
    errno.EDEADLK, errno.EBUSY, errno.ENFILE, errno.EMFILE, errno.EFBIG, errno.ENOSPC,
    errno.ENETDOWN, errno.ENETUNREACH, errno.ENETRESET, errno.ECONNABORTED, errno.ECONNRESET,
    errno.ENOBUFS, errno.ECONNREFUSED, errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.EUSERS,
    errno.EDQUOT, errno.ESTALE, errno.ENOLCK,
})


class Failure(Exception):
    """A delivery failed: exit CODE (100 permanent, 111 temporary) after printing TEXT."""

    def __init__(self, code: int, text: bytes) -> None:
        super().__init__(text)
        self.code, self.text = code, text


class _Alarm(Exception):
    pass


def error_temp(err: OSError) -> bool:
    """djb's error_temp(): is this errno a temporary condition?"""
    return err.errno in _TEMP_ERRNOS


def err_text(err: OSError) -> bytes:
    return djb_error(err).encode()


def rewind(fd: int = 0) -> None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        raise Failure(EXIT_TEMP, REWIND) from None


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _on_alarm(signum, frame):
    raise _Alarm()


def unique_name(now: float, pid: int, host: bytes) -> bytes:
    """qmail-local's Maildir file name: TIME.PID.HOST, Unix seconds, the delivering process
    and the host name (up to 64 bytes) as they are (§11, qmail-local.c maildir_child)."""
    return b"%d.%d.%s" % (int(now), pid, host)


def maildir(path: bytes, rpline: bytes, dtline: bytes, fd: int = 0) -> None:
    """tmp/NAME exclusively, Return-Path + Delivered-To + message, fsync, link to new/NAME (§11)."""
    rewind(fd)
    try:
        dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise Failure(EXIT_TEMP, MAILDIR_TEMP if error_temp(e) else MAILDIR_CHDIR) from None
    host = os.uname().nodename.encode()[:64]
    created = None                  # the tmp file we made: removed at the end, whatever happens
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(86400)
    try:
        for loop in range(3):
            name = unique_name(time.time(), os.getpid(), host)
            tmpname, newname = b"tmp/" + name, b"new/" + name
            # The C forks a child (a new pid) for every Maildir line; we deliver them all in
            # one process, so a name already in new/ is a collision too.
            try:
                os.stat(tmpname, dir_fd=dirfd)
            except FileNotFoundError:
                try:
                    os.stat(newname, dir_fd=dirfd)
                except FileNotFoundError:
                    break
                except OSError:
                    raise Failure(EXIT_TEMP, MAILDIR_TEMP) from None
            except OSError:
                raise Failure(EXIT_TEMP, MAILDIR_TEMP) from None
            if loop == 2:
                raise Failure(EXIT_TEMP, MAILDIR_TEMP)
            time.sleep(2)
        try:
            out = os.open(tmpname, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dirfd)
        except OSError:
            raise Failure(EXIT_TEMP, MAILDIR_TEMP) from None
        created = tmpname
        try:
            try:
                write_all(out, rpline + dtline)
                while True:
                    try:
                        data = os.read(fd, BUFSIZE)
                    except OSError:
                        raise Failure(EXIT_TEMP, MAILDIR_READ) from None
                    if not data:
                        break
                    write_all(out, data)
                os.fsync(out)
            finally:
                os.close(out)
            os.link(tmpname, newname, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            newdir = os.open(b"new", os.O_RDONLY | os.O_DIRECTORY, dir_fd=dirfd)
            try:
                os.fsync(newdir)
            finally:
                os.close(newdir)
        except OSError:
            raise Failure(EXIT_TEMP, MAILDIR_TEMP) from None
    except _Alarm:
        raise Failure(EXIT_TEMP, MAILDIR_TIMEOUT) from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if created is not None:
            try:
                os.unlink(created, dir_fd=dirfd)
            except OSError:
                pass
        os.close(dirfd)


def mbox(path: bytes, ufline: bytes, rpline: bytes, dtline: bytes, fd: int = 0) -> None:
    """Append under flock: From_ line, Return-Path, Delivered-To, the message with >From
    quoting, a final LF if needed, an empty line; on error truncate back (§10.3)."""
    import fcntl

    rewind(fd)
    try:
        out = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as e:
        raise Failure(EXIT_TEMP, b"Unable to open %s: %s. (#4.2.1)" % (path, err_text(e))) from None
    locked = False
    pos = 0
    old = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        signal.alarm(30)
        try:
            fcntl.flock(out, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        finally:
            signal.alarm(0)
    except _Alarm:
        os.close(out)
        raise Failure(EXIT_TEMP, SLOW_LOCK) from None
    finally:
        signal.signal(signal.SIGALRM, old)
    try:
        pos = os.lseek(out, 0, os.SEEK_END)
        buf = bytearray(ufline + rpline + dtline)
        rest = b""
        while True:
            try:
                data = os.read(fd, BUFSIZE)
            except OSError as e:
                _truncate(out, pos, locked)
                raise Failure(EXIT_TEMP, b"Unable to read message: %s. (#4.3.0)" % err_text(e)) \
                    from None
            if not data:
                break
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if is_from(line):
                    buf += b">"
                buf += line + b"\n"
            if len(buf) >= BUFSIZE:
                write_all(out, buf)
                buf.clear()
        if rest:
            if is_from(rest):
                buf += b">"
            buf += rest + b"\n"
        buf += b"\n"
        write_all(out, buf)
        os.fsync(out)
    except OSError as e:
        _truncate(out, pos, locked)
        raise Failure(EXIT_TEMP, b"Unable to write %s: %s. (#4.3.0)" % (path, err_text(e))) \
            from None
    os.close(out)


def is_from(line: bytes) -> bool:
    return line.lstrip(b">").startswith(b"From ")


def _truncate(out: int, pos: int, locked: bool) -> None:
    if locked:
        try:
            os.ftruncate(out, pos)
        except OSError:
            pass
    os.close(out)


def program(command: bytes, env: dict[bytes, bytes], fd: int = 0) -> int:
    """Run /bin/sh -c COMMAND with the message on fd 0 (rewound); its exit code (§10.3)."""
    rewind(fd)
    try:
        pid = os.posix_spawn(b"/bin/sh", [b"/bin/sh", b"-c", command], env,
                             setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as e:
        raise Failure(EXIT_TEMP, b"Unable to run /bin/sh: %s. (#4.3.0)" % err_text(e)) from None
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise Failure(EXIT_TEMP, CHILD_CRASHED)
    return os.WEXITSTATUS(status)


def queue_program() -> str:
    """$QMAILQUEUE, else $QMAILHOME/bin/qmail-queue if present, else our own qmail-queue (§3.1).
    A set but empty $QMAILQUEUE is a program that cannot be run, as in qmail.c."""
    program = os.environ.get("QMAILQUEUE")
    if program is not None:
        return program
    home = os.environ.get("QMAILHOME") or "/var/qmail"
    installed = os.path.join(home, "bin", "qmail-queue")
    if os.path.exists(installed):
        return installed
    return os.path.join(os.path.dirname(sys.executable), "qmail-queue")


class Queue:
    """One run of qmail-queue: message bytes on its fd 0, then the envelope on its fd 1; an
    error text may come back on its fd 6."""

    def __init__(self) -> None:
        self.write_failed = False
        mess_r, self._mess = os.pipe()
        env_r, self._env = os.pipe()
        self._err, err_w = os.pipe()
        home = os.environ.get("QMAILHOME") or "/var/qmail"
        program = queue_program()
        here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        self._spawn_failed = 0
        try:
            try:
                os.chdir(home)         # qmail.c runs the queue program in the qmail home
            except OSError:
                self.pid = 0
                self._spawn_failed = 61         # the C child exits 61
            if not self._spawn_failed:
                self._spawn(program, mess_r, env_r, err_w)
        finally:
            os.fchdir(here)
            os.close(here)
            os.close(mess_r)
            os.close(env_r)
            os.close(err_w)
        self._buf = bytearray()

    def _spawn(self, program: str, mess_r: int, env_r: int, err_w: int) -> None:
        """execv(program) with the pipes on fds 0, 1 and 6; if it cannot run, the C child
        exits 120 (`Zunable to exec qq`)."""
        try:
            self.pid = os.posix_spawn(
                program, [program], os.environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, mess_r, 0),
                              (os.POSIX_SPAWN_DUP2, env_r, 1),
                              (os.POSIX_SPAWN_DUP2, err_w, 6)],
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
        except (OSError, ValueError):     # ValueError: an empty $QMAILQUEUE
            self.pid = 0
            self._spawn_failed = 120

    @property
    def qp(self) -> int:
        return self.pid

    def put(self, data: bytes) -> None:
        if self.write_failed:
            return
        self._buf += data
        if len(self._buf) >= BUFSIZE:
            self._flush(self._mess)

    def fail(self) -> None:
        self.write_failed = True

    def _flush(self, fd: int) -> None:
        try:
            write_all(fd, self._buf)
        except OSError:
            self.write_failed = True
        self._buf.clear()

    def close(self, sender: bytes, recipients: list[bytes]) -> bytes:
        """Send the envelope, wait; qmail_close()'s result ("" or a D/Z text)."""
        if not self.write_failed:
            self._flush(self._mess)
        self._buf.clear()
        os.close(self._mess)
        self._buf += b"F" + sender + b"\0"
        for recipient in recipients:
            self._buf += b"T" + recipient + b"\0"
        self._buf += b"\0"
        if not self.write_failed:
            self._flush(self._env)
        os.close(self._env)
        errtext = bytearray()
        try:
            while chunk := os.read(self._err, 1024):
                errtext += chunk[:ERRTEXT_MAX - len(errtext)]
        except OSError:
            pass
        os.close(self._err)
        if self._spawn_failed:
            return close_text(self._spawn_failed << 8, self.write_failed)
        _, status = os.waitpid(self.pid, 0)
        return close_text(status, self.write_failed, bytes(errtext))


def run_child(argv: list[bytes]) -> int | None:
    """fork + execvp(argv) + wait as the qmail helpers do: the exit code, None if the child
    crashed; a failed exec counts as exit 111 (temporary errno) or 100 (djb's error_temp)."""
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ,
                              setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as e:
        return EXIT_TEMP if error_temp(e) else EXIT_PERM
    except ValueError:                  # an empty program name: execvp() fails, ENOENT
        return EXIT_PERM
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return None
    return os.WEXITSTATUS(status)


def die(prog: bytes, text: bytes, code: int) -> int:
    """strerr_die: `PROG: TEXT` LF on fd 2; returns CODE for main() to exit with."""
    try:
        write_all(2, prog + text + b"\n")
    except OSError:
        pass
    return code
