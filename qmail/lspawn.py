"""qmail-lspawn DEFAULTDELIVERY: run local deliveries for qmail-send (spec/qmail.md §9.1, §10.1).

fds 0/1: qmail-send's commands and this spawner's reports (qmail/spawn.py). For each
delivery it finds the user (users/cdb, else qmail-getpw's passwd rules, else the alias user;
qmail/users.py), and runs, as that user's uid and gid (no supplementary groups, never root),

    $QMAILHOME/bin/qmail-local -- user homedir local dash ext domain sender DEFAULTDELIVERY

with the message on fd 0 and fds 1 and 2 on one pipe; qmail-local's exit code and output
become the report (K/Z/D, at most 3000 bytes). When bin/qmail-local is missing or is our own
qmail-local, the forked child runs it in-process (qmail.local.main) instead of starting a
second interpreter: same arguments, fds, uid and exit code, without ~30 ms of start-up.
Messages must be owned by qmailq (else by the owner of queue/). Run as root.
Exit: 0 when qmail-send closes fd 0 and every delivery is reported; 100 without
DEFAULTDELIVERY; 111 if $QMAILHOME/queue/mess is unreachable.
"""
import os
import signal
import sys

from qmail import spawn as spawnlib
from qmail.users import QLX_EXECHARD, QLX_EXECSOFT, QLX_ROOT, QLX_SYS, QLX_USAGE

TRUNCREPORT = 3000
_TEMP = {4, 5, 11, 12, 16, 23, 24, 26, 110, 111, 113, 116, 28, 122}  # error_temp() errnos


def local_program(home: str) -> tuple[str, bool]:
    """(path of qmail-local, whether it is ours and may run in-process)."""
    path = os.path.join(home, "bin", "qmail-local")
    ours = os.path.join(os.path.dirname(sys.executable), "qmail-local")
    if not os.path.exists(path):
        return ours, True
    return path, os.path.realpath(path) == os.path.realpath(ours)


def child(home: str, program: str, inprocess: bool, aliasempty: bytes, fdmess: int,
          fdout: int, sender: bytes, recip: bytes, at: int) -> int:
    """The forked child of one delivery (qmail-lspawn.c spawn()); returns only on trouble."""
    from qmail.users import LookupError_, lookup
    local = recip[:at]
    if not local:
        return 0                                        # <>
    try:
        os.chdir(home)
    except OSError:
        return QLX_USAGE
    try:
        r = lookup(home, local)
    except LookupError_ as e:
        return e.code
    except MemoryError:
        return QLX_SYS
    args = [b"--", r.user, r.home, local, r.dash, r.ext, recip[at + 1:], sender, aliasempty]
    try:
        os.dup2(fdmess, 0)
        os.dup2(fdout, 1)
        os.dup2(1, 2)
    except OSError:
        return QLX_SYS
    try:
        if os.getuid() == 0:
            os.setgroups([r.gid])
            os.setgid(r.gid)
            os.setuid(r.uid)
        elif (r.uid, r.gid) != (os.getuid(), os.getgid()):
            return QLX_USAGE
    except OSError:
        return QLX_USAGE
    if os.getuid() == 0:
        return QLX_ROOT
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    if inprocess:
        # what exec would do: drop every other fd (sibling deliveries' pipes among them,
        # which would otherwise hold back their end-of-file until this delivery ends) ...
        os.closerange(3, _max_fd())
        # ... and the signal dispositions a fresh interpreter starts with
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        from qmail import local as qmail_local
        sys.argv = ["qmail-local"] + [os.fsdecode(a) for a in args]
        try:
            return qmail_local.main([os.fsdecode(a) for a in args])
        except BaseException:
            # a bug in qmail-local: die by a signal, so that the report is qmail's
            # "Zqmail-local crashed." (a temporary failure), not a bounce
            os.kill(os.getpid(), signal.SIGKILL)
    try:
        os.execv(program, [program.encode()] + args)
    except OSError as e:
        return QLX_EXECSOFT if e.errno in _TEMP else QLX_EXECHARD


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 16)
    except (ValueError, OSError):
        return 1024


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) < 2:
        return 100
    aliasempty = os.fsencode(argv[1])
    from qmail.control import qmail_home
    home = os.path.abspath(qmail_home())
    spawnlib.start(home)
    program, inprocess = local_program(home)
    # imported once here, not in every forked delivery
    import cdblib  # noqa: F401
    import qmail.users  # noqa: F401
    if inprocess:
        from qmail import local as _preload  # noqa: F401

    def spawn(fdmess, fdout, sender, recip, at):
        pid = os.fork()
        if pid == 0:
            status = QLX_SYS
            try:
                status = child(home, program, inprocess, aliasempty, fdmess, fdout, sender,
                               recip, at)
            finally:
                os._exit(status)
        return pid

    return spawnlib.serve(spawn, spawnlib.local_report, TRUNCREPORT)


if __name__ == "__main__":
    raise SystemExit(main())
