"""tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ]
[ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program [ arg ... ]

Accepts TCP connections on HOST:PORT and runs PROGRAM for each, with the socket on fds 0 and 1
(spec/ucspi-tcp.md §1). fd 1: the port with -1, then /dev/null. fd 2: the log (§1.12).
Environment: passed on with the TCP variables (§1.7); UID and GID read for -U; PATH finds
PROGRAM; DNSCACHEIP for -h/-p and names. TCPSERVER_NO_WARM=1: always exec the program, never
the warm-handler path (spawn.py). TCPSERVER_FAST_SPAWN=1: with -v too, start an exec'd program
with posix_spawn (below). Exit: 0 on SIGTERM, 100 usage, 111 fatal start-up error.

Where each per-connection step runs (spec §1.6 puts them all in a forked child):
- with -v, an exec'd program is started as by the C: the server does what it can (below), then
  a forked child writes the `pid` and `ok` lines and execs (spawn.Execer), so that nothing the
  program writes to fd 2 can come before them; the rest applies without -v, or with
  TCPSERVER_FAST_SPAWN=1 in tcpserver's environment (about twice the connections per second
  with an exec'd program, but under load a program that writes to fd 2 at once often does so
  before its `ok` line, since posix_spawn gives the pid only once the program runs);
- no lookups needed (-H -R -l NAME): the server does the banner, local address, rules and
  environment itself and starts the program with posix_spawnp (spawn.Spawner, from a spawner
  thread while other clients wait, so the GIL-free exec overlaps the next accept as the C's
  fork does; the loop itself for a lone client), or forks a child only to log and exit for a
  deny or a dropped connection;
- lookups (PTR, -p, IDENT) for an exec'd program: a lookup thread per connection in progress
  does the same, lookups included, then spawns the program (no fork of the server), so a
  slow answer delays only its own connection; on SIGTERM the connections still in their
  lookups are taken over by a forked process (the C's children would go on), see terminate();
- the program is one of our console scripts (spawn.warm_handler): a forked child runs it
  without exec (lookups included, in that child). The server then imports no `threading`
  (its at-fork handler would run in every child).
The log lines are the same either way; only the moment some of them are written differs:
with lookup threads the `pid` line comes after the lookups, with the `ok` line, rather than
before them.
"""
import _signal
import _thread
import errno
import os
import select
import signal
import socket
import sys
from _queue import SimpleQueue
from collections import namedtuple

from rules.cdb import find_rule
from rules.lookup import candidate_keys
from rules.records import decision
from tcpserver import spawn as spawning
from tcpserver.die import Fatal, djb_error, write2
from tcpserver.environ import Template, apply_updates, as_mapping, inherited
from tcpserver.listen import bind_listen, drop_privileges, resolve_host, resolve_port
from tcpserver.options import USAGE, BadUsage, Options, parse_options
from tcpserver.slots import Slots, drop_line, fatal_line, pid_line, status_line, verdict_line

EXIT_DENY, EXIT_DROP = 100, 111
SPAWNER_THREADS = 2        # measured on 2 cores: 1 is slower at 8-32 clients, 3 no faster
FAST_BANNER_MAX = 2048     # a fresh socket's send buffer takes this without blocking


# The outcome of §1.6 steps 2-8 for an allowed or denied connection: values are the eight TCP
# variables (environ.TCP_NAMES, None = removed), rule_env the rule's (NAME, value) pairs.
Verdict = namedtuple("Verdict", "deny values rule_env local_host local_ip remote_host remote_info")
# `tcpserver: warning: dropping connection, REASON`, exit 111.
Drop = namedtuple("Drop", "reason")


