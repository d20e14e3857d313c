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
import time
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
    """None if our Python programs run as UID, else the reason they cannot."""
    if os.getuid() != 0:
        return "needs root to run programs as another user"
    try:
        probe = subprocess.run([ours("qmail-queue").rsplit("/", 1)[0] + "/python", "-c",
                                "import qmail.queue"],
                               user=uid, group=uid, extra_groups=[], capture_output=True)
        failed = probe.returncode != 0
    except OSError:
        failed = True
    if failed:
        return ("the checkout or its virtualenv is not readable by uid %d (a clone under a "
                "mode-700 directory)" % uid)
    return None


def skip_unless_can_run_as(uid: int) -> None:
    """For tests that run one of our Python programs as UID."""
    reason = can_run_as(uid)
    if reason:
        pytest.skip(reason)


def skip_unless_root() -> None:
    """For delivery tests: qmail-lspawn runs qmail-local as uid 65534 in a forked child of
    its own (nothing of the checkout is read after the uid changes), and the test users'
    homes live in a world-traversable scratch directory."""
    if os.getuid() != 0:
        pytest.skip("needs root: deliveries run as another user")


# ---------------------------------------------------------------- a running qmail (qmail-start)
NOBODY = 65534


def add_user(home: Path, name: str, uid: int = NOBODY) -> Path:
    """A local user NAME (users/assign + qmail-newu) with a Maildir home owned by UID;
    the alias directory is given to UID too (root may not receive mail)."""
    userhome = home.parent / name
    for sub in ("Maildir/tmp", "Maildir/new", "Maildir/cur"):
        (userhome / sub).mkdir(parents=True, exist_ok=True)
    assign = home / "users" / "assign"
    lines = assign.read_bytes().split(b"\n")[:-2] if assign.exists() else []
    lines.append(b"=%s:%s:%d:%d:%s:::" % (name.encode(), name.encode(), uid, uid,
                                          str(userhome).encode()))
    assign.write_bytes(b"\n".join(lines) + b"\n.\n")
    subprocess.run([ours("qmail-newu")], env=dict(os.environ, QMAILHOME=str(home)), check=True)
    for path in [userhome, *userhome.rglob("*"), home / "alias", *(home / "alias").rglob("*")]:
        os.lchown(path, uid, uid)
    return userhome


def maildir_messages(maildir: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((maildir / "new").iterdir())]


def queue_many(home: Path, messages: list[tuple[bytes, bytes]]) -> None:
    """Queue (message, envelope) pairs with qmail-queue's own code (qmail.queue.enqueue) in
    one process: the same files and fsyncs as N runs of qmail-queue, without N start-ups."""
    script = (
        "import os, sys, time, pickle\n"
        "from qmail.queue import enqueue, _Crash\n"
        "os.umask(0o033); os.chdir(sys.argv[1] + '/queue')\n"
        "for message, envelope in pickle.load(sys.stdin.buffer):\n"
        "    fds = []\n"
        "    for data in (message, envelope):\n"
        "        r, w = os.pipe(); os.write(w, data); os.close(w); fds.append(r)\n"
        "    status = enqueue(fds[0], fds[1], os.getuid(), os.getpid(), time.time(),\n"
        "                     b'by uid 0', _Crash({}))\n"
        "    assert status == 0, status\n"
        "    for fd in fds: os.close(fd)\n")
    import pickle
    subprocess.run([ours("qmail-queue").rsplit("/", 1)[0] + "/python", "-c", script, str(home)],
                   input=pickle.dumps(messages), check=True, timeout=120)


class MailSystem:
    """qmail-start ./Maildir/ on HOME, its log (qmail-send's activity) in a file."""

    def __init__(self, home: Path, env: dict | None = None) -> None:
        self.home = home
        self.logpath = home.parent / "send.log"
        self.env = dict(os.environ, QMAILHOME=str(home), **(env or {}))
        self.proc = None

    def start(self) -> "MailSystem":
        with open(self.logpath, "ab") as log, open(self.logpath.with_suffix(".err"), "ab") as err:
            self.proc = subprocess.Popen([ours("qmail-start"), "./Maildir/"], stdout=log,
                                         stderr=err, stdin=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True)
        return self

    def started(self, timeout: float = 30) -> "MailSystem":
        """Start and wait for qmail-send's first status line (its signal handlers are set)."""
        before = self.log().count("status: local") if self.logpath.exists() else 0
        self.start()
        self.wait_log(r"^status: local", timeout, count=before + 1)
        return self

    def log(self) -> str:
        return self.logpath.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 30, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if len(re.findall(pattern, text, re.M)) >= count:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in qmail-send's log:\n{text[-3000:]}")
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def children(self) -> list[tuple[int, str]]:
        """(pid, command line) of every process in this qmail's session but qmail-send."""
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.getsid(int(entry)) != self.proc.pid or int(entry) == self.proc.pid:
                    continue
                if Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1][1:2] == b"Z":
                    continue        # dead, waiting for init to reap it
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except (OSError, ProcessLookupError):
                continue
            out.append((int(entry), cmd.decode(errors="replace")))
        return out

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM qmail-send, wait for it; then SIGKILL whatever is left of the session."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            self.kill_session()

    def kill_session(self) -> None:
        import signal as _signal
        try:
            os.killpg(self.proc.pid, _signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + 10
        while self.children() and time.monotonic() < deadline:
            time.sleep(0.02)


def queue_is_empty(home: Path) -> bool:
    queue = home / "queue"
    dirs = [queue / "mess" / str(i) for i in range(SPLIT)] + [queue / "todo"]
    return not any(os.listdir(d) for d in dirs)


def nothing_to_deliver(home: Path) -> bool:
    """No message left in todo/ or info/: qmail-send has finished with everything. (A mess
    file whose info/N is gone because qmail-send died between removing info/N and asking
    qmail-clean to remove the rest stays until qmail's 36-hour cleanup, as in qmail.)"""
    queue = home / "queue"
    dirs = [queue / "info" / str(i) for i in range(SPLIT)] + [queue / "todo"]
    return not any(os.listdir(d) for d in dirs)


# ---------------------------------------------------------------- a remote SMTP server
class SinkHandler:
    """aiosmtpd handler: RCPT answers come from `rcpt_replies` (any recipient) or
    `replies_for[address]` (then 250); accepted messages are kept in `received` as
    (mail_from, rcpt_tos, original_content)."""

    def __init__(self) -> None:
        self.rcpt_replies: list[str] = []
        self.replies_for: dict[str, list[str]] = {}
        self.received: list[tuple[str, list, bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        if self.replies_for.get(address):
            return self.replies_for[address].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 ok"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 ok 1795553487 qp 4242"


@contextlib.contextmanager
def smtp_sink():
    """An aiosmtpd server on 127.0.0.1 (a free port): yields (SinkHandler, port)."""
    import socket
    from aiosmtpd.controller import Controller
    handler = SinkHandler()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
