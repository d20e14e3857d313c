"""Fault injection on the SMTP path: the queue writer and qmail-smtpd itself are killed with
SIGKILL at many points of queueing. The queue writer is qmail-smtpd itself when it may write the
queue (our qmail-queue's code run in-process, qmail.smtpd.LocalQueue), or a separate
qmail-queue process when $QMAILQUEUE names one. Every message whose client saw `250 ok` is
complete in the queue; a message whose client did not is either absent or, only when the kill
came after todo/N was linked (qmail's own window, docs/queue.md), complete: never partial."""
import os
import re
import signal
import time

import pytest

import support
from e2e.smtpd_helpers.common import Client
from qmail.queue import CRASH_STEPS
from queue_support import RECEIVED, files_under, scratch_home, visible_messages

OPTIONS = ["-v", "-H", "-R", "-l", "mx.local"]
BODY = b"Subject: fault\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(200))
STORED = BODY.replace(b"\r\n", b"\n")
SMTPD_RECEIVED = re.compile(rb"Received: from unknown \(127\.0\.0\.1\)\n  by mx\.local with SMTP;"
                            rb" \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000\n")


@pytest.fixture
def home():
    with scratch_home() as h:
        (h / "control" / "rcpthosts").write_bytes(b"example.org\n")
        yield h


def server(home, tmp_path, **env):
    environ = {"PATH": os.environ["PATH"], "QMAILHOME": str(home), **env}
    return support.run_tcpserver(OPTIONS, [support.ours("qmail-smtpd")], env=environ,
                                 log=tmp_path / "tcpserver.log")


def assert_complete(home, count_at_most: int) -> dict:
    """Every message visible to delivery is whole: both Received lines, the body, its envelope."""
    visible = visible_messages(home)
    assert len(visible) <= count_at_most
    for n, (mess, todo) in visible.items():
        head = RECEIVED.match(mess)
        assert head, mess[:200]
        smtpd = SMTPD_RECEIVED.match(mess, head.end())
        assert smtpd and mess[smtpd.end():] == STORED
        assert todo == b"u%d\0p%s\0Fa@x.org\0Tu@example.org\0" % (os.getuid(), head.group(1))
    return visible


def wait_for_quiet_queue(home, timeout: float = 15.0) -> list[str]:
    """Leftovers in pid/, mess/, intd/ once the queue program has given up (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [f for f in files_under(home / "queue") if not f.startswith(("lock/", "todo/"))
                and not (f.startswith(("mess/", "intd/")) and _visible(home, f))]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _visible(home, name: str) -> bool:
    return os.path.exists(home / "queue" / "todo" / name.rsplit("/", 1)[1])


def transaction(c: Client) -> None:
    c.send(b"MAIL FROM:<a@x.org>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n")
    assert c.read_until(b"354 go ahead\r\n") == b"250 ok\r\n250 ok\r\n354 go ahead\r\n"


def exec_queue() -> dict:
    """$QMAILQUEUE naming our qmail-queue: a separate process, exec'd per message."""
    return {"QMAILQUEUE": support.ours("qmail-queue")}


@pytest.mark.parametrize("step", sorted(CRASH_STEPS))
def test_qmail_queue_killed_at_each_step(home, tmp_path, step):
    with server(home, tmp_path, PYQMAIL_QUEUE_CRASH_AT=str(step), **exec_queue()) as s:
        c = Client(s.port, timeout=30)
        try:
            c.read_until(b"\r\n")
            transaction(c)
            c.send(BODY + b".\r\n")
            assert c.read_until(b"\r\n") == b"451 qq crashed (#4.3.0)\r\n"
            c.send(b"NOOP\r\n")                     # the session goes on
            assert c.read_until(b"\r\n") == b"250 ok\r\n"
        finally:
            c.close()
    visible = assert_complete(home, 1)
    assert len(visible) == (1 if step >= 10 else 0)   # 10: todo/N linked (the duplicate window)


@pytest.mark.parametrize("size", ["held in memory", "streamed"])
@pytest.mark.parametrize("step", sorted(CRASH_STEPS))
def test_in_process_queue_killed_at_each_step(home, tmp_path, step, size):
    """qmail-smtpd writing the queue itself dies with it: the client sees the connection
    drop, never 250; the message is whole in the queue only from step 10 on."""
    body = BODY if size == "held in memory" else BODY * 800        # > LocalQueue.SPILL
    with server(home, tmp_path, PYQMAIL_QUEUE_CRASH_AT=str(step)) as s:
        c = Client(s.port, timeout=30)
        try:
            c.read_until(b"\r\n")
            transaction(c)
            c.send(body + b".\r\n")
            assert c.read_all() == b""
        finally:
            c.close()
    visible = visible_messages(home)
    assert len(visible) == (1 if step >= 10 else 0)
    for mess, todo in visible.values():
        head = RECEIVED.match(mess)
        smtpd = SMTPD_RECEIVED.match(mess, head.end())
        assert mess[smtpd.end():] == body.replace(b"\r\n", b"\n")
        assert todo == b"u%d\0p%s\0Fa@x.org\0Tu@example.org\0" % (os.getuid(), head.group(1))


