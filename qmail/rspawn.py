"""qmail-rspawn: run remote deliveries for qmail-send (spec/qmail.md §9.1, §9.4).

fds 0/1: qmail-send's commands and this spawner's reports (qmail/spawn.py). For each
delivery it runs `qmail-remote host sender recipient` (`$QMAILREMOTE` instead when set,
notqmail; found through $PATH, else our own qmail-remote) with the message on fd 0 and
fds 1 and 2 on one pipe, one recipient per SMTP session, and folds qmail-remote's
recipient record (r/h/s) and message record (K/Z/D) into one report. Messages must be owned
by qmailq (else by the owner of queue/). Exit: 0 when qmail-send closes fd 0 and every
delivery is reported; 111 if $QMAILHOME/queue/mess is unreachable.
"""
import os
import shutil
import signal
import sys

from qmail import spawn as spawnlib

_TEMP = {4, 5, 11, 12, 16, 23, 24, 26, 110, 111, 113, 116, 28, 122}  # error_temp() errnos


def remote_program() -> str:
    qr = os.environ.get("QMAILREMOTE")
    if qr is not None:             # even empty: execvp("") fails, as in qmail-rspawn.c
        return qr
    return shutil.which("qmail-remote") or os.path.join(os.path.dirname(sys.executable),
                                                         "qmail-remote")


def tcpto_clean() -> None:
    """qmail-rspawn starts with a clean lock/tcpto (1024 zero bytes)."""
    try:
        fd = os.open("../lock/tcpto", os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)


def main(argv=None) -> int:
    from qmail.control import qmail_home
    spawnlib.start(qmail_home())
    tcpto_clean()
    program = remote_program()

    def spawn(fdmess, fdout, sender, recip, at):
        pid = os.fork()
        if pid == 0:
            status = 111
            try:
                os.dup2(fdmess, 0)
                os.dup2(fdout, 1)
                os.dup2(1, 2)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                prog = os.fsencode(program)
                os.execvp(prog, [prog, recip[at + 1:], sender, recip])
            except OSError as e:
                status = 111 if e.errno in _TEMP else 100
            except ValueError:          # an empty program name: ENOENT in the C
                status = 100
            finally:
                os._exit(status)
        return pid

    return spawnlib.serve(spawn, spawnlib.remote_report, 0)


if __name__ == "__main__":
    raise SystemExit(main())
