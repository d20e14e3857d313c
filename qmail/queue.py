"""qmail-queue: put one message into qmail's queue (spec/qmail.md §3).

fd 0: the message, read to end of file. fd 1: the envelope, read after fd 0 hits EOF:
`F` sender NUL, `T` recipient NUL ..., a final NUL (each address at most 1002 bytes).
It prints nothing. Exit: 0 queued; 11 address too long; 51 no memory; 52 timeout (24 h);
53 write error; 54 read error; 61 no $QMAILHOME; 62 no queue/; 63 pid/ trouble or no
queue daemon; 64 mess/; 65 intd/; 66 todo/; 81 internal bug; 91 envelope format error.
Environment: $QMAILHOME (default /var/qmail); PYQMAIL_QUEUE_CRASH_AT (test hook, below).
(fd 6 and exit 82 belong to substitutes named by $QMAILQUEUE; qmail-queue never uses them.)

Crash safety. Exit 0 comes only after the mess file and intd/N are written and fsynced,
the mess file's directory is fsynced, todo/N is linked and todo/ fsynced (intd/N's own name
is not needed by delivery: qmail-send reads todo/N, qmail-clean ignores a missing intd/N;
docs/queue.md).
qmail-send sees a message only through todo/N, whose link is the last step, so a kill -9 at
any moment leaves either nothing visible to delivery (leftovers in pid/, mess/, intd/ are
removed by qmail-send/qmail-clean's cleanup after 36 hours, as in qmail) or the whole
message. A message linked into todo/ just before a crash is complete but unacknowledged:
the client sees 451 and may send it again (qmail has the same window).

Privilege. The C qmail-queue is setuid qmailq so that anyone can queue mail while only
qmailq can write queue/. Python cannot run setuid scripts, so qmail-queue works in one of
two ways, chosen at every run:
- direct: the caller may write queue/pid (it is qmailq, or root, or the queue belongs to
  the caller as in a test's scratch $QMAILHOME): it writes the queue itself; root first
  takes the uid and gid of queue/'s owner, so the files belong to qmailq as with the C;
- through qmail-queued: otherwise it connects to the Unix socket $QMAILHOME/queued/socket,
  passes its fds 0 and 1 there (SCM_RIGHTS) and exits with the one-byte status it gets back.
  qmail-queued (qmail/queued.py, started by qmail-start as qmailq) forks a worker per
  connection that reads the message and envelope straight from those fds and writes the
  queue exactly as the direct way does, with the caller's uid and pid taken from the
  kernel (SO_PEERCRED), so `u<uid>` and the Received line cannot be forged. See
  docs/queue.md.

Test hook. PYQMAIL_QUEUE_CRASH_AT=K makes the process writing the queue SIGKILL itself
right after step K (CRASH_STEPS below); it costs one integer comparison per step.
"""
import _signal as signal       # the C module: `signal` imports enum, 3 ms per message
import os
import time

from qmail.queuefs import SPLIT, TRIGGER, trigger_pull

ADDR = 1003                    # an address of ADDR bytes or more: exit 11
DEATH = 86400                  # 24 hours; below qmail-send's OSSIFIED (36 hours)
SOCKET = "queued/socket"       # relative to $QMAILHOME
CRASH_ENV = "PYQMAIL_QUEUE_CRASH_AT"

EXIT_OK, EXIT_TOOLONG, EXIT_NOMEM, EXIT_TIMEOUT = 0, 11, 51, 52
EXIT_WRITE, EXIT_READ, EXIT_HOME, EXIT_QUEUE = 53, 54, 61, 62
EXIT_PID, EXIT_MESS, EXIT_INTD, EXIT_TODO, EXIT_BUG, EXIT_FORMAT = 63, 64, 65, 66, 81, 91

CRASH_STEPS = {
    1: "pid/ file created",
    2: "mess file linked (pid file still there)",
    3: "pid file unlinked",
    4: "Received line and first block of the message written, not fsynced",
    5: "mess file complete and fsynced",
    6: "mess/N%23 directory fsynced",
    7: "intd/N created, empty",
    8: "intd/N written and fsynced",
    9: "envelope stored, todo/N not yet linked",
    10: "todo/N linked, todo/ not yet fsynced",
    11: "todo/ fsynced",
    12: "trigger pulled, before exit 0",
}

_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct",
           b"Nov", b"Dec")


def date822(now: float) -> bytes:
    """qmail's date822fmt: `24 Nov 2026 20:50:16 -0000` LF (UTC, no weekday)."""
    t = time.gmtime(now)
    return b"%d %s %d %02d:%02d:%02d -0000\n" % (t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
                                                 t.tm_hour, t.tm_min, t.tm_sec)


