"""checkpassword PROG [ARGS...]: D. J. Bernstein's checkpassword interface over the system's
accounts (spec/qmail.md §5).

fd 3: login NUL password NUL timestamp NUL (at most 512 bytes), read to end of file, closed.
The password is checked against /etc/shadow (or the passwd field when there is no shadow
entry) with crypt(3) hashes verified by libpass (passlib); schemes libpass cannot verify
(yescrypt, $y$) fall back to the C library's crypt(3) through the stdlib `crypt` module where
Python still has it. Comparisons are constant-time; an unknown login is checked against a
dummy hash so it takes as long as a wrong password.
On success: setgroups([gid]), setgid, setuid, chdir(home), USER/HOME/SHELL set, PROG run by
PATH search with fds 0/1/2 and the rest of the environment inherited.
Exit: 1 password unacceptable (after a pause of $CHECKPASSWORD_FAIL_DELAY seconds, default
2, as login(1)/PAM pause), 2 misuse (no PROG, malformed input), 111 temporary failure (read
error, chdir, exec).
"""
import os
import sys
import time

from qmail.pop3.commands import Value

MAX_INPUT = 512
EXIT_BAD, EXIT_MISUSE, EXIT_TEMP = 1, 2, 111
FAIL_DELAY = 2.0
SHADOW = "/etc/shadow"
# A valid sha512-crypt hash of nothing anyone types: unknown logins are verified against it.
DUMMY_HASH = (b"$6$qmailpydummy$Gx3NLS8DIqmaWfAcsGBdU2OfJgm6Bsvv9BJrc99/4LwckCx//XCNW/"
              b"ivGqrD4p5peL22YwPJ.2rEWsEGX46ha1")


class Account(Value):
    __slots__ = __match_args__ = ("name", "uid", "gid", "home", "shell")
    name: bytes
    uid: int
    gid: int
    home: bytes
    shell: bytes


class Credentials(Value):
    __slots__ = __match_args__ = ("login", "password", "stamp")
    login: bytes
    password: bytearray
    stamp: bytes

    def wipe(self) -> None:
        self.password[:] = bytes(len(self.password))


def parse_input(data: bytearray) -> Credentials | None:
    """login NUL password NUL [timestamp NUL ...]; None when malformed (exit 2) (§5)."""
    end = data.find(b"\0")
    if end < 0 or end + 1 >= len(data):
        return None
    pend = data.find(b"\0", end + 1)
    if pend < 0:
        return None
    send = data.find(b"\0", pend + 1)
    stamp = bytes(data[pend + 1:] if send < 0 else data[pend + 1:send])
    return Credentials(bytes(data[:end]), data[end + 1:pend], stamp)


def read_input(fd: int = 3) -> bytearray | int:
    """All of fd 3 (then closed), or an exit code: 1 when over 512 bytes, 111 on error."""
    buf = bytearray(MAX_INPUT + 1)
    view = memoryview(buf)
    used = 0
    while True:
        try:
            n = os.readv(fd, [view[used:]])
        except OSError:
            return EXIT_TEMP
        if not n:
            break
        used += n
        if used > MAX_INPUT:
            buf[:] = bytes(len(buf))
            return EXIT_BAD
    try:
        os.close(fd)
    except OSError:
        pass
    data = buf[:used]
    buf[:] = bytes(len(buf))
    return data


def verify_crypt(password: bytes | bytearray, stored: bytes) -> bool:
    """crypt(password, stored) == stored, through libpass; never true for an empty stored."""
    if not stored:
        return False
    handler = _passlib_handler(stored)
    if handler is not None:
        try:
            return bool(handler.verify(bytes(password), stored))
        except (ValueError, TypeError):
            return False
        except Exception:      # passlib's MissingBackendError (bcrypt without a backend)
            pass
    return _libc_crypt(password, stored)


def _passlib_handler(stored: bytes):
    # Import only the handler needed: passlib.hash pulls in the whole registry (~35 ms).
    prefix = stored[:4]
    if prefix.startswith(b"$6$"):
        from passlib.handlers.sha2_crypt import sha512_crypt
        return sha512_crypt
    if prefix.startswith(b"$5$"):
        from passlib.handlers.sha2_crypt import sha256_crypt
        return sha256_crypt
    if prefix.startswith(b"$1$"):
        from passlib.handlers.md5_crypt import md5_crypt
        return md5_crypt
    if prefix in (b"$2a$", b"$2b$", b"$2y$"):
        from passlib.handlers.bcrypt import bcrypt
        return bcrypt
    if len(stored) == 13 and not stored.startswith(b"$"):
        from passlib.handlers.des_crypt import des_crypt
        return des_crypt
    return None


def _libc_crypt(password: bytes | bytearray, stored: bytes) -> bool:
    import hmac
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
    except ImportError:
        return False
    try:
        result = crypt.crypt(bytes(password).decode("utf-8", "surrogateescape"),
                             stored.decode("ascii"))
    except (UnicodeError, OSError, ValueError):
        return False
    return result is not None and hmac.compare_digest(result.encode("ascii", "replace"), stored)


def shadow_hash(login: bytes, path: str = SHADOW) -> bytes | None:
    """The password field of login's /etc/shadow entry; None when there is none (or no
    access: only root can read it, as getspnam(3))."""
    try:
        with open(path, "rb") as f:
            for line in f:
                name, _, rest = line.partition(b":")
                if name == login:
                    return rest.split(b":", 1)[0].rstrip(b"\n")
    except OSError:
        pass
    return None


