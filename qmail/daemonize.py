"""Start a program detached from us (python-daemon), with a pid file; used by qmailctl.

DaemonContext's defaults (cwd `/`, umask 0, std streams to /dev/null, every other fd closed,
SIGTSTP/SIGTTIN/SIGTTOU ignored, core dumps off) would all be inherited through exec by the
program and everything it runs, so each is given explicitly here.

The daemons are not qmailctl's children, so it cannot wait(2) for them: it polls /proc
(Linux), treating zombies as gone. Next to PIDFILE, PIDFILE.start holds the daemon's start time
in clock ticks since boot (/proc/PID/stat), so that a pid reused by another process is never
taken for the daemon (wall-clock times would not do: the clock may be stepped).
"""
import os
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence

from qmail.die import Fatal, djb_error


class _Fd:
    """A bare descriptor for DaemonContext, which wants objects with fileno()."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd


def _replace(path: str, data: bytes) -> None:
    """DATA in PATH, replacing it completely or not at all."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def write_pidfile(path: str, pid: int) -> None:
    """PATH: the pid and a newline, as every pid file; PATH.start: its start ticks."""
    _replace(path + ".start", b"%d\n" % (start_ticks(pid) or 0))
    _replace(path, b"%d\n" % pid)


def read_start(path: str) -> int | None:
    """The start ticks recorded for pid file PATH, or None."""
    try:
        with open(path + ".start", "rb") as f:
            text = f.read(64).strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() and int(text) else None


def read_pidfile(path: str) -> int | None:
    """The pid in PATH, or None when the file is missing or holds no number."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).split(b"\n", 1)[0].strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def remove_pidfile(path: str, pid: int | None = None) -> None:
    """Remove PATH (only if it still names PID, when given)."""
    if pid is not None and read_pidfile(path) != pid:
        return
    for name in (path, path + ".start"):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def spawn_daemon(argv: Sequence[str], *, env: Mapping[str, str], cwd: str, pidfile: str,
                 stdin: int | None = None, stdout: int | None = None, stderr: int | None = None,
                 umask: int = 0o022) -> int:
    """Run ARGV (found through env's PATH) as a daemon; return its pid once it has exec'd.

    The daemon is a grandchild in a session of its own, not our child. STDIN/STDOUT/STDERR are
    descriptors for its fds 0/1/2 (None: /dev/null); nothing else of ours stays open in it.
    PIDFILE holds its pid before the exec. A failed exec raises Fatal with djb's wording.
    """
    report_r, report_w = os.pipe()          # close-on-exec: EOF at the daemon's exec
    pid = os.fork()
    if pid == 0:                            # pragma: no cover - runs in the forked children
        try:
            os.close(report_r)
            _become_daemon(argv, env, cwd, pidfile, stdin, stdout, stderr, umask, report_w)
        except BaseException as e:          # noqa: BLE001 - reported to the parent
            text = djb_error(e) if isinstance(e, OSError) else str(e)
            os.write(report_w, b"!" + text.encode("utf-8", "replace"))
        finally:
            os._exit(111)
    os.close(report_w)
    try:
        os.waitpid(pid, 0)                  # the first child exits at python-daemon's fork
        report = b""
        while chunk := os.read(report_r, 4096):
            report += chunk
    finally:
        os.close(report_r)
    started, _, error = report.partition(b"!")
    if error or not started.strip().isdigit():
        if started.strip().isdigit():
            remove_pidfile(pidfile, int(started))
        raise Fatal(f"unable to start {argv[0]}: {error.decode(errors='replace') or 'no report'}")
    return int(started)


def _become_daemon(argv, env, cwd, pidfile, stdin, stdout, stderr, umask, report_w) -> None:
    import daemon

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:                     # python-daemon dup2()s onto these: they must exist
            os.dup2(os.open(os.devnull, os.O_RDWR), fd)
        setattr(sys, name, _Fd(fd))
    # Never let python-daemon open /dev/null itself for a None stream: after closing every fd
    # it gets 0 (or 1) back, close-on-exec, and dup2 onto itself keeps the flag, so the
    # program would start with fd 0 closed (the C tcpserver then accepts on fd 0 forever).
    devnull = os.open(os.devnull, os.O_RDWR)
    stdin, stdout, stderr = (devnull if fd is None else fd for fd in (stdin, stdout, stderr))
    context = daemon.DaemonContext(
        working_directory=cwd,
        umask=umask,
        prevent_core=False,                 # leave RLIMIT_CORE as the administrator set it
        detach_process=True,
        files_preserve=[report_w],
        stdin=_Fd(stdin),
        stdout=_Fd(stdout),
        stderr=_Fd(stderr),
        signal_map={},                      # no handlers: the program keeps the defaults
    )
    context.open()
    write_pidfile(pidfile, os.getpid())
    # Python ignores SIGPIPE and SIGXFSZ; the C programs expect the defaults (STYLE.md §2).
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.write(report_w, b"%d" % os.getpid())
    os.execvpe(argv[0], list(argv), dict(env))


# Processes seen through /proc.


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0]), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(b")") + 2:].decode().split()


def start_ticks(pid: int) -> int | None:
    """When PID started, in clock ticks since boot; None if it is gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: int | None, started: int | None = None) -> bool:
    """PID runs (not a zombie) and, with STARTED, is the process that started at those ticks."""
    if not pid:
        return False
    ticks = start_ticks(pid)
    if ticks is None:
        return False
    return started is None or ticks == started


def session_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[3])


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session is SID."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(int(name))
            if fields and fields[0] not in ("Z", "X") and int(fields[3]) == sid:
                members.append(int(name))
    return members


def signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Poll until every pid is gone or TIMEOUT passes; return those still alive."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        pids = [p for p in pids if alive(p)]
        if not pids or time.monotonic() >= deadline:
            return pids
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def end_session(sid: int, grace: float) -> list[int]:
    """Wait GRACE for session SID to empty, then TERM, then KILL what is left; return the
    pids that had to be signalled."""
    left = wait_gone(session_members(sid), grace)
    if not left:
        return []
    signal_all(left, signal.SIGTERM)
    signal_all(left, signal.SIGCONT)
    still = wait_gone(left, 5.0)
    signal_all(still, signal.SIGKILL)
    wait_gone(still, 5.0)
    return left