@pytest.mark.parametrize("point", ["after 354", "mid-body", "before the end mark",
                                   "streaming past SPILL"])
def test_qmail_smtpd_killed_in_data(home, tmp_path, point):
    """Killed in DATA: nothing is ever visible; the message was held in memory, so nothing is
    left either, except past LocalQueue.SPILL, where it streams into its mess file: that file
    stays for qmail-send's cleanup, as after a killed qmail-queue in qmail."""
    big = BODY * (1000 if point == "streaming past SPILL" else 200)
    with server(home, tmp_path) as s:
        c = Client(s.port, timeout=30)
        try:
            c.read_until(b"\r\n")
            pid = smtpd_pid(s)
            transaction(c)
            if point == "mid-body":
                c.send(big[:len(big) // 2])
            elif point != "after 354":
                c.send(big)
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
            assert c.read_all() == b""
        finally:
            c.close()
        left = wait_for_quiet_queue(home, timeout=2 if point == "streaming past SPILL" else 15)
    if point == "streaming past SPILL":
        assert len(left) == 1 and left[0].startswith("mess/"), left
    else:
        assert left == []
    assert visible_messages(home) == {}


def test_qmail_smtpd_killed_after_the_end_mark(home, tmp_path):
    """Killed while waiting for qmail-queue: the client never saw 250; the message is either
    absent or whole (qmail-queue had its envelope, as with the C programs)."""
    with server(home, tmp_path) as s:
        c = Client(s.port, timeout=30)
        try:
            c.read_until(b"\r\n")
            pid = smtpd_pid(s)
            transaction(c)
            c.send(BODY + b".\r\n")
            os.kill(pid, signal.SIGKILL)
            assert b"250" not in c.read_all()
        finally:
            c.close()
        wait_for_quiet_queue(home)
    assert_complete(home, 1)


def test_qmail_queue_killed_while_the_message_streams(home, tmp_path):
    big = BODY * 400
    with server(home, tmp_path, **exec_queue()) as s:
        c = Client(s.port, timeout=30)
        try:
            c.read_until(b"\r\n")
            pid = smtpd_pid(s)
            transaction(c)
            c.send(big[:len(big) // 3])
            queue = child_of(pid)
            os.kill(queue, signal.SIGKILL)
            c.send(big[len(big) // 3:] + b".\r\n")
            assert c.read_until(b"\r\n") == b"451 qq crashed (#4.3.0)\r\n"
            c.send(b"MAIL FROM:<a@x.org>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n")
            c.read_until(b"354 go ahead\r\n")
            c.send(BODY + b".\r\n")                 # the next message is queued normally
            assert re.fullmatch(rb"250 ok \d+ qp \d+\r\n", c.read_until(b"\r\n"))
        finally:
            c.close()
    assert len(assert_complete(home, 1)) == 1


def test_many_sessions_with_random_kills(home, tmp_path):
    """Twenty sessions, each killed (smtpd or its qmail-queue) after a varying delay: every
    250 corresponds to a whole message in the queue, and nothing else is partial."""
    import random
    rng = random.Random(1795553416)
    acknowledged = 0
    with server(home, tmp_path) as s:
        for i in range(20):
            c = Client(s.port, timeout=30)
            try:
                c.read_until(b"\r\n")
                pid = smtpd_pid(s, i + 1)
                transaction(c)
                c.send(BODY + b".\r\n")
                time.sleep(rng.uniform(0, 0.03))
                victim = pid if i % 2 else (child_of(pid, wait=0) or pid)
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                reply = c.read_until(b"\r\n")
                if reply.startswith(b"250 ok "):
                    acknowledged += 1
            finally:
                c.close()
        # queue programs killed mid-way leave pid/mess/intd files for qmail-clean: give the
        # others a moment to finish, then judge only what delivery can see
        wait_for_quiet_queue(home, timeout=2)
    visible = assert_complete(home, 20)
    assert len(visible) >= acknowledged


def smtpd_pid(s, nth: int = 1, timeout: float = 10.0) -> int:
    """The pid tcpserver -v logged for its NTH connection (`tcpserver: pid N from IP`)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = re.findall(r"tcpserver: pid (\d+) from ", s.log_text())
        if len(pids) >= nth:
            return int(pids[nth - 1])
        if time.monotonic() > deadline:
            raise AssertionError("no pid in the tcpserver log: " + s.log_text())
        time.sleep(0.02)


def child_of(pid: int, wait: float = 10.0) -> int | None:
    """A child process of PID (qmail-smtpd's queue program), waiting up to WAIT seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = f.read().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)
