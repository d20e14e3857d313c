"""Starting the program on fds 0/1 (spec/ucspi-tcp.md §1.6 step 10, §1.8).

Two ways, one observable result:
- spawn(): os.posix_spawnp from the server itself (no fork of the Python process): the socket
  dup2'ed onto fds 0 and 1, SIGPIPE/SIGXFSZ back to default (Python ignores both, and ignored
  signals survive exec), an empty signal mask. The program is found through tcpserver's own
  PATH, as in the C.
- pathexec(): in a forked child, djb's pathexec_run: execve along tcpserver's PATH (default
  `/bin:/usr/bin`, an empty entry meaning `.`), continuing past ENOENT, EACCES, EPERM and
  EISDIR and reporting the last of those, with the environment given as a list of entries
  (so duplicates and `=value` entries reach the program as the C passes them).
"""
import errno
import os
import signal

DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGTERM)
_DUP2 = os.POSIX_SPAWN_DUP2


def spawn(program: bytes, argv: list[bytes], env: dict[bytes, bytes], fd: int) -> int:
    """posix_spawnp PROGRAM with the socket FD on fds 0 and 1; the child's PID. OSError if
    the program cannot be run (glibc reports the exec error and reaps the failed child)."""
    return os.posix_spawnp(program, argv, env,
                           file_actions=((_DUP2, fd, 0), (_DUP2, fd, 1)),
                           setsigmask=(), setsigdef=DEFAULT_SIGNALS)


def default_signals() -> None:
    """In a forked child before exec: default dispositions (as the C's sig_uncatch), empty mask."""
    for sig in DEFAULT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def socket_to_stdio(fd: int) -> None:
    """fd_move(0, fd) then fd_copy(1, 0); both end up inheritable."""
    if fd != 0:
        os.dup2(fd, 0)
        os.close(fd)
    else:
        os.set_inheritable(0, True)
    os.dup2(0, 1)


def pathexec(argv: list[bytes], envp: list[bytes], path: bytes | None) -> OSError:
    """djb's pathexec_run; returns the error when no exec succeeded. PATH is tcpserver's own."""
    file = argv[0]
    if b"/" in file:
        return _execve(file, argv, envp)
    if path is None:
        path = b"/bin:/usr/bin"
    saved = None
    for entry in path.split(b":"):
        err = _execve((entry or b".") + b"/" + file, argv, envp)
        if err.errno != errno.ENOENT:
            saved = err
            if err.errno not in (errno.EACCES, errno.EPERM, errno.EISDIR):
                return err
    return saved or err


def _execve(path: bytes, argv: list[bytes], envp: list[bytes]) -> OSError:
    env = _mapping(envp)
    if env is not None and argv and argv[0]:
        try:
            os.execve(path, argv, env)
        except OSError as e:
            return e
        except ValueError:
            pass
    return _raw_execve(path, argv, envp)


def _mapping(envp: list[bytes]) -> dict[bytes, bytes] | None:
    env = {}
    for entry in envp:
        name, equals, value = entry.partition(b"=")
        if not equals or not name or name in env:
            return None
        env[name] = value
    return env


def _raw_execve(path: bytes, argv: list[bytes], envp: list[bytes]) -> OSError:
    """execve(2) with raw argv/envp arrays, for what os.execve refuses (empty argv[0], an
    `=value` entry, a duplicate name)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    c_argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
    c_envp = (ctypes.c_char_p * (len(envp) + 1))(*envp, None)
    libc.execve(path, c_argv, c_envp)
    number = ctypes.get_errno()
    return OSError(number, os.strerror(number))


def warm_handler(program: bytes, path: bytes | None):
    """The warm-handler path for PROGRAM, or None (exec it)."""
    return None
