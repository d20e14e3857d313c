"""qmail-smtpd [CHECKPASSWORD SUBPROGRAM...]: receive mail over SMTP (spec/qmail.md §2).

fds 0/1: the client (tcpserver's socket). fd 2: inherited, never written.
Arguments: none (stock notqmail 1.09, byte for byte), or the seed's SMTP AUTH form
`qmail-smtpd CHECKPASSWORD SUBPROGRAM` (§2.14): AUTH LOGIN/PLAIN/CRAM-MD5 checked by running
the arguments with `user NUL password NUL challenge NUL` on their fd 3.
Environment (read at each call of main()): TCPREMOTEIP, TCPREMOTEHOST, TCPREMOTEINFO,
TCPLOCALHOST, TCPLOCALIP, RELAYCLIENT, DATABYTES, QMAILQUEUE, QMAILHOME.
Control files under $QMAILHOME/control: me, smtpgreeting, localiphost, timeoutsmtpd, rcpthosts,
morercpthosts.cdb, badmailfrom, databytes.
Exit: 0 after QUIT; 1 on end of input, timeouts, I/O errors, bare LF, 421 conditions (§2.12).

The queue program (§2.10.6) is $QMAILQUEUE if set, else bin/qmail-queue, else (CONTRACT.md)
our own qmail-queue from this installation; the program's fds are 0 = message, 1 = envelope,
6 = error text. When the program is our own qmail-queue, it runs without exec, the way it would
choose itself (docs/queue.md): in this process (LocalQueue) when this process may write the
queue; else this process hands the pipes to qmail-queued, as qmail-queue would; with no daemon
to take them, a forked qmail-queue reports the failure. Our qmail-queue is not setuid, so the
exec'd script would make the same choice with the same uid; what differs is only the pid in
the queue's Received line and `qp` (this process's).

main() reads everything at call time and returns the exit status, so a warm server may import
this module once and call main() in a forked child per connection (prepare() pre-imports what
a message needs).
"""
import os
import sys
import time

from qmail import control
from qmail.smtp import replies as R
from qmail.smtp.address import rcpthosts_allows
from qmail.smtp.connection import (AUTH_NO_CHILD, AUTH_NO_PIPE, AUTH_WAIT_FAILED,
                                   AUTH_WRITE_FAILED, BODY, SmtpConnection)
from qmail.smtp.effects import (Authenticate, Authenticated, CloseQueue, Hangup, OpenQueue,
                                Pause, QueueBytes, Reply, SmtpConfig)
from qmail.wire import Timeout, Wire, WireClosed

COMMAND_READ, DATA_READ = 1024, 1 << 16        # the C reads 1024; DATA has no replies to pace
QUEUE_BUFFER = 1 << 16
ERRTEXT_MAX = 255                              # bytes of fd 6 kept (§2.10.6)
EXEC_FAILED = 120 << 8                         # the C child's _exit(120) when execv fails
_FORK_FAILED = (11, 12)                        # EAGAIN ENOMEM: posix_spawn could not fork;
                                               # any other error is the exec's (the C child's)


def scan_ulong(value: bytes) -> int:
    """djb's scan_ulong: the leading decimal digits (0 if none), modulo 2**64."""
    digits = len(value) - len(value.lstrip(b"0123456789"))
    return int(value[:digits]) % (1 << 64) if digits else 0


# --- control files and environment (§2.1, §2.2) --------------------------------------------