def system_account(cred: Credentials) -> Account | int:
    """The classic verification (§5): getpwnam, shadow, crypt."""
    import pwd
    try:
        pw = pwd.getpwnam(os.fsdecode(cred.login)) if b"\0" not in cred.login else None
    except KeyError:
        pw = None
    if pw is None:
        verify_crypt(cred.password, DUMMY_HASH)
        return EXIT_BAD
    stored = shadow_hash(cred.login)
    if stored is None:
        stored = os.fsencode(pw.pw_passwd)
    if not verify_crypt(cred.password, stored):
        return EXIT_BAD
    return Account(os.fsencode(pw.pw_name), pw.pw_uid, pw.pw_gid,
                   os.fsencode(pw.pw_dir), os.fsencode(pw.pw_shell))


def fail_delay() -> float:
    try:
        return max(0.0, float(os.environ.get("CHECKPASSWORD_FAIL_DELAY", FAIL_DELAY)))
    except ValueError:
        return FAIL_DELAY


def become(account: Account, keep_ids_when_unprivileged: bool = False) -> int:
    """setgroups, setgid, setuid (failure: 1), chdir home (failure: 111), USER/HOME/SHELL.
    Returns 0 or the exit code."""
    same = account.uid == os.geteuid() and account.gid == os.getegid()
    if not (keep_ids_when_unprivileged and same and os.geteuid() != 0):
        try:
            os.setgroups([account.gid])
            os.setgid(account.gid)
            os.setuid(account.uid)
        except OSError:
            return EXIT_BAD
    try:
        os.chdir(account.home)
    except OSError:
        return EXIT_TEMP
    env = os.environb
    env[b"USER"] = account.name
    env[b"HOME"] = account.home
    env[b"SHELL"] = account.shell
    return 0


def serve(argv: list[str], check: "Callable[[Credentials], Account | int]",
          keep_ids_when_unprivileged: bool = False) -> int:
    """The checkpassword interface around CHECK; returns only on failure (or after exec
    in tests that stub nothing: exec replaces the process)."""
    if len(argv) < 2:
        return EXIT_MISUSE
    data = read_input()
    if isinstance(data, int):
        return data
    cred = parse_input(data)
    if cred is None:
        data[:] = bytes(len(data))
        return EXIT_MISUSE
    try:
        result = check(cred)
    finally:
        cred.wipe()
        data[:] = bytes(len(data))
    if isinstance(result, int):
        if result == EXIT_BAD:
            time.sleep(fail_delay())
        return result
    status = become(result, keep_ids_when_unprivileged)
    if status:
        return status
    return pathexec(argv[1:])


# errnos after which pathexec_run() tries the next $PATH entry (ENOENT, EPERM, EACCES, EISDIR)
_NEXT_ENTRY = {2, 1, 13, 21}


def pathexec(argv: list[str]) -> int:
    """Run argv as djb's pathexec_run() finds argv[0]: a name containing "/" as it is, else
    in each $PATH entry in turn (default /bin:/usr/bin; an empty entry is "."), going on
    only past ENOENT, EPERM, EACCES and EISDIR. Returns 111 when nothing could be run.

    Our own qmail-pop3d is run in-process instead of exec'd: a fresh interpreter costs
    more than the rest of a POP3 login. It sees what the exec'd program would: the same
    argv, environment (USER/HOME/SHELL set), cwd, ids, fds 0/1/2 and signal dispositions
    (those of a fresh Python); its exit code is ours."""
    args = [os.fsencode(a) for a in argv]
    name = args[0]
    if not name:
        return EXIT_TEMP        # every "DIR/" fails (Python's execve refuses an empty argv[0])
    if b"/" in name:
        candidates = [name]
    else:
        path = os.environb.get(b"PATH", b"/bin:/usr/bin")
        candidates = [(entry or b".") + b"/" + name for entry in path.split(b":")]
    for candidate in candidates:
        if _is_our_pop3d(candidate):
            status = _pop3d_in_process([os.fsdecode(candidate), *argv[1:]])
            if status is not None:
                return status
        _default_signals()
        try:
            os.execve(candidate, args, os.environb)
        except OSError as e:
            if e.errno not in _NEXT_ENTRY:
                return EXIT_TEMP
    return EXIT_TEMP


def _default_signals() -> None:
    """SIGPIPE and SIGXFSZ back to their defaults for PROG: Python ignores both, and execve
    keeps an ignored signal ignored; the C checkpassword passes on what qmail-popup's child
    set (SIG_DFL)."""
    import _signal      # the C module: signal.py would import enum
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ):
        _signal.signal(sig, _signal.SIG_DFL)


POP3D_SCRIPT = b"from qmail.pop3d import main"      # in the console script pip writes


def _is_our_pop3d(candidate: bytes) -> bool:
    """candidate is the qmail-pop3d console script next to our interpreter, and exec would
    run it (executable for us, as is the interpreter its first line names)."""
    ours = os.path.join(os.path.dirname(os.fsencode(sys.executable)), b"qmail-pop3d")
    try:
        if os.path.realpath(candidate) != os.path.realpath(ours):
            return False
        if not (os.access(candidate, os.X_OK) and os.access(sys.executable, os.X_OK)):
            return False
        with open(candidate, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return head.startswith(b"#!") and POP3D_SCRIPT in head


def _pop3d_in_process(argv: list[str]) -> int | None:
    """qmail-pop3d's main() here; None when it cannot be imported (then exec decides)."""
    try:
        from qmail import pop3d
    except ImportError:
        return None
    sys.argv = argv
    return pop3d.main(argv)


def main(argv: list[str] | None = None) -> int:
    return serve(sys.argv if argv is None else argv, system_account)


if __name__ == "__main__":
    sys.exit(main())