def invoked(uid: int, alias: int | None, qmaild: int | None, qmails: int | None) -> bytes:
    """How qmail-queue was invoked, from the caller's real uid (§3.3)."""
    if uid == alias:
        return b"by alias"
    if uid == qmaild:
        return b"from network"
    if uid == qmails:
        return b"for bounce"
    return b"by uid %d" % uid


def received_line(pid: int, how: bytes, now: float) -> bytes:
    """`Received: (qmail PID invoked HOW); DATE` LF (§3.3)."""
    return b"Received: (qmail %d invoked %s); %s" % (pid, how, date822(now))


class Envelope:
    """The envelope reader of §3.1 as a byte machine: feed() chunks, then feed(b"") at EOF.

    feed() returns None while more input is needed, else the exit status: 0 (the final NUL
    was read; `records` holds the F and T records to store), 11, 91 or 54 (EOF too early).
    Bytes after the final NUL are ignored.
    """

    def __init__(self) -> None:
        self.records = bytearray()
        self._buf = b""
        self._in_addr = False      # inside an address (after its F/T byte)
        self._first = True         # the next record must be F
        self.status: int | None = None

    def feed(self, data: bytes) -> int | None:
        if self.status is not None:
            return self.status
        if not data:
            self.status = EXIT_READ
            return self.status
        buf = self._buf + data
        pos = 0
        while pos < len(buf):
            if not self._in_addr:
                kind = buf[pos:pos + 1]
                if self._first:
                    if kind != b"F":
                        return self._done(EXIT_FORMAT)
                    self._first = False
                elif kind == b"\0":
                    return self._done(EXIT_OK)
                elif kind != b"T":
                    return self._done(EXIT_FORMAT)
                self.records += kind
                self._in_addr = True
                pos += 1
                continue
            nul = buf.find(b"\0", pos, pos + ADDR)
            if nul < 0:
                if len(buf) - pos >= ADDR:
                    return self._done(EXIT_TOOLONG)
                break
            self.records += buf[pos:nul + 1]
            self._in_addr = False
            pos = nul + 1
        self._buf = buf[pos:]      # a partial address, kept until its NUL arrives
        return None

    def _done(self, status: int) -> int:
        self.status = status
        self._buf = b""
        return status


class _Crash:
    """The PYQMAIL_QUEUE_CRASH_AT hook: step(k) kills the process after step K."""

    def __init__(self, environ) -> None:
        value = environ.get(CRASH_ENV, "")
        self.at = int(value) if value.isdigit() else 0

    def step(self, k: int) -> None:
        if k == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


class QueueError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _fsync_dir(path: str, dir_fd: int | None = None) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


BLOCK = 65536                  # the message goes to disk in blocks of this size