def load_config(environ, childargs: list) -> tuple[SmtpConfig, int]:
    """setup(): the core's settings and timeoutsmtpd; ControlError when a control file
    exists but cannot be read."""
    me = control.read_line("me")
    greeting = control.read_line("smtpgreeting", me)
    if greeting is None:
        raise control.ControlError("smtpgreeting")
    localiphost = control.read_line("localiphost", me)
    timeout = control.read_int("timeoutsmtpd", 1200) & 0xFFFFFFFF    # the C's int
    if timeout >= 1 << 31:
        timeout -= 1 << 32
    rcpthosts = control.read_list("rcpthosts")
    more = None
    if rcpthosts is not None:
        rcpthosts = frozenset(line.lower() for line in rcpthosts)
        more = _morercpthosts(control.control_path("morercpthosts.cdb"))
    bmf = control.read_list("badmailfrom")
    databytes = control.read_int("databytes", 0) & 0xFFFFFFFF
    value = environ.get(b"DATABYTES")
    if value is not None:
        databytes = scan_ulong(value) & 0xFFFFFFFF
    if databytes == 0xFFFFFFFF:
        databytes -= 1
    local = environ.get(b"TCPLOCALHOST")
    if local is None:
        local = environ.get(b"TCPLOCALIP", b"unknown")

    def rcpt_allowed(addr: bytes) -> bool | None:
        return rcpthosts_allows(addr, rcpthosts, more)

    config = SmtpConfig(
        greeting=greeting, local=local,
        remoteip=environ.get(b"TCPREMOTEIP", b"unknown"),
        remotehost=environ.get(b"TCPREMOTEHOST", b"unknown"),
        remoteinfo=environ.get(b"TCPREMOTEINFO"), relayclient=environ.get(b"RELAYCLIENT"),
        databytes=databytes,
        badmailfrom=frozenset(line.lower() for line in bmf or ()),
        rcpt_allowed=rcpt_allowed, localiphost=localiphost, is_local_ip=LocalIps(),
        auth=bool(childargs), pid=os.getpid())
    return config, max(timeout, 1)


def _morercpthosts(path: str):
    """A lookup in morercpthosts.cdb, opened at start as the C does (absent: None)."""
    try:
        os.close(os.open(path, os.O_RDONLY))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise control.ControlError("morercpthosts.cdb") from e
    reader = []

    def more(key: bytes) -> bool | None:
        try:
            if not reader:
                from rules.cdb import open_cdb
                reader.append(open_cdb(path))
            return reader[0].get(key) is not None
        except OSError:
            return None                        # cdb_seek error: 421 mid-session (§2.3)
    return more


class LocalIps:
    """ipme: this machine's IPv4 addresses plus 0.0.0.0, enumerated on first use (§2.7)."""

    def __init__(self) -> None:
        self._ips: set | None = None

    def __call__(self, ip: bytes) -> bool:
        if self._ips is None:
            self._ips = my_ipv4_addresses()
        return ip in self._ips


def my_ipv4_addresses() -> set:
    """ipme_init(): 0.0.0.0 plus the IPv4 address of every interface entry SIOCGIFCONF lists
    (alias labels such as eth0:1 included) whose SIOCGIFFLAGS has IFF_UP."""
    import _socket
    import array
    import fcntl
    import struct
    siocgifconf, siocgifflags, iff_up, ifreq = 0x8912, 0x8913, 0x1, 40
    ips = {b"\0\0\0\0"}
    try:
        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    except OSError:
        return ips
    try:
        size = 256
        while True:                            # the C grows its buffer until the list fits
            buf = array.array("B", bytes(size))
            request = struct.pack("iL", size, buf.buffer_info()[0])
            used = struct.unpack("iL", fcntl.ioctl(sock.fileno(), siocgifconf, request))[0]
            if used + ifreq + 64 < size:
                break
            size += 256
        data = buf.tobytes()[:used]
        for offset in range(0, used - ifreq + 1, ifreq):
            entry = data[offset:offset + ifreq]
            if struct.unpack_from("H", entry, 16)[0] != _socket.AF_INET:
                continue
            try:
                flags = fcntl.ioctl(sock.fileno(), siocgifflags, entry[:16] + bytes(24))
            except OSError:
                continue
            if struct.unpack_from("H", flags, 16)[0] & iff_up:
                ips.add(entry[20:24])
    except OSError:
        pass
    finally:
        sock.close()
    return ips


# --- the queue program (§2.10.6) ----------------------------------------------------------