class Server:
    def __init__(self, o: Options, environ: list[bytes], listener: socket.socket,
                 local_ip: str, local_port: int) -> None:
        self.o = o
        self.listener = listener
        self.log = o.verbosity >= 1
        self.verbose = o.verbosity >= 2
        self.template = Template(environ)
        self.path = first_value(environ, b"PATH")
        self.argv = list(o.program)
        self.local_port = b"%d" % local_port
        self.fixed_local_ip = None if local_ip == "0.0.0.0" else local_ip.encode()
        self.slots = Slots(o.limit)
        self.pending = False
        self.lookups = o.remote_host or o.remote_info or o.local_host is None
        self.fast = (not self.lookups and len(o.banner) <= FAST_BANNER_MAX
                     and bool(self.argv[0]))
        self.warm = None
        if self.argv[0]:
            first = {}
            for entry in environ:
                name, _, value = entry.partition(b"=")
                first.setdefault(name, value)
            self.warm = spawning.warm_handler(self.argv[0], self.path, first)
            if self.warm is not None:
                self.warm.set_argv(self.argv)
        self._title_prefix = "tcpserver: %s:%d " % (local_ip, local_port)
        self._setproctitle = _title_setter()
        self._wake_r = self._wake_w = -1
        # Children and their `end` lines. The fast path starts programs from spawner threads
        # (spawn.Spawner releases the GIL while the child execs, so accepting goes on). While
        # a thread is spawning, a zombie the loop does not know yet is left alone: it is
        # either that thread's program, not logged yet (its `end` must follow its `ok`), or
        # the child of a failed posix_spawn, which glibc reaps itself. Slots and these sets
        # are shared with the threads: under `lock`.
        self.lock = _thread.allocate_lock()
        self.known: set[int] = set()          # children whose `ok` (or `pid`) is out
        self.in_flight = 0                    # programs handed to spawner threads
        self.skipped = False                  # reap() left a zombie for the threads
        self.jobs = None
        self.spawner = None
        # With -v an exec'd program is started as the C starts it: a forked child writes its
        # `pid` and `ok` lines, then execs, so nothing the program writes to fd 2 comes before
        # them (posix_spawn gives the pid only once the program runs: under load a quarter of
        # the programs that log at once did). Without -v nothing is logged first: posix_spawn.
        # TCPSERVER_FAST_SPAWN=1 chooses posix_spawn with -v too.
        self.log_first = (self.verbose and self.warm is None and
                          first_value(environ, b"TCPSERVER_FAST_SPAWN") in (None, b"", b"0"))
        self.execer = spawning.Execer.make(self.argv, self.path) if self.log_first else None
        if (self.fast or self.lookups) and bool(self.argv[0]) and self.warm is None \
                and SPAWNER_THREADS and not self.log_first:
            try:
                self.spawner = spawning.Spawner(self.argv)
            except (OSError, AttributeError, ImportError):
                pass               # no ctypes or no glibc: os.posix_spawnp from the loop
        # Lookups (PTR, -p, IDENT) for an exec'd program: a lookup thread per connection in
        # progress does §1.6 steps 2-8, then spawns the program itself (no fork of the server).
        # With -v (no spawner) a forked child does it all, as in the C.
        self.threaded = self.lookups and self.spawner is not None
        self.lookup_jobs = SimpleQueue()
        self.idle_lookups = 0                 # lookup threads waiting for a job (under lock)
        self.looking: dict[int, tuple] = {}   # fd: (ip, port, local ip) during lookups
        self.terminating = False

    def preload(self) -> None:
        """Import now what children need, once (not per child, and before dropping uid)."""
        if self.lookups:
            from tcpserver import dns, ident  # noqa: F401
            dns.preload()
            import dns.rdtypes.ANY.PTR, dns.rdtypes.IN.A  # noqa: E401,F401  parsed per reply
        if self.o.rules is not None:
            candidate_keys(b"", None, None)
        if self.threaded or (self.spawner is not None and self.fast):
            import threading  # noqa: F401  for _thread_start(), not in warm servers
        if self.warm is not None or not self.fast or self.log_first:
            import gc              # forked children: keep the collector off the shared pages
            gc.collect()
            gc.freeze()

    # ------------------------------------------------------------------ the accept loop

    def run(self) -> None:
        if self.spawner is not None and self.fast:
            # (Only without -v, or with TCPSERVER_FAST_SPAWN=1.) A lone client is spawned by the
            # loop itself (`direct` below); under load the threads overlap the execs (the loop
            # alone reaches about 0.7x the C rate at 8-32 clients, the threads the C rate).
            # Our own handlers (warm), denials and drops are handled by a forked child.
            sys.setswitchinterval(0.001)     # a spawner thread gets the GIL soon after exec
            self.jobs = SimpleQueue()
            for _ in range(SPAWNER_THREADS):
                _thread_start(self._spawn_loop)
        self.listener.setblocking(False)
        accept = getattr(self.listener, "_accept", None) or self._accept_pair
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, self._sigchld)
        both = select.poll()
        both.register(self.listener.fileno(), select.POLLIN)
        both.register(self._wake_r, select.POLLIN)
        wake = select.poll()
        wake.register(self._wake_r, select.POLLIN)
        if self.verbose:
            write2(status_line(0, self.o.limit))
        self._title()
        listening = select.poll()
        listening.register(self.listener.fileno(), select.POLLIN)
        listener_fd = self.listener.fileno()
        if self.threaded:
            signal.signal(signal.SIGTERM, self._sigterm)
        while True:
            if self.terminating:
                self.terminate()
            if self.pending:
                self.reap()
            if self.slots.full:
                wake.poll()
                self._drain()
                continue
            ready = both.poll()              # a client, or a signal (SIGCHLD, SIGTERM)
            if len(ready) != 1 or ready[0][0] != listener_fd:
                self._drain()
                if not any(fd == listener_fd for fd, _ in ready):
                    continue
            try:
                fd, addr = accept()
            except OSError:
                continue                     # as the C: an accept error is retried
            # Nothing being spawned and nobody else waiting: this thread starts the program
            # itself (no hand-over to a spawner thread for a lone client).
            direct = (self.jobs is not None and not self.in_flight
                      and not listening.poll(0))
            self.connection(fd, addr, direct)

    def _accept_pair(self):
        conn, addr = self.listener.accept()
        return conn.detach(), addr

    def _sigchld(self, signum, frame) -> None:
        self.pending = True

    def _sigterm(self, signum, frame) -> None:
        if not self.looking:
            os._exit(0)            # §1.14: at once, status 0; children keep running
        self.terminating = True    # the loop (woken by the signal) hands over the lookups

    def terminate(self) -> None:
        """SIGTERM with connections in their lookups: the C's children would go on and run
        the program, so a forked process takes them over (each in a child of its own, from
        the `pid` line on, as the forked path does) while this process exits 0 at once."""
        self.lock.acquire()        # no thread between its lookups and its spawn or fork
        jobs = dict(self.looking)
        if jobs:
            try:
                pid = os.fork()
            except OSError:
                pid = -1
            if pid == 0:
                status = 0
                try:
                    self.listener.close()
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    for fd, (ip, port, local_ip) in jobs.items():
                        if os.fork() == 0:
                            code = EXIT_DROP
                            try:
                                code = self.child(fd, ip, port, None, local_ip)
                            finally:
                                os._exit(code)
                        os.close(fd)
                except BaseException:
                    status = 111
                finally:
                    os._exit(status)
        os._exit(0)

    def _drain(self) -> None:
        try:
            os.read(self._wake_r, 4096)      # more left: poll says so again
        except OSError:
            pass

    def reap(self) -> None:
        self.pending = False
        with self.lock:
            while True:
                try:
                    if self.in_flight:              # look before reaping (see __init__)
                        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                        if info is None:
                            break
                        if info.si_pid not in self.known:
                            self.skipped = True     # a thread will set pending again
                            break
                        pid, status = os.waitpid(info.si_pid, os.WNOHANG)
                    else:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if not pid:
                    break
                self._ended(pid, status)

    def _ended(self, pid: int, status: int) -> None:
        """The `end` and `status` lines of a reaped child; its slot freed. Under the lock."""
        self.known.discard(pid)
        line = self.slots.freed()
        if self.verbose:
            write2(b"tcpserver: end %d status %d\n" % (pid, status) + line)
        self._title()

    def _started(self, pid: int | None) -> None:
        """A child whose first lines are out (None: it could not be forked). Under the lock."""
        if pid is not None:
            self.known.add(pid)

    def _spawn_loop(self) -> None:
        """A spawner thread: start each program handed over, log it, close the socket."""
        while True:
            job = self.jobs.get()
            try:
                self._spawn_job(*job)
            except Exception:              # never a traceback in the log; keep serving
                pass

    def _spawn_job(self, fd: int, ip: bytes, port: bytes, v: Verdict) -> None:
        """Start one program (in a spawner thread), log it, close the socket."""
        wake = False
        try:
            try:
                pid = self.spawner.spawn(fd, self.entries(v))
            except Exception:              # OSError: cannot run it; the child reports why
                pid = None
            with self.lock:
                self.in_flight -= 1
                if pid is None:
                    pid = self.fork_child(fd, ip, port, v)  # it repeats the exec, reports
                elif self.verbose:
                    write2(pid_line(pid, ip) + self.verdict_text(v, pid, ip, port))
                self._started(pid)
                wake, self.skipped = self.skipped, False
        finally:
            os.close(fd)
        if wake:
            self.pending = True                     # reap what was left for this thread
            try:
                os.write(self._wake_w, b"\0")
            except OSError:
                pass

    def _lookup(self, job: tuple[int, bytes, bytes]) -> None:
        """Hand a connection to an idle lookup thread, or to a new one: a slow answer for
        one connection never waits for, or delays, another's."""
        with self.lock:
            if self.idle_lookups:
                self.idle_lookups -= 1              # that thread is, or will be, in get()
                self.lookup_jobs.put(job)
                return
        _thread_start(self._lookup_loop, job)

    def _lookup_loop(self, job: tuple[int, bytes, bytes]) -> None:
        while True:
            try:
                self._lookup_job(*job)
            except Exception:              # never a traceback in the log; keep serving
                pass
            with self.lock:
                self.idle_lookups += 1
            job = self.lookup_jobs.get()

    def _lookup_job(self, fd: int, ip: bytes, port: bytes) -> None:
        """In a lookup thread: §1.6 steps 2-8, then the program started as by the loop (a
        forked child only to log and exit for a deny or a dropped connection)."""
        try:
            outcome = self.local_address(fd)
            if type(outcome) is not Drop:
                with self.lock:
                    self.looking[fd] = (ip, port, outcome)
                try:
                    outcome = self.decide(ip, port, outcome)
                finally:
                    with self.lock:
                        del self.looking[fd]
        except Exception:
            outcome = None                 # the child repeats it and fails the same way
        if type(outcome) is Verdict and not outcome.deny:
            with self.lock:
                self.in_flight += 1
            self._spawn_job(fd, ip, port, outcome)     # closes fd
            return
        try:
            with self.lock:
                self._started(self.fork_child(fd, ip, port, outcome))
        finally:
            os.close(fd)

    def _title(self) -> None:
        if self._setproctitle:
            self._setproctitle(self._title_prefix + "%d/%d" % (self.slots.children, self.o.limit))

    # ------------------------------------------------------------------ one connection

    def connection(self, fd: int, addr: tuple[str, int], direct: bool = False) -> None:
        ip = addr[0].encode()
        port = b"%d" % addr[1]
        with self.lock:
            line = self.slots.taken()
            if self.verbose:
                write2(line)
            self._title()
        outcome = None
        try:
            if self.threaded:
                self._lookup((fd, ip, port))
                fd = -1                                 # _lookup_job closes it
                return
            if self.fast:
                outcome = self.prepare(fd, ip, port)
                if type(outcome) is Verdict and not outcome.deny and self.warm is None \
                        and not self.log_first:
                    if self.spawner is not None:
                        with self.lock:
                            self.in_flight += 1
                        job = (fd, ip, port, outcome)
                        fd = -1                         # _spawn_job closes it
                        if direct or self.jobs is None:
                            self._spawn_job(*job)
                        else:
                            self.jobs.put(job)
                        return
                    pid = self.start(fd, outcome)
                    with self.lock:
                        if pid is None:
                            pid = self.fork_child(fd, ip, port, outcome)
                        elif self.verbose:
                            write2(pid_line(pid, ip) + self.verdict_text(outcome, pid, ip, port))
                        self._started(pid)
                    return
            ready = None
            if self.warm is not None and type(outcome) is Verdict and not outcome.deny:
                ready = self.warm_environment(outcome)
                if ready[1] is not None:
                    self.warm.fill_environ(ready[0])
            elif self.execer is not None and type(outcome) is Verdict and not outcome.deny:
                ready = (self.entries(outcome), None)
                self.execer.block.fill(ready[0])
            with self.lock:
                self._started(self.fork_child(fd, ip, port, outcome, ready))
        finally:
            if fd >= 0:
                os.close(fd)

    def start(self, fd: int, v: Verdict) -> int | None:
        """Start the program without forking the server; None: let a forked child do it."""
        env = self.template.mapping(v.values) if not v.rule_env else as_mapping(self.entries(v))
        if env is None:
            return None
        try:
            return spawning.spawn(self.argv[0], self.argv, env, fd)
        except (OSError, ValueError):
            return None          # the child repeats the exec and reports the error (§1.6)

    def verdict_text(self, v: Verdict, pid: int, ip: bytes, port: bytes) -> bytes:
        return verdict_line(v.deny, pid, v.local_host, v.local_ip, self.local_port,
                            v.remote_host, ip, v.remote_info, port)

    def prepare(self, fd: int, ip: bytes, port: bytes) -> Verdict | Drop:
        """§1.6 steps 2-8: options, banner, local address, lookups, rules."""
        local_ip = self.local_address(fd)
        if type(local_ip) is Drop:
            return local_ip
        return self.decide(ip, port, local_ip)

    def local_address(self, fd: int) -> bytes | Drop:
        """§1.6 steps 2-4: options, banner, local address."""
        o = self.o
        local_ip = self.fixed_local_ip
        if not o.delay or o.banner or local_ip is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fd)
            try:
                if not o.delay:
                    try:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    except OSError:
                        pass
                if o.banner:
                    try:
                        sock.sendall(o.banner)
                    except OSError as e:
                        return Drop(b"unable to print banner: " + djb_error(e).encode())
                try:
                    local_ip = sock.getsockname()[0].encode()
                except OSError as e:
                    return Drop(b"unable to get local address: " + djb_error(e).encode())
            finally:
                sock.detach()
        return local_ip

    def decide(self, ip: bytes, port: bytes, local_ip: bytes) -> Verdict | Drop:
        """§1.6 steps 5-8: lookups and rules."""
        o = self.o
        local_host = o.local_host
        remote_host = remote_info = None
        if self.lookups:
            from tcpserver import dns
            if local_host is None:
                local_host = dns.local_host(local_ip.decode())
            if o.remote_host:
                remote_host = dns.remote_host(ip.decode(), o.paranoid)
            if o.remote_info:
                remote_info = _remote_info(ip, port, local_ip, self.local_port, o.timeout)
        deny = False
        rule_env = ()
        if o.rules is not None:
            try:
                found = find_rule(o.rules, candidate_keys(ip, remote_host, remote_info))
            except OSError as e:
                if e.errno != errno.ENOENT or not o.allow_no_rules:
                    return Drop(b"unable to read %s: %s" % (o.rules, djb_error(e).encode()))
                found = None
            except Exception:          # never a traceback: a file the reader cannot make out
                return Drop(b"unable to read %s: %s" % (o.rules, djb_error(errno.EPROTO).encode()))
            if found is not None:
                d = decision(found[1])
                deny, rule_env = d.deny, d.env
        values = (b"TCP", local_ip, self.local_port, local_host, ip, port, remote_host,
                  remote_info)
        return Verdict(deny, values, rule_env, local_host, local_ip, remote_host, remote_info)

    def entries(self, v: Verdict) -> list[bytes]:
        """The program's environment as `NAME=value` entries, in the C order (§1.7)."""
        entries = self.template.entries(v.values)
        if v.rule_env:
            entries = apply_updates(entries, v.rule_env)
        return entries

    def warm_environment(self, v: Verdict) -> tuple[list[bytes], dict | None]:
        """The program's environment as entries, and as a mapping when our own handler may
        run it without exec (else None). Done in the server before forking where it can: work
        in the child costs copied pages besides."""
        entries = self.entries(v)
        env = None
        if self.warm is not None and self.warm.usable(v.rule_env):
            env = as_mapping(entries)
        return entries, env

    def fork_child(self, fd: int, ip: bytes, port: bytes,
                   outcome: Verdict | Drop | None, ready=None) -> int | None:
        """Fork the child that runs §1.6 (the rest of it); its PID, None if fork failed.
        Called with the lock held."""
        try:
            pid = os.fork()
        except OSError as e:
            if self.log:
                write2(drop_line(b"unable to fork: " + djb_error(e).encode()))
            line = self.slots.freed()
            if self.verbose:
                write2(line)
            return None
        if pid == 0:
            status = EXIT_DROP
            try:
                status = self.child(fd, ip, port, outcome, ready=ready)
            finally:
                os._exit(status)
        return pid

    def child(self, fd: int, ip: bytes, port: bytes, outcome: Verdict | Drop | None,
              local_ip: bytes | None = None, ready=None) -> int:
        """The forked child: §1.6 from the `pid` line to the exec (or exit 100/111); with
        LOCAL_IP, steps 2-4 are done already; READY: the warm() of OUTCOME, from the server."""
        try:
            _signal.set_wakeup_fd(-1)
            _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        except ValueError:      # forked by a spawner thread: then its wake-up pipe is closed
            pass
        for extra in (self._wake_r, self._wake_w):
            os.close(extra)
        self.listener.close()
        if self.verbose:
            write2(pid_line(os.getpid(), ip))
        if outcome is None:
            if local_ip is None:
                outcome = self.prepare(fd, ip, port)
            else:
                outcome = self.decide(ip, port, local_ip)
        if type(outcome) is Drop:
            if self.log:
                write2(drop_line(outcome.reason))
            return EXIT_DROP
        if self.verbose:
            write2(self.verdict_text(outcome, os.getpid(), ip, port))
        if outcome.deny:
            return EXIT_DENY
        try:
            spawning.socket_to_stdio(fd)
        except OSError as e:
            if self.log:
                write2(drop_line(b"unable to set up descriptors: " + djb_error(e).encode()))
            return EXIT_DROP
        spawning.default_signals()
        entries, env = ready or self.warm_environment(outcome)
        if env is not None:
            self.warm.become(self.argv, entries, env)   # returns only if it cannot
        if self.execer is not None:
            err = self.execer.exec(entries)
        else:
            err = spawning.pathexec(self.argv, entries, self.path)
        if self.log:
            write2(drop_line(b"unable to run %s: %s" % (self.argv[0], djb_error(err).encode())))
        return EXIT_DROP


