"""Starting the program on fds 0/1 (spec/ucspi-tcp.md §1.6 step 10, §1.8).

Three ways, one observable result:
- Spawner.spawn() (spawn() if ctypes is missing): posix_spawnp from the server itself, no
  fork of the Python process: the socket dup2'ed onto fds 0 and 1, SIGPIPE/SIGXFSZ back to
  default (Python ignores both, and ignored signals survive exec), an empty signal mask. The
  program is found through tcpserver's own PATH, as in the C.
- pathexec(): in a forked child, djb's pathexec_run: execve along tcpserver's PATH (default
  `/bin:/usr/bin`, an empty entry meaning `.`), continuing past ENOENT, EACCES, EPERM and
  EISDIR and reporting the last of those, with the environment given as a list of entries
  (so duplicates and `=value` entries reach the program as the C passes them).
- WarmHandler.become(): in a forked child, our own console script's main() without exec
  (below).

Known differences from the C, both invisible to ordinary programs: a SIGXFSZ that tcpserver's
own parent left ignored is default in the program (Python ignores it at start-up before any
of our code runs, so the inherited disposition cannot be known); and glibc's posix_spawn
leaves its two internal signals (32, 33) ignored, which glibc resets when it uses them.
"""
import _signal                  # in forked children: the C functions, not signal.py's enum
import atexit                   # wrappers (fewer pages of the server touched, copied)
import errno
import io
import os
import signal
import sys

from tcpserver import environ as _environ
from tcpserver.argv0 import pathexec_run

DEFAULT_SIGNALS = (int(signal.SIGPIPE), int(signal.SIGXFSZ), int(signal.SIGCHLD),
                   int(signal.SIGTERM))
_DUP2 = os.POSIX_SPAWN_DUP2


def spawn(program: bytes, argv: list[bytes], env: dict[bytes, bytes], fd: int) -> int:
    """posix_spawnp PROGRAM with the socket FD on fds 0 and 1; the child's PID. OSError if
    the program cannot be run (glibc reports the exec error and reaps the failed child)."""
    return os.posix_spawnp(program, argv, env,
                           file_actions=((_DUP2, fd, 0), (_DUP2, fd, 1)),
                           setsigmask=(), setsigdef=DEFAULT_SIGNALS)


class Spawner:
    """posix_spawnp(3) called through ctypes, which releases the GIL: while the child execs
    (glibc's posix_spawn waits for that, CLONE_VFORK) the server's other threads go on
    accepting, as the C tcpserver's parent goes on after fork(). The same attributes as
    spawn(): fds 0/1 the socket, SIGPIPE/SIGXFSZ default, empty mask; the environment is
    passed as the raw entry list, so it reaches the program exactly as the C passes it."""

    # glibc's <spawn.h>
    POSIX_SPAWN_SETSIGDEF, POSIX_SPAWN_SETSIGMASK = 0x04, 0x08
    _BUFFER = 1024                 # >= sizeof(posix_spawnattr_t), posix_spawn_file_actions_t

    def __init__(self, argv: list[bytes]) -> None:
        import ctypes
        self._ctypes = ctypes
        libc = self._libc = ctypes.CDLL(None, use_errno=True)
        self._argv_keep = list(argv)
        self._argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
        self._file = argv[0]
        self._attr = ctypes.create_string_buffer(self._BUFFER)
        sigset = ctypes.create_string_buffer(128)
        _check(libc.posix_spawnattr_init(self._attr))
        _check(libc.sigemptyset(sigset))
        _check(libc.posix_spawnattr_setsigmask(self._attr, sigset))
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            _check(libc.sigaddset(sigset, sig))
        _check(libc.posix_spawnattr_setsigdefault(self._attr, sigset))
        _check(libc.posix_spawnattr_setflags(
            self._attr, self.POSIX_SPAWN_SETSIGDEF | self.POSIX_SPAWN_SETSIGMASK))

    def spawn(self, fd: int, envp: list[bytes]) -> int:
        """Start the program with the socket FD on fds 0 and 1; its PID, or OSError."""
        ctypes, libc = self._ctypes, self._libc
        actions = ctypes.create_string_buffer(self._BUFFER)
        _check(libc.posix_spawn_file_actions_init(actions))
        try:
            _check(libc.posix_spawn_file_actions_adddup2(actions, fd, 0))
            _check(libc.posix_spawn_file_actions_adddup2(actions, fd, 1))
            env = (ctypes.c_char_p * (len(envp) + 1))(*envp, None)
            pid = ctypes.c_int()
            _check(libc.posix_spawnp(ctypes.byref(pid), self._file, actions, self._attr,
                                     self._argv, env))
            return pid.value
        finally:
            libc.posix_spawn_file_actions_destroy(actions)


