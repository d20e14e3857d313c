"""qmail-start [DEFAULTDELIVERY [LOGGER ARGS...]]: start qmail's resident processes (§9.1).

Run as root. Wires, as qmail-start.c does: qmail-send (as qmails; its fd 0 is the activity
log), qmail-lspawn DEFAULTDELIVERY (default `./Mailbox`; root), qmail-rspawn (qmailr),
qmail-clean (qmailq), each by pipes to qmail-send (fds 1/2, 3/4, 5/6), and, when LOGGER is
given, LOGGER ARGS (qmaill, group nofiles) reading the log on its fd 0; without a logger the
log goes to qmail-start's fd 1. Also starts qmail-queued (qmailq; docs/queue.md) with
`-w`, so that it ends when qmail-send does. All of them share group qmail. Programs are found
through $PATH, else in this installation. The environment reaches qmail-local and the users'
programs. A missing account is replaced by the current user, with a warning on stderr
(`qmail-start: warning: no such accounts, using uid N: ...`). qmail-start then becomes
qmail-send. Exit 111 if anything cannot be started.
"""
import os
import shutil
import sys

from qmail.die import write_all
from qmail.users import account, gid_of


def program(name: str) -> str:
    return shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)


def _prot(uid: int | None, gid: int | None = None) -> None:
    if os.getuid() != 0:
        return
    if gid is not None:
        os.setgroups([gid])
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    try:
        os.chdir("/")
        os.umask(0o077)
        accounts = {name: account(name) for name in ("qmaill", "qmailq", "qmailr", "qmails")}
        missing = [name for name, acct in accounts.items() if not acct.exists]
        if missing:
            write_all(2, b"qmail-start: warning: no such accounts, using uid %d: %s\n"
                      % (os.getuid(), " ".join(missing).encode()))
        qmaill, qmailq, qmailr, qmails = (accounts[name].uid for name in accounts)
        gidn, gidq = gid_of("nofiles"), gid_of("qmail")
        _prot(None, gidq)
        args = argv[1:]
        defaultdelivery = args.pop(0) if args else "./Mailbox"
        logfd = 1
        if args:
            r, w = os.pipe()
            logger = args[0] if "/" in args[0] else shutil.which(args[0]) or args[0]
            _spawn_with([logger] + args[1:], {0: r, 1: 1}, qmaill, gidn)
            os.close(r)
            logfd = w
        p = [os.pipe() for _ in range(6)]          # pi1 .. pi6 of qmail-start.c
        life_r, life_w = os.pipe()                 # qmail-queued ends when qmail-send does
        _spawn_with([program("qmail-lspawn"), defaultdelivery], {0: p[0][0], 1: p[1][1]}, None)
        _spawn_with([program("qmail-rspawn")], {0: p[2][0], 1: p[3][1]}, qmailr)
        _spawn_with([program("qmail-clean")], {0: p[4][0], 1: p[5][1]}, qmailq)
        _spawn_with([program("qmail-queued"), "-w"], {0: life_r, 1: logfd, 2: logfd}, qmailq)
        os.close(life_r)
        _prot(qmails)
        targets = {0: logfd, 1: p[0][1], 2: p[1][0], 3: p[2][1], 4: p[3][0], 5: p[4][1],
                   6: p[5][0], 7: life_w}
        _place(targets)
        os.execv(program("qmail-send"), [program("qmail-send")])
    except OSError:
        pass
    return 111


def _place(targets: dict[int, int]) -> None:
    """Put each source fd at its target number, whatever the overlaps."""
    import fcntl
    moved = {t: fcntl.fcntl(s, fcntl.F_DUPFD, 256) for t, s in targets.items()}   # out of the way
    for t, s in moved.items():
        os.dup2(s, t)
    os.closerange(max(targets) + 1, 1 << 16)


def _spawn_with(argv: list[str], fds: dict[int, int], uid: int | None,
                gid: int | None = None) -> int:
    """fork; in the child: FDS ({target: source}) in place, fd 2 on /dev/null unless given
    (qmail-start.c closes 2..6), every other fd closed, privileges dropped, exec ARGV."""
    pid = os.fork()
    if pid:
        return pid
    try:
        _prot(None, gid)
        _prot(uid)
        targets = dict(fds)
        if 2 not in targets:
            targets[2] = os.open(os.devnull, os.O_WRONLY)   # qmail-start.c closes 2..6
        _place(targets)
        os.execv(argv[0], argv)
    except BaseException:
        pass
    os._exit(111)


if __name__ == "__main__":
    raise SystemExit(main())