def first_value(environ: list[bytes], name: bytes) -> bytes | None:
    """The value of NAME's first entry in ENVIRON (NAME=value entries), or None."""
    prefix = name + b"="
    return next((e[len(prefix):] for e in environ if e.startswith(prefix)), None)


def _remote_info(ip: bytes, port: bytes, local_ip: bytes, local_port: bytes,
                 timeout: int) -> bytes | None:
    """TCPREMOTEINFO from the client's identd (§1.10); None when the exchange fails."""
    from tcpserver import ident
    info = ident.remote_info(ip.decode(), int(port), local_ip.decode(), int(local_port), timeout)
    if info is not None and b"\0" in info:
        info = info[:info.index(b"\0")]       # the C uses it as a C string from here on
    return info


def _title_setter():
    return spawning.setproctitle_function()


def _thread_start(target, *args) -> None:
    """A daemon thread. `threading` is imported here, not by the module: once imported, every
    fork runs its at-fork handler in the child (about 130 pages written, so copied), which
    warm children (the only per-connection forks) are spared this way."""
    import threading
    threading.Thread(target=target, args=args, daemon=True).start()


def _ensure_std_fds() -> None:
    """Keep fds 0-2 open, so the listening socket can never be fd 0 (§1.5's busy-loop pitfall)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _close_stdin_stdout() -> None:
    """§1.5 step 7: fds 0 and 1 closed (here: /dev/null, so they are never reused)."""
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)


def _sigterm(signum, frame) -> None:
    os._exit(0)          # §1.14: at once, status 0; children keep running


def serve(argv: list[bytes], environ: list[bytes]) -> int:
    env = {}
    for entry in environ:
        name, _, value = entry.partition(b"=")
        env.setdefault(name, value)
    try:
        o = parse_options(argv, env)
    except BadUsage as e:
        write2(e.text)
        return 100
    quiet = o.verbosity == 0
    try:
        port = resolve_port(o.port)
        if not o.program:
            if not quiet:
                write2(USAGE)
            return 100
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        signal.signal(signal.SIGCHLD, lambda *a: None)
        signal.signal(signal.SIGTERM, _sigterm)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)     # the C dies by SIGINT
        ip = resolve_host(o.host)
        listener = bind_listen(ip, port, o.backlog)
        local_port = listener.getsockname()[1]
        server = Server(o, environ, listener, ip, local_port)
        server.preload()         # before -u: the modules may not be readable afterwards
        drop_privileges(o.uid, o.gid)
    except Fatal as e:
        if not quiet:
            write2(fatal_line(e.text))
        return e.code
    if o.print_port:
        try:
            os.write(1, b"%d\n" % local_port)
        except OSError:
            pass
    _close_stdin_stdout()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    server.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    environ = inherited()             # first: before Python or setproctitle change anything
    _ensure_std_fds()
    args = sys.argv[1:] if argv is None else list(argv)
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "tcpserver"
    return serve([os.fsencode(a) for a in [argv0, *args]], environ)