def _check(err: int) -> None:
    """posix_spawn* return the error number; sig* return -1 and set errno."""
    if err == -1:
        import ctypes
        err = ctypes.get_errno()
    if err:
        raise OSError(err, os.strerror(err))


def default_signals() -> None:
    """In a forked child before exec: default dispositions (as the C's sig_uncatch), empty mask."""
    for sig in DEFAULT_SIGNALS:
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


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
    return pathexec_run(argv[0], argv, envp, b"/bin:/usr/bin" if path is None else path)


class Execer:
    """pathexec for a child the server forks only to log and exec (-v), prepared in the
    server: argv and the PATH candidates as C data, the environment written by the server
    into an EnvironBlock before the fork. The child then touches almost nothing of the
    server's (each page it writes is copied) before execve(2), tried along tcpserver's PATH
    as djb's pathexec_run does."""

    @classmethod
    def make(cls, argv: list[bytes], path: bytes | None):
        block = EnvironBlock.make()
        if block is None or not argv:
            return None
        return cls(argv, path, block)

    def __init__(self, argv: list[bytes], path: bytes | None, block: "EnvironBlock") -> None:
        import ctypes
        self.block = block
        libc = ctypes.CDLL(None, use_errno=True)
        self._execve = libc.execve
        self._execve.argtypes = (ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p)
        self._get_errno = ctypes.get_errno
        self.argv, self.path = list(argv), path
        self._argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
        self._argv_address = ctypes.addressof(self._argv)
        file = argv[0]
        if b"/" in file:
            self.candidates = [file]
        else:
            self.candidates = [(entry or b".") + b"/" + file for entry in
                               (b"/bin:/usr/bin" if path is None else path).split(b":")]

    def exec(self, entries: list[bytes]) -> OSError:
        """In the child: execve along PATH with ENTRIES; the error when none succeeded."""
        block = self.block
        if block.holds is not entries:
            block.fill(entries)
        if block.holds is None:                     # more than the block holds
            return pathexec(self.argv, entries, self.path)
        saved = None
        for candidate in self.candidates:
            self._execve(candidate, self._argv_address, block.base)
            number = self._get_errno()
            if number != errno.ENOENT:
                saved = number
                if number not in (errno.EACCES, errno.EPERM, errno.EISDIR):
                    break
        number = saved or number
        return OSError(number, os.strerror(number))


# ---------------------------------------------------------------- the warm-handler path
#
# When PROGRAM resolves (through tcpserver's PATH, as the exec would) to one of our console
# scripts (a pip wrapper `from qmail.smtpd import main` run by this same interpreter), the
# server imports that module once, freezes the heap (gc.freeze) and, per connection, forks a
# child that becomes the program without exec: fds 0/1 the socket, os.environ replaced by the
# program's environment, sys.argv as the script would see it, the signal dispositions and
# stdio objects of a fresh interpreter, then sys.exit(main()) with the interpreter's exit rules.
# What the client and the log see is the same as with the exec; only the interpreter start-up
# and the imports are saved. TCPSERVER_NO_WARM=1 in tcpserver's environment turns it off.
# Not warm (exec as usual): a rule that sets PYTHON* or locale variables (they change how an
# interpreter starts), a script that is not a plain wrapper, another interpreter.

OUR_PACKAGES = ("qmail", "tcpserver", "rules")
_WRAPPER_LINES = {b"import re", b"import sys", b"# -*- coding: utf-8 -*-",
                  b"if __name__ == '__main__':", b'if __name__ == "__main__":',
                  b"sys.argv[0] = sys.argv[0].removesuffix('.exe')",
                  b"sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])",
                  b"sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])"}
_INTERPRETER_VARIABLES = (b"PYTHON", b"LC_ALL", b"LC_CTYPE", b"LANG")


