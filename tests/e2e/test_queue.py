"""qmail-queue as a real process on a scratch $QMAILHOME (spec/qmail.md §3): exit codes,
the files byte for byte, the trigger, crash safety under kill -9, and the qmail-queued path
for callers that may not write the queue."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from queue_support import (RECEIVED, SPLIT, envelope, files_under, run_queue, scratch_home,
                           skip_unless_can_run_as, visible_messages)
from support import ours
from qmail.queue import CRASH_STEPS

MESSAGE = b"Subject: test\n\nline 1\nline 2\n"
ENVELOPE = envelope(b"joe@example.com", b"a@example.org", b"b@example.net")


@pytest.fixture
def home():
    with scratch_home() as h:
        yield h


def queue_leftovers(home):
    queue = home / "queue"
    return [f for f in files_under(queue) if not f.startswith("lock/")]


def test_queued_files_byte_for_byte(home):
    trigger = os.open(home / "queue/lock/trigger", os.O_RDONLY | os.O_NONBLOCK)
    try:
        r = run_queue(home, MESSAGE, ENVELOPE)
        assert (r.returncode, r.stderr) == (0, b"")
        assert os.read(trigger, 16) == b"\0"          # qmail-send was woken
    finally:
        os.close(trigger)
    [(n, (mess, todo))] = visible_messages(home).items()
    m = RECEIVED.match(mess)
    assert m and m.group(2) == b"by uid %d" % os.getuid()
    pid = int(m.group(1))
    assert mess == m.group(0) + MESSAGE
    assert todo == b"u%d\0p%d\0Fjoe@example.com\0Ta@example.org\0Tb@example.net\0" % (
        os.getuid(), pid)
    queue = home / "queue"
    assert (queue / "intd" / str(n)).read_bytes() == todo
    assert os.stat(queue / "intd" / str(n)).st_ino == os.stat(queue / "todo" / str(n)).st_ino
    assert sorted(queue_leftovers(home)) == sorted(
        [f"mess/{n % SPLIT}/{n}", f"intd/{n}", f"todo/{n}"])
    assert os.stat(queue / "mess" / str(n % SPLIT) / str(n)).st_mode & 0o777 == 0o644


def test_empty_message_and_null_sender(home):
    r = run_queue(home, b"", b"F\0\0")
    assert r.returncode == 0
    [(mess, todo)] = visible_messages(home).values()
    assert RECEIVED.fullmatch(mess)
    assert todo.endswith(b"\0F\0")


def test_large_message(home):
    body = b"".join(b"line %07d xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" % i
                    for i in range(100_000))
    r = run_queue(home, body, ENVELOPE)
    assert r.returncode == 0
    [(mess, _todo)] = visible_messages(home).values()
    assert mess.endswith(body) and len(mess) == len(RECEIVED.match(mess).group(0)) + len(body)


@pytest.mark.parametrize("env,status", [
    (b"Xjoe@example.com\0\0", 91),
    (b"Fjoe@example.com\0Xa@b\0\0", 91),
    (b"F" + b"x" * 1003 + b"\0\0", 11),
    (b"Fa\0T" + b"y" * 2000 + b"\0\0", 11),
    (b"Fjoe@example.com\0Ta@b\0", 54),
    (b"", 54),
])
def test_envelope_errors_queue_nothing(home, env, status):
    r = run_queue(home, MESSAGE, env)
    assert r.returncode == status
    assert queue_leftovers(home) == []                  # cleaned up eagerly


def test_longest_address_is_accepted(home):
    r = run_queue(home, MESSAGE, b"F" + b"x" * 1002 + b"\0T" + b"y" * 1002 + b"\0\0")
    assert r.returncode == 0


@pytest.mark.parametrize("breakage,status", [
    ("nohome", 61), ("noqueue", 62), ("nopid", 63), ("nomess", 64), ("nointd", 65),
    ("notodo", 66),
])
def test_queue_trouble_exit_codes(home, breakage, status):
    queue = home / "queue"
    env = {}
    if breakage == "nohome":
        env = {"QMAILHOME": str(home / "nonexistent")}
    elif breakage == "noqueue":
        shutil.rmtree(queue)
        shutil.rmtree(home / "queued")
    elif breakage == "nopid":
        (queue / "pid").rmdir()
    elif breakage == "nomess":
        for i in range(SPLIT):
            (queue / "mess" / str(i)).rmdir()
    else:
        (queue / breakage[2:]).rmdir()
    r = run_queue(home, MESSAGE, ENVELOPE, env=env)
    assert r.returncode == status
    if queue.exists() and (queue / "todo").exists():
        assert visible_messages(home) == {}


@pytest.mark.parametrize("step", sorted(CRASH_STEPS))
def test_kill_9_at_every_step(home, step):
    """PYQMAIL_QUEUE_CRASH_AT=K: SIGKILL right after step K. Before todo/N is linked nothing
    is visible; from then on the whole message is."""
    r = run_queue(home, MESSAGE, ENVELOPE, env={"PYQMAIL_QUEUE_CRASH_AT": str(step)})
    assert r.returncode == -signal.SIGKILL
    visible = visible_messages(home)
    if step < 10:
        assert visible == {}
    else:
        [(mess, todo)] = visible.values()
        assert mess == RECEIVED.match(mess).group(0) + MESSAGE
        assert todo.endswith(b"\0Fjoe@example.com\0Ta@example.org\0Tb@example.net\0")
    # then a normal run still works, and only its message (plus a step>=10 one) is visible
    assert run_queue(home, MESSAGE, ENVELOPE).returncode == 0
    assert len(visible_messages(home)) == (2 if step >= 10 else 1)


def test_kill_9_from_outside_at_random_moments(home):
    """An external SIGKILL at 20 moments while a 3 MB message streams in: every exit-0 run
    is complete, and whatever is visible is complete."""
    body = b"x" * 79 + b"\n"
    body = body * (3_000_000 // len(body))
    ok = 0
    for i in range(20):
        with open(os.devnull, "wb"):
            envfile = home.parent / "env"
            envfile.write_bytes(ENVELOPE)
            with open(envfile, "rb") as ef:
                proc = subprocess.Popen([ours("qmail-queue")], stdin=subprocess.PIPE, stdout=ef,
                                        stderr=subprocess.DEVNULL,
                                        env=dict(os.environ, QMAILHOME=str(home)))
                try:
                    deadline = time.monotonic() + 0.002 * i
                    try:
                        for k in range(0, len(body), 65536):
                            proc.stdin.write(body[k:k + 65536])
                            if time.monotonic() > deadline:
                                proc.kill()
                                break
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
                    if proc.wait(30) == 0:
                        ok += 1
                finally:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait()
    visible = visible_messages(home)
    assert len(visible) >= ok
    for mess, todo in visible.values():
        assert mess == RECEIVED.match(mess).group(0) + body


@pytest.fixture
def queued(home):
    """qmail-queued running as root (the queue's owner here) on HOME."""
    env = dict(os.environ, QMAILHOME=str(home))
    proc = subprocess.Popen([ours("qmail-queued")], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not (home / "queued/socket").exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


NOBODY = 65534


def test_unprivileged_caller_goes_through_qmail_queued(home, queued):
    skip_unless_can_run_as(NOBODY)
    r = run_queue(home, MESSAGE, ENVELOPE, user=NOBODY)
    assert (r.returncode, r.stderr) == (0, b"")
    [(n, (mess, todo))] = visible_messages(home).items()
    m = RECEIVED.match(mess)
    assert m.group(2) == b"by uid %d" % NOBODY             # from SO_PEERCRED, not the caller
    assert mess == m.group(0) + MESSAGE
    assert todo == b"u%d\0p%s\0Fjoe@example.com\0Ta@example.org\0Tb@example.net\0" % (
        NOBODY, m.group(1))
    st = os.stat(home / "queue" / "mess" / str(n % SPLIT) / str(n))
    assert st.st_uid == os.getuid()                         # owned by the queue's owner


def test_unprivileged_caller_cannot_write_the_queue_directly(home):
    skip_unless_can_run_as(NOBODY)
    r = run_queue(home, MESSAGE, ENVELOPE, user=NOBODY)    # no qmail-queued running
    assert r.returncode in (62, 63)
    assert visible_messages(home) == {}


def test_qmail_queued_reports_envelope_errors(home, queued):
    skip_unless_can_run_as(NOBODY)
    r = run_queue(home, MESSAGE, b"Xbad\0\0", user=NOBODY)
    assert r.returncode == 91
    assert queue_leftovers(home) == []


def test_qmail_install_lays_out_qmails_tree(home):
    queue = home / "queue"
    modes = {"queue": 0o750, "queue/pid": 0o700, "queue/intd": 0o700, "queue/todo": 0o750,
             "queue/bounce": 0o700, "queue/lock": 0o750, "queue/mess": 0o750,
             "queue/mess/22": 0o750, "queue/info/0": 0o700, "queue/local/7": 0o700,
             "queue/remote/13": 0o700, "alias": 0o2755, "control": 0o755, "users": 0o755}
    for path, mode in modes.items():
        assert (home / path).stat().st_mode & 0o7777 == mode, path
    assert sorted(os.listdir(queue / "mess"), key=int) == [str(i) for i in range(SPLIT)]
    assert (queue / "lock/tcpto").read_bytes() == b"\0" * 1024
    assert (queue / "lock/sendmutex").read_bytes() == b""
    import stat
    assert stat.S_ISFIFO((queue / "lock/trigger").stat().st_mode)
    assert (queue / "lock/trigger").stat().st_mode & 0o777 == 0o622
    control = home / "control"
    assert {p.name: p.read_bytes() for p in control.iterdir()} == {
        "me": b"mx.example.org\n", "defaultdomain": b"example.org\n",
        "plusdomain": b"example.org\n", "locals": b"mx.example.org\nlocalhost\n",
        "rcpthosts": b"mx.example.org\nlocalhost\n"}
    for name in (".qmail-postmaster", ".qmail-mailer-daemon", ".qmail-root"):
        assert (home / "alias" / name).read_bytes() == b"./Maildir/\n"
    assert (home / "alias/Maildir/new").is_dir()
    assert os.path.realpath(home / "bin/qmail-queue") == os.path.realpath(ours("qmail-queue"))
    # a second run keeps what exists (an edited control file) and fixes modes
    (control / "me").write_bytes(b"other.example\n")
    (queue / "todo").chmod(0o777)
    r = subprocess.run([ours("qmail-install"), "mx.example.org"], capture_output=True,
                       env=dict(os.environ, QMAILHOME=str(home)))
    assert r.returncode == 0
    assert (control / "me").read_bytes() == b"other.example\n"
    assert (queue / "todo").stat().st_mode & 0o777 == 0o750
    if os.getuid() == 0:
        assert b"qmail-install: warning: no such accounts, using uid 0: " in r.stderr or \
            r.stderr == b""


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat", "rb").read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != b"Z":
                found.append(int(entry))
    return found


def test_qmail_queued_drops_the_message_of_a_caller_that_died(home, queued):
    """The caller was killed while its message was being read: nobody was told the message
    was accepted, so the worker does not link it into todo/ and removes its files."""
    skip_unless_can_run_as(NOBODY)
    envfile = home.parent / "env"
    envfile.write_bytes(ENVELOPE)
    with open(envfile, "rb") as ef:
        proc = subprocess.Popen([ours("qmail-queue")], stdin=subprocess.PIPE, stdout=ef,
                                env=dict(os.environ, QMAILHOME=str(home)), user=NOBODY,
                                group=NOBODY, extra_groups=[])
    try:
        proc.stdin.write(b"Subject: half\n\nfirst half\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 10
        while not _children_of(queued.pid):              # the worker has the fds
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.kill()
        proc.wait()
        proc.stdin.write(b"second half\n")               # the worker still reads it
        proc.stdin.close()
        while _children_of(queued.pid):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert visible_messages(home) == {}
    assert queue_leftovers(home) == []


def test_root_writes_as_the_queue_owner(home):
    """Like the setuid C program: the files belong to the queue's owner (qmailq), the real
    uid of the caller is recorded."""
    if os.getuid() != 0:
        pytest.skip("needs root")
    for path in [home / "queue", *(home / "queue").rglob("*")]:
        os.lchown(path, NOBODY, NOBODY)
    r = run_queue(home, MESSAGE, ENVELOPE)
    assert r.returncode == 0
    [(n, (mess, todo))] = visible_messages(home).items()
    assert RECEIVED.match(mess).group(2) == b"by uid 0"
    assert todo.startswith(b"u0\0")
    for path in (f"mess/{n % SPLIT}/{n}", f"intd/{n}", f"todo/{n}"):
        st = os.stat(home / "queue" / path)
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), path


def test_unprivileged_caller_with_a_stale_socket(home):
    """qmail-queued is not running but its socket file is left over: exit 63, nothing queued."""
    import socket
    skip_unless_can_run_as(NOBODY)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(home / "queued" / "socket"))
    os.chmod(home / "queued" / "socket", 0o666)
    r = run_queue(home, MESSAGE, ENVELOPE, user=NOBODY)
    assert r.returncode == 63
    assert visible_messages(home) == {}