def our_queue_program() -> str:
    """This installation's qmail-queue script: next to our own script (sys.argv[0]), else
    next to the interpreter (a virtual environment's bin/)."""
    here = os.path.dirname(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    for directory in (here, os.path.dirname(sys.executable)):
        if directory:
            path = os.path.join(directory, "qmail-queue")
            if os.path.exists(path):
                return path
    return os.path.join(os.path.dirname(sys.executable), "qmail-queue")


_ours_cache: list = [None, ""]         # [sys.argv[0], our_queue_program()] of the last call


def _our_program() -> str:
    key = sys.argv[0] if sys.argv else ""
    if _ours_cache[0] != key:
        _ours_cache[:] = [key, our_queue_program()]
    return _ours_cache[1]


def queue_program(environ) -> tuple[bytes, bool]:
    """(program to run, whether it is our own qmail-queue). A relative path is relative to
    $QMAILHOME, the current directory, as in the C."""
    program = environ.get(b"QMAILQUEUE")
    if program is not None:
        return program, False
    ours = _our_program()
    try:                                   # the usual case in two stat() calls
        there, mine = os.stat("bin/qmail-queue"), os.stat(ours)
        if there.st_ino == mine.st_ino and there.st_dev == mine.st_dev:
            return os.fsencode(ours), True
    except OSError:
        pass
    if os.path.lexists("bin/qmail-queue"):
        if os.path.realpath("bin/qmail-queue") == os.path.realpath(ours):
            return os.fsencode(ours), True
        return b"bin/qmail-queue", False
    if os.path.exists(ours):
        return os.fsencode(ours), True
    return b"bin/qmail-queue", False


class QueueRunner:
    """One run of the queue program: start(), write()..., finish() or abort()."""

    def __init__(self, environ) -> None:
        self.environ = environ
        self.pid = 0
        self._msg = self._env = self._err = -1
        self._buf = bytearray()
        self.flagerr = False
        self._local: LocalQueue | None = None
        self._queue_dir: tuple | None = None   # (fd, owner) once looked at; fd -1: forks
        self._queued = None                    # the connection to qmail-queued, if used

    def start(self) -> int | None:
        """qmail_open(): the queue program's pid (this process's when it writes the queue or
        hands the message to qmail-queued itself), or None when a pipe or the fork failed."""
        self.flagerr = False
        self._buf.clear()
        self._local = None
        program, ours = queue_program(self.environ)
        if ours:
            queue_fd, owner = self._writable_queue()
            if queue_fd >= 0:
                self._local = LocalQueue(queue_fd, owner)
                return self._local.start()
        try:
            msg_r, self._msg = os.pipe()
        except OSError:
            return None
        try:
            env_r, self._env = os.pipe()
        except OSError:
            self._close_all([msg_r, self._msg])
            return None
        err_w = -1                     # our own qmail-queue never writes fd 6: no pipe for it
        if ours:
            # our qmail-queue's way when it may not write the queue, without its process
            import qmail.queue
            self._queued = qmail.queue.hand_to_daemon(qmail.queue.SOCKET, msg_r, env_r)
            if self._queued is not None:
                self._close_all([msg_r, env_r])
                self.pid = os.getpid()
                return self.pid
        else:
            try:
                self._err, err_w = os.pipe()
            except OSError:
                self._close_all([msg_r, self._msg, env_r, self._env])
                return None
        try:
            if ours:
                self.pid = _fork_queue(msg_r, env_r, (self._msg, self._env))
            else:
                self.pid = _spawn_queue(program, msg_r, env_r, err_w)
        except OSError:
            self._close_all([msg_r, env_r, err_w, self._msg, self._env, self._err])
            return None
        finally:
            self._close_all([msg_r, env_r, err_w])
        return self.pid

    def _writable_queue(self) -> tuple:
        """(fd of queue/, owner for new files) when this process may write the queue itself,
        else (-1, None): then the message goes to qmail-queued (docs/queue.md). Looked at once
        per session."""
        if self._queue_dir is None:
            self._queue_dir = (-1, None)
            try:
                fd = os.open("queue", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                return self._queue_dir
            owner = None
            if os.geteuid() == 0:
                st = os.fstat(fd)
                owner = (st.st_uid, st.st_gid) if st.st_uid != 0 else None
            if os.access("pid", os.W_OK | os.X_OK, dir_fd=fd) and \
                    os.access("mess", os.X_OK, dir_fd=fd):
                self._queue_dir = (fd, owner)
            else:
                os.close(fd)
        return self._queue_dir

    def write(self, data: bytes) -> None:
        if self._local is not None:
            self._local.write(data)
            return
        if self.flagerr:
            return
        self._buf += data
        if len(self._buf) >= QUEUE_BUFFER:
            self._flush()

    def finish(self, envelope: bytes | None) -> tuple[int | None, bytes, bool]:
        """qmail_from + qmail_close: (wait status or None, fd 6 text, write error)."""
        if self._local is not None:
            local, self._local = self._local, None
            return local.finish(envelope), b"", False
        if not self.flagerr:
            self._flush()
        os.close(self._msg)
        if envelope is not None and not self.flagerr:
            self._write_all(self._env, envelope)
        os.close(self._env)
        errtext = bytearray()
        while self._err >= 0:
            try:
                chunk = os.read(self._err, 4096)
            except OSError:
                break
            if not chunk:
                break
            errtext += chunk[:ERRTEXT_MAX - len(errtext)]
        self._close_all([self._err])
        self._msg = self._env = self._err = -1
        if self._queued is not None:
            import qmail.queue
            sock, self._queued = self._queued, None
            return qmail.queue.daemon_answer(sock) << 8, b"", self.flagerr
        try:
            _, wstatus = os.waitpid(self.pid, 0)
        except OSError:
            wstatus = None
        return wstatus, bytes(errtext), self.flagerr

    def abort(self) -> None:
        """The session ended in DATA: the program sees EOF and no envelope, and discards."""
        if self._local is not None:
            self._local.abort()
            self._local = None
        if self._queued is not None:
            self._queued.close()
            self._queued = None
        self._close_all([self._msg, self._env, self._err])
        self._msg = self._env = self._err = -1

    def _flush(self) -> None:
        if self._buf:
            self._write_all(self._msg, self._buf)
            self._buf.clear()

    def _write_all(self, fd: int, data) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            self.flagerr = True

    @staticmethod
    def _close_all(fds) -> None:
        for fd in fds:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


class LocalQueue:
    """Our own qmail-queue's work (qmail.queue.MessageWriter) done in this process, when it
    may write the queue itself: the same files, fsyncs, Received line, exit statuses and
    crash hook as the forked qmail-queue, without a fork per message (about a third of a
    transaction's CPU). The pid in the Received line, intd/N and `qp` is this process's.

    The message is held in memory until SPILL bytes, so a session that ends in DATA (or a
    qmail-smtpd killed there) leaves nothing on disk; a larger one streams into the mess file,
    and a kill -9 in its DATA leaves a partial mess file that delivery never sees (no todo/N),
    removed by qmail-send's cleanup after 36 hours, as after a killed qmail-queue in qmail.
    """

    SPILL = 1 << 20

    def __init__(self, queue_fd: int, owner: tuple | None) -> None:
        self.queue_fd, self.owner = queue_fd, owner
        self.writer = None
        self.status = 0                # a failure so far: qmail-queue's exit status
        self.held = bytearray()

    def start(self) -> int:
        import qmail.queue as q
        uid, pid = os.getuid(), os.getpid()
        self.writer = q.MessageWriter(uid, pid, time.time(), q._how(uid), q._Crash(os.environ),
                                      self.queue_fd, self.owner)
        return pid

    def write(self, data: bytes) -> None:
        if self.status:
            return
        if self.held is not None:
            self.held += data
            if len(self.held) < self.SPILL:
                return
            data, self.held = self.held, None
        self._do(lambda: self._open_once() or self.writer.write(data))

    def finish(self, envelope: bytes | None) -> int:
        """The queue program's wait status: its exit status << 8."""
        import qmail.queue as q
        if envelope is None and not self.status:
            self.status = q.EXIT_READ              # no envelope: qmail-queue's read error
        if not self.status:
            if self.held is not None:
                held, self.held = self.held, None
                self._do(lambda: self._open_once() or self.writer.write(held))
        if not self.status:
            parsed = q.Envelope()
            status = parsed.feed(envelope)
            if status is None:
                status = parsed.feed(b"")
            self._do(lambda: self._commit(status, bytes(parsed.records)))
        self.abort()
        return self.status << 8

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        self.held = None

    def _commit(self, status: int, records: bytes) -> None:
        self.status = self.writer.commit(lambda: (status, records))

    def _open_once(self) -> None:
        if self.writer.messfd is None:
            self.writer.open()

    def _do(self, step) -> None:
        import qmail.queue as q
        try:
            step()
        except q.QueueError as e:
            self.status = e.code
        except MemoryError:
            self.status = q.EXIT_NOMEM
        except Exception:
            self.status = q.EXIT_BUG
        if self.status:
            self.writer.abort()


def _spawn_queue(program: bytes, msg_r: int, env_r: int, err_w: int) -> int:
    """posix_spawn the program (execv: no PATH search). An exec failure is the C child's
    _exit(120): a short-lived child that exits 120 stands in for it."""
    actions = [(os.POSIX_SPAWN_DUP2, msg_r, 0), (os.POSIX_SPAWN_DUP2, env_r, 1),
               (os.POSIX_SPAWN_DUP2, err_w, 6)]
    try:
        return os.posix_spawn(program, [program], os.environ, file_actions=actions)
    except OSError as e:
        if e.errno in _FORK_FAILED:
            raise
    except ValueError:                 # an empty name or a NUL in it: execv fails too
        pass
    pid = os.fork()
    if pid == 0:
        os._exit(120)
    return pid


def _fork_queue(msg_r: int, env_r: int, parent_fds) -> int:
    """Our own qmail-queue in a forked child, without exec (it never writes fd 6)."""
    _queue_imports()                   # once per session, not once per message
    import qmail.queue
    home, crash = control.qmail_home(), qmail.queue._Crash(os.environ)
    pid = os.fork()
    if pid:
        return pid
    status = 81
    try:
        for fd in parent_fds:
            if fd >= 0:
                os.close(fd)
        os.dup2(msg_r, 0)
        os.dup2(env_r, 1)
        for fd in (msg_r, env_r):
            if fd not in (0, 1, 2):
                os.close(fd)
        status = qmail.queue.run(home, crash)      # = qmail.queue.main(["qmail-queue"])
    finally:
        os._exit(status)


def _queue_imports() -> None:
    """qmail.queue and what it imports lazily; the accounts it looks up, once per process."""
    import pwd  # noqa: F401
    import qmail.queue
    import qmail.queuefs  # noqa: F401
    qmail.queue.prepare()


def prepare() -> None:
    """For a warm server: import now what a session may need, once, before forking, and run
    the session's code on a canned session (warm_up)."""
    _queue_imports()
    import rules.cdb  # noqa: F401
    warm_up()


WARM_ROUNDS = 30
WARM_SESSION = (b"EHLO warm.example\r\nMAIL FROM:<warm@example.org>\r\nRCPT TO:<postmaster>\r\n"
                b"DATA\r\nSubject: warm\r\n\r\n" + b"..a line\r\n" * 64 + b".\r\nQUIT\r\n")


class _NoQueue:
    """warm_up()'s queue: takes the message and queues nothing."""

    def start(self) -> int:
        return 1

    def write(self, data: bytes) -> None:
        pass

    def finish(self, envelope: bytes | None) -> tuple[int, bytes, bool]:
        return 0, b"", False

    def abort(self) -> None:
        pass


def warm_up(rounds: int = WARM_ROUNDS) -> None:
    """Serve a canned session ROUNDS times over a socketpair, queueing nothing, in this process
    (the warm server, before it forks). CPython 3.11 rewrites a function's bytecode in place
    during its first runs (quickening, specialisation, warm-up counters): done here once, the
    forked children only read those pages instead of each copying them (fewer copy-on-write
    faults per connection). Also creates the lazily built state of the session code. Reads the
    control files (no other effect); any failure just leaves the code cold."""
    import socket
    import qmail.queue
    for _ in range(rounds):
        try:
            config, _ = load_config({b"TCPREMOTEIP": b"127.0.0.1"}, [])
            ours, theirs = socket.socketpair()
        except (OSError, control.ControlError):
            return
        try:
            theirs.sendall(WARM_SESSION)
            theirs.shutdown(socket.SHUT_WR)
            wire = Wire(1, ours.fileno(), ours.fileno())
            serve(SmtpConnection(config), wire, _NoQueue(), [])
            qmail.queue.Envelope().feed(b"Fwarm@example.org\0Tpostmaster\0\0")
            qmail.queue.received_line(1, qmail.queue._how(0), time.time())
        except Exception:
            return
        finally:
            ours.close()
            theirs.close()


# --- SMTP AUTH's checkpassword (§2.14) ------------------------------------------------------

def authenticate(childargs: list[bytes], user: bytes, password: bytes, challenge: bytes) -> int:
    """Run CHILDARGS with `user NUL password NUL challenge NUL` on fd 3; its wait status, or
    one of the AUTH_* troubles."""
    import _signal                     # not signal: that one imports enum
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return AUTH_NO_PIPE
    try:
        pid = os.posix_spawnp(childargs[0], childargs, os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 3)],
                              setsigdef=(_signal.SIGPIPE,))
    except (OSError, ValueError) as e:
        os.close(read_end)
        os.close(write_end)
        if isinstance(e, OSError) and e.errno in _FORK_FAILED:
            return AUTH_NO_CHILD
        return 1 << 8                  # the C's child: execvp failed (any error), _exit(1)
    os.close(read_end)
    data = memoryview(user + b"\0" + password + b"\0" + challenge + b"\0")
    try:
        while data:
            data = data[os.write(write_end, data):]
    except OSError:
        os.close(write_end)
        return AUTH_WRITE_FAILED
    os.close(write_end)
    try:
        return os.waitpid(pid, 0)[1]
    except OSError:
        return AUTH_WAIT_FAILED