def resolve(program: bytes, path: bytes | None) -> bytes | None:
    """The file an exec of PROGRAM would run (djb's pathexec_run order), or None."""
    if b"/" in program:
        candidates = [program]
    else:
        candidates = [(entry or b".") + b"/" + program
                      for entry in (b"/bin:/usr/bin" if path is None else path).split(b":")]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def console_script(data: bytes) -> tuple[str, str] | None:
    """(module, function) when DATA is a pip console-script wrapper of one of our modules."""
    lines = [line.strip() for line in data.split(b"\n")[1:] if line.strip()]
    imports = [line for line in lines if line.startswith(b"from ")]
    if len(imports) != 1:
        return None
    words = imports[0].split()
    if len(words) != 4 or words[2] != b"import" or not words[3].decode("latin-1").isidentifier():
        return None
    module, function = words[1].decode("ascii", "replace"), words[3].decode("ascii")
    if module.split(".")[0] not in OUR_PACKAGES:
        return None
    call = b"sys.exit(%s())" % words[3]
    if any(line not in _WRAPPER_LINES and line not in (imports[0], call) for line in lines):
        return None
    return (module, function) if call in lines else None


def warm_handler(program: bytes, path: bytes | None, environ: dict[bytes, bytes]):
    """A WarmHandler for PROGRAM when it is one of our console scripts, else None."""
    if environ.get(b"TCPSERVER_NO_WARM", b"") not in (b"", b"0"):
        return None
    script = resolve(program, path)
    if script is None:
        return None
    try:
        with open(script, "rb") as f:
            data = f.read(4096)
    except OSError:
        return None
    if not data.startswith(b"#!"):
        return None
    interpreter = data[2:].split(b"\n", 1)[0].strip()
    try:
        same = (b" " not in interpreter and os.path.dirname(interpreter) ==
                os.path.dirname(os.fsencode(sys.executable)) and
                os.path.samefile(interpreter, sys.executable))
    except OSError:
        same = False
    target = console_script(data)
    if not same or target is None:
        return None
    try:
        import importlib
        module = importlib.import_module(target[0])
        function = getattr(module, target[1])
        prepare = getattr(module, "prepare", None)    # the module's own warm-up, if any
        if callable(prepare):
            prepare()
    except Exception:
        return None
    return WarmHandler(script, interpreter, function)


class WarmHandler:
    def __init__(self, script: bytes, interpreter: bytes, main) -> None:
        self.script = script
        self.interpreter = interpreter
        self.main = main
        # PEP 538: did this interpreter coerce the C locale at start-up? The exec'd one would
        # do the same with the same locale variables (rules that set them are never warm).
        self.coerced_ctype = os.environb.get(b"LC_CTYPE") if _coerced() else None
        self.setproctitle = setproctitle_function()
        self.unbuffered = bool(os.environb.get(b"PYTHONUNBUFFERED"))
        self.stdio = _stdio_for_children(self.unbuffered)
        self.environ_block = EnvironBlock.make()
        self._argv = self._sys_argv = self._title = None

    def set_argv(self, argv: list[bytes]) -> None:
        """In the server: the program's argv, so that sys.argv and the process title every
        child gets are made once here (os.fsdecode in a child copies some 30 pages)."""
        self._argv = argv
        self._sys_argv, self._title = self._argv_and_title(argv)

    def _argv_and_title(self, argv: list[bytes]) -> tuple[list[str], str]:
        return ([os.fsdecode(self.script)] + [os.fsdecode(a) for a in argv[1:]],
                os.fsdecode(b" ".join([self.interpreter, self.script, *argv[1:]])))

    def fill_environ(self, entries: list[bytes]) -> None:
        """In the server, just before forking the child that will get ENTRIES: write them
        out as a C environment, so that the child only has to point libc at it."""
        if self.environ_block is not None:
            self.environ_block.fill(entries)

    def usable(self, rule_env) -> bool:
        return not any(name.startswith(_INTERPRETER_VARIABLES) for name, _ in rule_env)

    def become(self, argv: list[bytes], entries: list[bytes], env: dict[bytes, bytes]) -> None:
        """In the forked child, fds 0/1 already the socket, default signals: run the program
        as the exec'd script would, then exit with its status. Returns only when setting up
        failed before the program started (the caller then execs it).

        ENTRIES is the environment the exec would pass (what environ.inherited() now returns),
        ENV the same as a mapping (os.environ)."""
        try:
            _environ._exec_environ = entries
            _python_signals()
            _replace_environ(env, self.environ_block, entries)
            if self.coerced_ctype is not None:
                os.environb[b"LC_CTYPE"] = self.coerced_ctype
            if argv is self._argv:
                sys.argv, title = self._sys_argv, self._title
            else:
                sys.argv, title = self._argv_and_title(argv)
            if self.setproctitle is not None:
                self.setproctitle(title)
            unbuffered = bool(env.get(b"PYTHONUNBUFFERED"))
            if self.stdio is not None and unbuffered == self.unbuffered:
                _install_stdio(*self.stdio)
            else:
                _install_stdio(*_fresh_stdio(unbuffered))
        except Exception:
            _environ._exec_environ = None
            default_signals()
            return                   # the caller execs the program instead
        status = 1
        try:
            status = _run_like_interpreter(self.main)
        finally:
            os._exit(status)


