"""argv0 realname program [ arg ... ]: run realname with argv[0] set to program.

spec/ucspi-tcp.md §5.4. realname is found through PATH (djb's pathexec_run). Exit: the
program's status (exec); 100 usage; 111 when realname cannot be run.

Also home of the light exec helpers the per-connection programs share (rblsmtpd, recordio,
fixcrio, tcpclient): pathexec_run() and default_signals() import nothing heavy (`_signal`
rather than `signal`, whose enums cost about 6 ms per start).
"""
import os
import sys

USAGE = b"argv0: usage: argv0 realname program [ arg ... ]\n"


def default_signals() -> None:
    """SIGPIPE and SIGXFSZ back to default before exec (Python ignores both, and ignored
    dispositions survive exec; the C programs pass on the defaults)."""
    import _signal
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ):
        _signal.signal(sig, _signal.SIG_DFL)


def execve(path: bytes, argv: list[bytes], envp: list[bytes]) -> OSError:
    """execve(2) with the environment as entries; returns the error if it failed."""
    env = {}
    for entry in envp:
        name, equals, value = entry.partition(b"=")
        if not equals or not name or name in env:
            env = None      # an entry os.execve cannot express: pass the raw array
            break
        env[name] = value
    if env is not None and argv and argv[0]:
        try:
            os.execve(path, argv, env)
        except OSError as e:
            return e
        except ValueError:
            pass
    return raw_execve(path, argv, envp)


def raw_execve(path: bytes, argv: list[bytes], envp: list[bytes]) -> OSError:
    """execve(2) with raw argv/envp arrays, for what os.execve refuses (empty argv[0], an
    `=value` entry, a duplicate name)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    c_argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
    c_envp = (ctypes.c_char_p * (len(envp) + 1))(*envp, None)
    libc.execve(path, c_argv, c_envp)
    number = ctypes.get_errno()
    return OSError(number, os.strerror(number))


def pathexec_run(file: bytes, argv: list[bytes], envp: list[bytes],
                 path: bytes | None = None) -> OSError:
    """djb's pathexec_run: FILE along PATH (default: $PATH, else /bin:/usr/bin; an empty
    entry is `.`), past ENOENT, EACCES, EPERM and EISDIR; the error to report when nothing
    ran. tcpserver passes its own PATH, read when it started."""
    if b"/" in file:
        return execve(file, argv, envp)
    if path is None:
        path = os.environb.get(b"PATH", b"/bin:/usr/bin")
    import errno
    saved = err = None
    for entry in path.split(b":"):
        err = execve((entry or b".") + b"/" + file, argv, envp)
        if err.errno != errno.ENOENT:
            saved = err
            if err.errno not in (errno.EACCES, errno.EPERM, errno.EISDIR):
                return err
    return saved or err


def run_program(argv: list[bytes], envp: list[bytes] | None = None) -> OSError:
    """Default signals, then pathexec_run(argv[0], argv, envp or the exec'd environment)."""
    if envp is None:
        from tcpserver.environ import inherited
        envp = inherited()
    default_signals()
    return pathexec_run(argv[0], argv, envp)


def main(argv=None) -> int:
    if argv is None:
        argv = [os.fsencode(a) for a in sys.argv]
    if len(argv) < 3:
        os.write(2, USAGE)
        return 100
    from tcpserver.environ import inherited
    from rules.errors import djb_error
    default_signals()
    err = pathexec_run(argv[1], list(argv[2:]), inherited())
    os.write(2, b"argv0: fatal: unable to run %s: %s\n" % (argv[1], djb_error(err).encode()))
    return 111


if __name__ == "__main__":
    sys.exit(main())