class MessageWriter:
    """Steps 2-6 of §3.2 in the queue directory QUEUE (a directory fd, None: the current
    directory), cut where the data arrives: open() makes the mess file, write() appends the
    message, commit() stores the envelope and links todo/N, abort() removes what open() made.
    QueueError(status) from open() and write(); commit() returns the exit status.

    OWNER, if given, is the (uid, gid) the new files are given: root writing the queue from a
    process that keeps running as root (a warm qmail-smtpd) hands them to the queue's owner
    as the setuid C qmail-queue would have created them; a process that became the owner
    (qmail-queue, qmail-queued) passes None.
    """

    def __init__(self, uid: int, pid: int, now: float, how: bytes, crash: _Crash,
                 queue: int | None = None, owner: tuple[int, int] | None = None) -> None:
        self.uid, self.pid, self.now, self.how, self.crash = uid, pid, now, how, crash
        self.dir, self.owner = queue, owner
        self.messfd = self.intdfd = None
        self.made: list[str] = []      # files to remove if we fail
        self.pending = bytearray()
        self.first = True              # no block written yet (crash step 4)
        self.num = 0

    def open(self) -> None:
        pidfn = self._create_pid_file()
        crash, d = self.crash, self.dir
        crash.step(1)
        try:
            try:
                self.num = num = os.fstat(self.messfd).st_ino
            except OSError:
                raise QueueError(EXIT_PID) from None
            self.split = "%d" % (num % SPLIT)
            messfn = "mess/%s/%d" % (self.split, num)
            try:
                os.link(pidfn, messfn, src_dir_fd=d, dst_dir_fd=d)
            except OSError:
                raise QueueError(EXIT_MESS) from None
            self.made.append(messfn)
            crash.step(2)
            try:
                os.unlink(pidfn, dir_fd=d)
            except OSError:
                raise QueueError(EXIT_PID) from None
            pidfn = None
            crash.step(3)
            self.pending += received_line(self.pid, self.how, self.now)
        except QueueError:
            self.abort()
            raise
        finally:
            if pidfn is not None:
                try:
                    os.unlink(pidfn, dir_fd=d)
                except OSError:
                    pass

    def _create_pid_file(self) -> str:
        for seq in range(1, 10):
            pidfn = "pid/%d.%d.%d" % (os.getpid(), int(self.now), seq)
            try:
                self.messfd = os.open(pidfn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                                      dir_fd=self.dir)
            except OSError:
                continue
            if not self._own(self.messfd):
                os.unlink(pidfn, dir_fd=self.dir)
                os.close(self.messfd)
                self.messfd = None
                break
            return pidfn
        raise QueueError(EXIT_PID)

    def _own(self, fd: int) -> bool:
        if self.owner is not None:
            try:
                os.fchown(fd, *self.owner)
                os.fchmod(fd, 0o644)   # whatever the caller's umask: delivery reads it
            except OSError:
                return False
        return True

    def write(self, data) -> None:
        self.pending += data
        if len(self.pending) >= BLOCK:
            self._flush()

    def _flush(self) -> None:
        try:
            _write_all(self.messfd, self.pending)
        except OSError:
            raise QueueError(EXIT_WRITE) from None
        self.pending.clear()
        if self.first:
            self.first = False
            self.crash.step(4)

    def commit(self, envelope, still_wanted=None) -> int:
        """ENVELOPE() -> (status, F and T records) is called once intd/N exists, as
        qmail-queue reads its fd 1 only then. STILL_WANTED, if given, is asked just before
        todo/N is linked: False (the caller has gone) abandons the message instead of
        queueing one nobody was told about."""
        crash, d, num = self.crash, self.dir, self.num
        intdfn, todofn = "intd/%d" % num, "todo/%d" % num
        try:
            self._flush()
            try:
                os.fsync(self.messfd)
            except OSError:
                raise QueueError(EXIT_WRITE) from None
            crash.step(5)
            try:
                _fsync_dir("mess/" + self.split, d)
            except OSError:
                raise QueueError(EXIT_WRITE) from None
            crash.step(6)
            try:
                self.intdfd = os.open(intdfn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                                      dir_fd=d)
            except OSError:
                raise QueueError(EXIT_INTD) from None
            self.made.append(intdfn)
            if not self._own(self.intdfd):
                raise QueueError(EXIT_INTD)
            crash.step(7)
            status, records = envelope()
            if status:
                raise QueueError(status)
            try:
                _write_all(self.intdfd, b"u%d\0p%d\0%s" % (self.uid, self.pid, records))
                os.fsync(self.intdfd)
            except OSError:
                raise QueueError(EXIT_WRITE) from None
            crash.step(8)
            if still_wanted is not None and not still_wanted():
                raise QueueError(EXIT_READ)
            crash.step(9)
            try:
                os.link(intdfn, todofn, src_dir_fd=d, dst_dir_fd=d)
            except OSError:
                raise QueueError(EXIT_TODO) from None
            self.made = []             # queued: from now on nothing is removed
            crash.step(10)
            try:
                _fsync_dir("todo", d)
            except OSError:
                # todo/N exists but may not survive a power failure: report a temporary
                # failure (the client retries; at worst the message is delivered twice)
                return EXIT_WRITE
            crash.step(11)
            trigger_pull(TRIGGER, d)
            crash.step(12)
            return EXIT_OK
        except QueueError as e:
            return e.code
        finally:
            self.abort()

    def abort(self) -> None:
        """Remove the files made so far (none once todo/N is linked) and close."""
        for fn in reversed(self.made):
            try:
                os.unlink(fn, dir_fd=self.dir)
            except OSError:
                pass
        self.made = []
        for fd in (self.messfd, self.intdfd):
            if fd is not None:
                os.close(fd)
        self.messfd = self.intdfd = None


def enqueue(fd_mess: int, fd_env: int, uid: int, pid: int, now: float, how: bytes,
            crash: _Crash, still_wanted=None) -> int:
    """qmail-queue's work in the current directory (queue/): the message from FD_MESS, then
    the envelope from FD_ENV; returns the exit status (MessageWriter, STILL_WANTED)."""
    writer = MessageWriter(uid, pid, now, how, crash)
    try:
        writer.open()
        _copy_message(fd_mess, writer)
    except QueueError as e:
        writer.abort()
        return e.code
    return writer.commit(lambda: _read_envelope(fd_env), still_wanted)


