"""Helpers for the queue and delivery tests (import as `queue_support`).

scratch_home() makes a $QMAILHOME laid out by our qmail-install in a directory other users
can traverse (pytest's tmp_path is mode 700 below /tmp/pytest-of-root, which programs that
drop privileges could not enter).
"""
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from support import ours

SPLIT = 23


@contextlib.contextmanager
def scratch_home(fqdn: str = "mx.example.org"):
    base = Path(tempfile.mkdtemp(prefix="pyqmail-", dir="/tmp"))
    try:
        base.chmod(0o755)
        home = base / "qmail"
        env = dict(os.environ, QMAILHOME=str(home))
        subprocess.run([ours("qmail-install"), fqdn], env=env, check=True,
                       stderr=subprocess.DEVNULL)
        yield home
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_queue(home: Path, message: bytes, envelope: bytes, env: dict | None = None,
              user: int | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    """qmail-queue with MESSAGE on fd 0 and ENVELOPE readable on fd 1."""
    full_env = dict(os.environ, QMAILHOME=str(home))
    full_env.update(env or {})
    with tempfile.TemporaryFile() as envfile:
        envfile.write(envelope)
        envfile.seek(0)
        kw = {}
        if user is not None:
            kw = dict(user=user, group=user, extra_groups=[])
        return subprocess.run([ours("qmail-queue")], input=message, stdout=envfile,
                              stderr=subprocess.PIPE, env=full_env, timeout=timeout, **kw)


def envelope(sender: bytes, *recipients: bytes) -> bytes:
    return b"F" + sender + b"\0" + b"".join(b"T" + r + b"\0" for r in recipients) + b"\0"


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def visible_messages(home: Path) -> dict[int, tuple[bytes, bytes]]:
    """{N: (mess bytes, todo bytes)} for every message qmail-send could see in todo/;
    fails if a visible message lacks its mess or intd file or they disagree."""
    queue = home / "queue"
    found = {}
    for entry in os.listdir(queue / "todo"):
        n = int(entry)
        todo = (queue / "todo" / entry).read_bytes()
        mess = queue / "mess" / str(n % SPLIT) / entry
        assert mess.exists(), f"todo/{n} without its mess file"
        assert os.stat(mess).st_ino == n
        found[n] = (mess.read_bytes(), todo)
    return found


RECEIVED = re.compile(rb"Received: \(qmail (\d+) invoked ([^)]*)\); "
                      rb"\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000\n")


def can_run_as(uid: int) -> str | None:
    """None if our console scripts run as UID, else the reason they cannot."""
    if os.getuid() != 0:
        return "needs root to run programs as another user"
    probe = subprocess.run([ours("qmail-queue").rsplit("/", 1)[0] + "/python", "-c", "pass"],
                           user=uid, group=uid, extra_groups=[], capture_output=True)
    if probe.returncode:
        return "the virtualenv is not readable by uid %d (checkout under a mode-700 directory)" % uid
    return None


def skip_unless_can_run_as(uid: int) -> None:
    reason = can_run_as(uid)
    if reason:
        pytest.skip(reason)