def setproctitle_function():
    """setproctitle.setproctitle, or None. The C extension is loaded without the package's
    __init__, which imports logging and so threading: their at-fork handlers would run in
    every forked child (warm handlers), writing some 150 pages of the server's heap."""
    module = sys.modules.get("setproctitle")
    if module is not None:
        return getattr(module, "setproctitle", None)
    try:
        import importlib.machinery
        import importlib.util
        spec = importlib.util.find_spec("setproctitle")
        for directory in spec.submodule_search_locations or ():
            for name in sorted(os.listdir(directory)):
                if name.startswith("_setproctitle.") and name.endswith(".so"):
                    full = "setproctitle._setproctitle"
                    loader = importlib.machinery.ExtensionFileLoader(
                        full, os.path.join(directory, name))
                    module = importlib.util.module_from_spec(
                        importlib.util.spec_from_loader(full, loader))
                    loader.exec_module(module)
                    return module.setproctitle
    except Exception:
        pass
    try:
        from setproctitle import setproctitle
    except ImportError:
        return None
    return setproctitle


def _coerced() -> bool:
    """Whether this interpreter set LC_CTYPE itself (PEP 538): its value differs from the one
    in the environment it was exec'd with."""
    try:
        with open("/proc/self/environ", "rb") as f:
            original = [e for e in f.read().split(b"\0") if e.startswith(b"LC_CTYPE=")]
    except OSError:
        return False
    now = os.environb.get(b"LC_CTYPE")
    return now is not None and (not original or original[0] != b"LC_CTYPE=" + now)


def _python_signals() -> None:
    """The dispositions a freshly exec'd interpreter has: SIGPIPE and SIGXFSZ ignored, SIGINT
    raising KeyboardInterrupt when it was at its default."""
    _signal.signal(_signal.SIGPIPE, _signal.SIG_IGN)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)
    if _signal.getsignal(_signal.SIGINT) == _signal.SIG_DFL:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)


class EnvironBlock:
    """A C environment (the pointer array, then the NAME=VALUE strings) in memory allocated
    once. The server fills it before each fork; the child, which has its own copy of the page,
    sets libc's `environ` to it: no Python object of the server's is touched there (each
    reference count written would copy a page), unlike a ctypes array or setenv() per name.
    glibc copies a foreign array before it ever changes its size."""

    SIZE = 1 << 16

    @classmethod
    def make(cls):
        try:
            import ctypes
            import struct
            return cls(ctypes, struct)
        except (ImportError, OSError, ValueError, AttributeError):
            return None                # no ctypes or no glibc: os.putenv per name

    def __init__(self, ctypes, struct) -> None:
        self._ctypes = ctypes
        self._buffer = (ctypes.c_char * self.SIZE)()
        self.base = ctypes.addressof(self._buffer)
        self._pointer = struct.calcsize("P")
        self._memmove = ctypes.memmove
        self._pack = struct.pack
        self._c_environ = ctypes.c_void_p.in_dll(ctypes.CDLL(None), "environ")
        self.holds = None              # the entries list written out last

    def fill(self, entries: list[bytes]) -> None:
        self.holds = None
        count = len(entries)
        strings = b"\0".join(entries) + b"\0"
        table = self._pointer * (count + 1)
        if table + len(strings) > self.SIZE:
            return
        pointers = []
        start, pos, find = self.base + table, 0, strings.find
        for _ in range(count):
            pointers.append(start + pos)
            pos = find(b"\0", pos) + 1
        data = self._pack("%dP" % (count + 1), *pointers, 0) + strings
        self._memmove(self.base, data, len(data))
        self.holds = entries

    def install(self, entries: list[bytes]) -> None:
        """In the child: libc's environ becomes ENTRIES (from the block if it holds them)."""
        if self.holds is not entries:
            self.fill(entries)
        if self.holds is not None:
            self._c_environ.value = self.base
            return
        c_char_p = self._ctypes.c_char_p            # too big for the block
        self._array = (c_char_p * (len(entries) + 1))(*entries, None)
        self._c_environ.value = self._ctypes.addressof(self._array)