# --- the driver -----------------------------------------------------------------------------

def serve(conn: SmtpConnection, wire: Wire, queue: QueueRunner, childargs: list[bytes]) -> int:
    """Run the core against the client until it hangs up; the exit status."""
    try:
        while True:
            for effect in conn.effects():
                match effect:
                    case Reply(data=data, flush=flush):
                        wire.write(data, flush=flush)
                    case QueueBytes(data=data):
                        queue.write(data)
                    case OpenQueue():
                        conn.queue_opened(queue.start(), time.time())
                    case CloseQueue(envelope=envelope):
                        wstatus, errtext, failed = queue.finish(envelope)
                        conn.queue_closed(wstatus, errtext, failed, time.time())
                    case Authenticate(user=user, password=password, challenge=challenge):
                        conn.auth_finished(authenticate(childargs, user, password, challenge))
                    case Authenticated(user=user):
                        os.environb[b"TCPREMOTEINFO"] = user
                        os.environb[b"RELAYCLIENT"] = b""
                    case Pause(seconds=seconds):
                        time.sleep(seconds)
                    case Hangup(status=status):
                        queue.abort()
                        wire.flush()
                        return status
            wire.flush()                       # (§1.3) before every read; errors: exit 1
            wire.read_size = DATA_READ if conn.state == BODY else COMMAND_READ
            try:
                data = wire.read()
            except Timeout:
                conn.timed_out()
                continue
            conn.receive_data(data, time.time())
    except (Timeout, WireClosed):              # a write failed or timed out: _exit(1)
        queue.abort()
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    childargs = [os.fsencode(a) for a in argv[1:]]
    environ = os.environb
    wire = Wire(1200)
    try:
        os.chdir(control.qmail_home())
        config, wire.timeout = load_config(environ, childargs)
    except (OSError, control.ControlError):
        try:
            wire.write(R.CONTROLS_UNREADABLE, flush=True)
        except (Timeout, WireClosed):
            pass
        return 1
    return serve(SmtpConnection(config), wire, QueueRunner(environ), childargs)


if __name__ == "__main__":
    sys.exit(main())