def _copy_message(fd_in: int, writer: MessageWriter) -> None:
    """fd 0 to EOF into the mess file; read errors 54, write errors 53."""
    while True:
        try:
            data = os.read(fd_in, BLOCK)
        except OSError:
            raise QueueError(EXIT_READ) from None
        if not data:
            return
        writer.write(data)


def _read_envelope(fd: int) -> tuple[int, bytes]:
    env = Envelope()
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            return EXIT_READ, b""
        status = env.feed(data)
        if status is not None:
            return status, bytes(env.records)


def _uid_of(name: str) -> int | None:
    import pwd                 # not qmail.users: its dataclasses cost 10 ms per message
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


_accounts: tuple | None = None     # (alias, qmaild, qmails) uids, once prepare() has run


def prepare() -> None:
    """For a process that forks queue writers (a warm qmail-smtpd server, qmail-queued): look
    up the alias, qmaild and qmails uids once, before forking, instead of three getpwnam() per
    message (with `passwd: files systemd` each one that is missing costs some 50 system calls
    and loads the NSS modules in every child). The C has these uids compiled in (auto_uids.c),
    so looking them up when the server starts is closer to it than looking up per message."""
    global _accounts
    if _accounts is None:
        _accounts = (_uid_of("alias"), _uid_of("qmaild"), _uid_of("qmails"))


def _how(uid: int) -> bytes:
    if _accounts is None:
        return invoked(uid, _uid_of("alias"), _uid_of("qmaild"), _uid_of("qmails"))
    return invoked(uid, *_accounts)


def _alarm(signum, frame) -> None:
    os._exit(EXIT_TIMEOUT)     # thou shalt not clean up here (qmail-queue.c)


def _become_queue_owner() -> None:
    """Root writing the queue directly takes the queue owner's uid and gid first, as the
    setuid C program runs as qmailq: messages must belong to qmailq (qmail-lspawn and
    qmail-rspawn refuse others). The real uid recorded in intd/N was read before."""
    if os.geteuid() != 0:
        return
    st = os.stat(".")
    if st.st_uid == 0:
        return
    os.setgroups([])
    os.setgid(st.st_gid)
    os.setuid(st.st_uid)


def _can_write_queue() -> bool:
    return os.access("pid", os.W_OK | os.X_OK) and os.access("mess", os.X_OK)


def main(argv=None) -> int:
    from qmail.control import qmail_home
    return run(qmail_home(), _Crash(os.environ))


def run(home: str, crash: _Crash) -> int:
    """main() once $QMAILHOME and the crash hook are read from the environment: qmail-smtpd
    reads them before forking its qmail-queue, which then touches (and copies) fewer pages."""
    os.umask(0o033)
    try:
        os.chdir(home)
    except OSError:
        return EXIT_HOME
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(DEATH)
    try:
        try:
            os.chdir("queue")
        except OSError:
            if os.path.exists(SOCKET):
                return via_daemon(SOCKET)
            return EXIT_QUEUE
        if not _can_write_queue():
            if os.path.exists(os.path.join("..", SOCKET)):
                return via_daemon(os.path.join("..", SOCKET))
            return EXIT_PID
        uid, pid, now = os.getuid(), os.getpid(), time.time()
        how = _how(uid)
        _become_queue_owner()
        return enqueue(0, 1, uid, pid, now, how, crash)
    except MemoryError:
        return EXIT_NOMEM
    except Exception:
        return EXIT_BUG


def via_daemon(path: str) -> int:
    """Hand fds 0 and 1 to qmail-queued; its one-byte answer is our exit status."""
    sock = hand_to_daemon(path, 0, 1)
    return EXIT_PID if sock is None else daemon_answer(sock)


def hand_to_daemon(path: str, message: int, envelope: int):
    """Connect to qmail-queued at PATH and pass it the fds MESSAGE and ENVELOPE (read ends);
    the connection, or None when the daemon cannot be reached."""
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        socket.send_fds(sock, [b"Q"], [message, envelope])
    except OSError:
        sock.close()
        return None
    return sock


def daemon_answer(sock) -> int:
    """qmail-queued's one-byte answer on SOCK (closed after): the exit status; 81 when the
    connection ends without one, 63 when it fails."""
    try:
        answer = sock.recv(1)
    except OSError:
        return EXIT_PID
    finally:
        sock.close()
    return answer[0] if answer else EXIT_BUG


if __name__ == "__main__":
    raise SystemExit(main())