_environ_kept = None               # the server's environment dict, set aside in a warm child


def _replace_environ(env: dict[bytes, bytes], block: EnvironBlock | None = None,
                     entries=()) -> None:
    """os.environ(b) becomes ENV and the C environment ENTRIES (NAME=VALUE, the same in the
    exec's order), through BLOCK when there is one (else an unsetenv() and a setenv() per
    name, whose allocations copy some 70 of the server's pages)."""
    global _environ_kept
    data = getattr(os.environb, "_data", None)
    if type(data) is not dict or data is not getattr(os.environ, "_data", None):
        os.environb.clear()
        os.environb.update(env)
        return
    if block is not None:
        block.install(entries)
        # The server's dict is set aside, not emptied, and ENV (made for this child) is used
        # as it is: emptying or copying would write to every name and value, each on a page
        # shared with the server.
        _environ_kept = data
        os.environb._data = os.environ._data = env
        return
    for name in data:
        os.unsetenv(name)
    for name, value in env.items():
        os.putenv(name, value)
    data.clear()
    data.update(env)


def _stdio_for_children(unbuffered: bool):
    """The (stdin, stdout, stderr) every warm child installs, made once here in the server,
    which never uses them: each child gets them untouched (copy-on-write) instead of building
    three buffered text streams (some 75 copied pages per connection). They are made while
    fds 0 and 1 are a socket, as they are in the children (the streams note once whether their
    fd is seekable); fd 2 is the server's own, which the children inherit. None on failure."""
    saved = []
    try:
        saved.append(os.dup(0))
        saved.append(os.dup(1))
    except OSError:
        for fd in saved:
            os.close(fd)
        return None
    try:
        import socket
        a, b = socket.socketpair()
        with a, b:
            os.dup2(a.fileno(), 0, inheritable=False)
            os.dup2(a.fileno(), 1, inheritable=False)
            return _fresh_stdio(unbuffered)
    except OSError:
        return None
    finally:
        for fd, original in zip((0, 1), saved):
            os.dup2(original, fd)
            os.close(original)


_stdio_kept = None                 # the server's streams, set aside in a warm child


def _install_stdio(stdin, stdout, stderr) -> None:
    """Kept, the server's streams are not freed in the child (freeing writes to their pages)."""
    global _stdio_kept
    _stdio_kept = (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__,
                   sys.__stderr__)
    sys.stdin = sys.__stdin__ = stdin
    sys.stdout = sys.__stdout__ = stdout
    sys.stderr = sys.__stderr__ = stderr


def _fresh_stdio(unbuffered: bool):
    """(stdin, stdout, stderr) as a new interpreter makes them for fds 0/1 (a socket) and 2."""
    old = sys.__stdout__ or sys.__stderr__
    encoding = getattr(old, "encoding", None) or "utf-8"
    errors = getattr(old, "errors", None) or "strict"

    def stream(fd: int, mode: str, line_buffering: bool, errors: str):
        raw = io.FileIO(fd, mode + "b", closefd=False)
        if mode == "r":
            buffered = io.BufferedReader(raw)
        elif unbuffered:
            buffered = raw
        else:
            buffered = io.BufferedWriter(raw)
        text = io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline=None
                                if mode == "r" else "\n", line_buffering=line_buffering,
                                write_through=unbuffered)
        text.mode = mode
        return text

    return (stream(0, "r", False, errors), stream(1, "w", False, errors),
            stream(2, "w", True, "backslashreplace"))


def _run_like_interpreter(main) -> int:
    """sys.exit(main()) with the interpreter's rules: the SystemExit code (None 0, an int
    masked by the kernel, anything else printed to stderr and 1), a traceback and 1 for an
    uncaught exception, then non-daemon threads joined, atexit, stdout flushed (120 if that
    fails)."""
    try:
        try:
            code = main()
        except SystemExit as e:
            code = e.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code & 0xFF
        else:
            try:
                print(code, file=sys.stderr)
            except Exception:
                pass
            status = 1
    except BaseException:
        try:
            sys.excepthook(*sys.exc_info())
        except Exception:
            pass
        status = 1
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except Exception:
            pass
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except Exception:
        if status == 0:
            status = 120
    try:
        sys.stderr.flush()
    except Exception:
        pass
    return status
