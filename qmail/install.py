"""qmail-install [FQDN]: lay out $QMAILHOME as qmail's install and config-fast do.

Creates (never replaces what exists, but fixes owners and modes of the queue):
- queue/ with pid, intd, todo, bounce, lock and the split mess, info, local, remote (0..22)
  with qmail's owners and modes (hier.c), lock/tcpto (1024 zero bytes), lock/sendmutex and the
  FIFO lock/trigger; queued/ for qmail-queued's socket (docs/queue.md);
- control/ with `me` (FQDN, else this host's name), `defaultdomain`, `plusdomain`, `locals`
  and `rcpthosts` (config-fast's set) when they do not exist yet;
- alias/ with `.qmail-postmaster`, `.qmail-mailer-daemon` and `.qmail-root`, each delivering
  to alias/Maildir/ (created), when they do not exist yet;
- users/, and bin/ with symbolic links to this installation's programs.

Owners are qmail's accounts (qmailq, qmails, qmailr, alias; group qmail); an account that does
not exist is replaced by the current user, and a warning says so on stderr. Exit 0, or 111
with `qmail-install: fatal: ...`.
"""
import os
import stat
import sys

from qmail.die import Fatal, djb_error, run, write_all
from qmail.queuefs import SPLIT

PROG = "qmail-install"

# (path, owner account, mode); split directories get 0..22 below them with the same owner/mode
DIRS = (
    ("", "root", 0o755), ("control", "root", 0o755), ("users", "root", 0o755),
    ("bin", "root", 0o755), ("alias", "alias", 0o2755),
    ("queue", "qmailq", 0o750), ("queue/pid", "qmailq", 0o700), ("queue/intd", "qmailq", 0o700),
    ("queue/todo", "qmailq", 0o750), ("queue/bounce", "qmails", 0o700),
    ("queue/lock", "qmailq", 0o750), ("queued", "qmailq", 0o755),
)
SPLIT_DIRS = (
    ("queue/mess", "qmailq", 0o750), ("queue/info", "qmails", 0o700),
    ("queue/local", "qmails", 0o700), ("queue/remote", "qmails", 0o700),
)
FILES = (                       # (path, owner, mode, contents)
    ("queue/lock/tcpto", "qmailr", 0o644, b"\0" * 1024),
    ("queue/lock/sendmutex", "qmails", 0o600, b""),
)
FIFOS = (("queue/lock/trigger", "qmails", 0o622),)
ALIASES = (".qmail-postmaster", ".qmail-mailer-daemon", ".qmail-root")
PROGRAMS = (
    "qmail-queue", "qmail-queued", "qmail-send", "qmail-start", "qmail-lspawn", "qmail-rspawn",
    "qmail-clean", "qmail-local", "qmail-remote", "qmail-qread", "qmail-qstat", "qmail-newu",
    "qmail-smtpd", "qmail-popup", "qmail-pop3d", "qmail-inject", "qmail-showctl",
    "qmail-newmrh", "sendmail", "splogger", "maildirmake", "maildir2mbox", "forward",
    "preline", "bouncesaying", "condredirect", "except", "predate", "datemail",
)


def layout():
    """Every directory of the queue as (path, account, mode), split ones expanded."""
    for path, owner, mode in DIRS:
        yield path, owner, mode
    for path, owner, mode in SPLIT_DIRS:
        yield path, owner, mode
        for i in range(SPLIT):
            yield "%s/%d" % (path, i), owner, mode


def control_defaults(fqdn: bytes) -> dict[str, bytes]:
    """config-fast's control files for FQDN."""
    domain = fqdn.split(b".", 1)[1] if b"." in fqdn else fqdn
    return {
        "me": fqdn + b"\n",
        "defaultdomain": domain + b"\n",
        "plusdomain": domain + b"\n",
        "locals": fqdn + b"\nlocalhost\n",
        "rcpthosts": fqdn + b"\nlocalhost\n",
    }


class _Owners:
    def __init__(self) -> None:
        from qmail.users import account, gid_of
        self.gid = gid_of("qmail")
        self._account = account
        self._cache: dict[str, int] = {}
        self.missing: list[str] = []

    def uid(self, name: str) -> int:
        if name == "root":
            return 0 if os.getuid() == 0 else os.getuid()
        if name not in self._cache:
            acct = self._account(name)
            if not acct.exists:
                self.missing.append(name)
            self._cache[name] = acct.uid
        return self._cache[name]


def _fix(path: str, uid: int, gid: int, mode: int) -> None:
    if os.getuid() == 0:
        os.lchown(path, uid, gid)
    os.chmod(path, mode)


def install(home: str, fqdn: bytes, bindir: str) -> list[str]:
    """Lay out HOME; returns the qmail accounts that were missing (current user used)."""
    owners = _Owners()
    for path, owner, mode in layout():
        full = os.path.join(home, path)
        os.makedirs(full, exist_ok=True)
        _fix(full, owners.uid(owner), owners.gid, mode)
    for path, owner, mode, data in FILES:
        full = os.path.join(home, path)
        if not os.path.exists(full):
            with open(full, "wb") as f:
                f.write(data)
        _fix(full, owners.uid(owner), owners.gid, mode)
    for path, owner, mode in FIFOS:
        full = os.path.join(home, path)
        if os.path.exists(full) and not stat.S_ISFIFO(os.stat(full).st_mode):
            os.unlink(full)
        if not os.path.exists(full):
            os.mkfifo(full)
        _fix(full, owners.uid(owner), owners.gid, mode)
    for name, data in control_defaults(fqdn).items():
        full = os.path.join(home, "control", name)
        if not os.path.exists(full):
            with open(full, "wb") as f:
                f.write(data)
            os.chmod(full, 0o644)
    alias = os.path.join(home, "alias")
    alias_uid = owners.uid("alias")
    for sub in ("Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"):
        full = os.path.join(alias, sub)
        os.makedirs(full, exist_ok=True)
        _fix(full, alias_uid, owners.gid, 0o700)
    for name in ALIASES:
        full = os.path.join(alias, name)
        if not os.path.exists(full):
            with open(full, "wb") as f:
                f.write(b"./Maildir/\n")
            _fix(full, alias_uid, owners.gid, 0o644)
    for name in PROGRAMS:
        target = os.path.join(bindir, name)
        link = os.path.join(home, "bin", name)
        if os.path.exists(target) and not os.path.lexists(link):
            os.symlink(target, link)
    return sorted(set(owners.missing))


def _hostname() -> bytes:
    import socket
    return socket.getfqdn().encode()


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv

    def go() -> int:
        from qmail.control import qmail_home
        fqdn = os.fsencode(argv[1]) if len(argv) > 1 else _hostname()
        home = qmail_home()
        try:
            missing = install(home, fqdn, os.path.dirname(sys.executable))
        except OSError as e:
            raise Fatal("unable to set up %s: %s" % (e.filename or home, djb_error(e))) from None
        if missing:
            write_all(2, b"%s: warning: no such accounts, using uid %d: %s\n"
                      % (PROG.encode(), os.getuid(), " ".join(missing).encode()))
        return 0
    return run(PROG, go)


if __name__ == "__main__":
    raise SystemExit(main())
