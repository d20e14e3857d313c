"""readsubdir's pause functions: qmail-qread dies on an unopenable info/N (on stdout, 111);
qmail-send's pausedir() logs an alert and retries (spec/qmail.md §12.1; qmail-send.c)."""
import os
import subprocess

from queue_support import envelope, run_queue, scratch_home
from support import ours


def test_qmail_qread_dies_on_an_unopenable_info_subdirectory():
    with scratch_home() as home:
        assert run_queue(home, b"Subject: x\n\nbody\n", envelope(b"a@b", b"c@d")).returncode == 0
        info5 = home / "queue" / "info" / "5"
        os.rmdir(info5)
        info5.write_bytes(b"")          # root reads any directory: a file stands in (ENOTDIR)
        proc = subprocess.run([ours("qmail-qread")], capture_output=True,
                              env=dict(os.environ, QMAILHOME=str(home)))
        assert proc.returncode == 111 and proc.stderr == b""
        assert proc.stdout.endswith(b"fatal: unable to opendir info/5: not a directory\n")
