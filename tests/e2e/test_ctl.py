"""qmailctl: services started detached with pid files, served, stopped with nothing left behind."""
import os
import poplib
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

import support
from queue_support import scratch_home
from qmail import daemonize as dz

STAMP = rb"\d+\.\d{6}"


def qmailctl(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, QMAILHOME=str(home))
    return subprocess.run([support.ours("qmailctl"), *args], env=env, capture_output=True,
                          timeout=timeout)


def demo_ids() -> tuple[int, int]:
    """qmail-pop3d refuses uid 0, so as root the POP3 user is nobody."""
    return (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())


@pytest.fixture
def home():
    with scratch_home("mx.example.org") as home:
        etc = home / "etc"
        etc.mkdir()
        (home / "log").mkdir()
        (etc / "services").write_text("smtpd pop3d\n")
        for name in ("smtpd", "pop3d"):
            (etc / f"{name}.tcpserver").write_text(support.tcpserver_path() + "\n")
            (etc / f"{name}.listen").write_text("127.0.0.1 0\n")
            (etc / f"{name}.options").write_text("-1 -v -R -H -l mx.example.org\n")
            (etc / f"{name}.log").write_text(f"qmailctl log {home}/log/{name} {name}\n")
        # qmail-smtpd is another area's; a program that talks until the client hangs up
        # shows the controller waiting for connections at stop.
        (etc / "smtpd.command").write_text("sh -c 'echo \"220 hello $X\"; exec cat'\n")
        (etc / "pop3d.command").write_text("qmail-popup mx.example.org vchkpw qmail-pop3d Maildir\n")
        (etc / "tcp.smtp").write_text('127.0.0.1:allow,X="from rules"\n:deny\n')
        uid, gid = demo_ids()
        mailbox = home / "demo"
        mailbox.mkdir()
        subprocess.run([support.ours("maildirmake"), str(mailbox / "Maildir")], check=True)
        message = mailbox / "Maildir" / "cur" / "1795553487.1.mx:2,"
        message.write_bytes(b"Subject: hi\n\nbody\n")
        os.utime(message, (1795553487, 1795553487))
        for path in [mailbox, *mailbox.rglob("*")]:
            os.chown(path, uid, gid)
        (home / "users" / "vpasswd").write_text(f"demo:{{PLAIN}}secret:{uid}:{gid}:{mailbox}\n")
        subprocess.run([support.ours("qmail-newvpw")], env=dict(os.environ, QMAILHOME=str(home)),
                       check=True)
        try:
            with support.reachable_by(uid, gid):   # vchkpw runs qmail-pop3d as the demo user
                yield home
        finally:                        # a failed test must not leave its daemons running
            qmailctl(home, "stop", "send", "smtpd", "pop3d")


def port_of(home: Path, name: str) -> int:
    """tcpserver -1 prints its port on fd 1, which goes to the logger like everything else."""
    log = home / "log" / name
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if log.exists():
            m = re.search(rb"^%s: %s (\d+)$" % (name.encode(), STAMP), log.read_bytes(), re.M)
            if m:
                return int(m.group(1))
        time.sleep(0.02)
    raise AssertionError(f"no port in {log}: {log.read_bytes() if log.exists() else None!r}")


def daemons(home: Path) -> dict[str, int]:
    return {p.name: int(p.read_text()) for p in (home / "run").glob("*.pid")}


def assert_nothing_left(pids: dict[str, int], sessions: set[int]) -> None:
    assert [n for n, p in pids.items() if dz.alive(p)] == []
    assert {s: dz.session_members(s) for s in sessions} == {s: [] for s in sessions}


def test_start_stat_serve_stop(home):
    cdb = qmailctl(home, "cdb")
    assert cdb.returncode == 0, cdb.stderr
    assert cdb.stdout == (f"Reloaded {home}/etc/tcp.smtp.\n"
                          f"{home}/etc/tcp.pop3 does not exist; pop3d runs without rules\n").encode()
    started = qmailctl(home, "start")
    assert started.returncode == 0, started.stderr
    assert started.stdout == b"Starting qmail-smtpd\nStarting qmail-pop3d\n"
    pids = daemons(home)
    assert sorted(pids) == ["qmail-pop3d.log.pid", "qmail-pop3d.pid",
                            "qmail-smtpd.log.pid", "qmail-smtpd.pid"]
    sessions = {dz.session_of(p) for p in pids.values()}
    assert len(sessions) == 4 and os.getsid(0) not in sessions      # detached, one each
    smtp_port, pop3_port = port_of(home, "smtpd"), port_of(home, "pop3d")

    again = qmailctl(home, "start", "smtpd")
    assert again.stdout == b"qmail-smtpd is already running\n" and daemons(home) == pids

    stat = qmailctl(home, "stat")
    assert stat.returncode == 0
    assert re.fullmatch(rb"qmail-smtpd: up \(pid \d+\) \d+ seconds\n"
                        rb"qmail-smtpd/log: up \(pid \d+\) \d+ seconds\n"
                        rb"qmail-pop3d: up \(pid \d+\) \d+ seconds\n"
                        rb"qmail-pop3d/log: up \(pid \d+\) \d+ seconds\n"
                        rb"(messages in queue: 0\n"
                        rb"messages in queue but not yet preprocessed: 0\n)?", stat.stdout), stat.stdout

    with socket.create_connection(("127.0.0.1", smtp_port), timeout=10) as s:
        assert s.makefile("rb").readline() == b"220 hello from rules\n"   # -x etc/tcp.smtp.cdb
    pop = poplib.POP3("127.0.0.1", pop3_port, timeout=10)
    try:
        pop.user("demo")
        pop.pass_("secret")
        assert pop.stat() == (1, 18)
        assert pop.retr(1)[1] == [b"Subject: hi", b"", b"body", b""]
    finally:
        pop.quit()

    stopped = qmailctl(home, "stop")
    assert stopped.returncode == 0
    assert stopped.stdout == b"Stopping qmail-pop3d\nStopping qmail-smtpd\n"
    assert_nothing_left(pids, sessions)
    assert daemons(home) == {}
    down = qmailctl(home, "stat", "smtpd", "pop3d")
    assert down.returncode == 1
    assert down.stdout.startswith(b"qmail-smtpd: down\nqmail-smtpd/log: down\n"
                                  b"qmail-pop3d: down\nqmail-pop3d/log: down\n")
    assert qmailctl(home, "stop").stdout == b"qmail-pop3d is not running\nqmail-smtpd is not running\n"

    smtpd_log = (home / "log" / "smtpd").read_bytes()
    assert re.search(rb"^smtpd: %s tcpserver: status: 0/\d+$" % STAMP, smtpd_log, re.M)
    assert re.search(rb"^smtpd: %s tcpserver: pid \d+ from 127\.0\.0\.1$" % STAMP, smtpd_log, re.M)
    assert re.search(rb"^smtpd: %s tcpserver: end \d+ status 0$" % STAMP, smtpd_log, re.M)
    assert re.search(rb"^pop3d: %s tcpserver: ok \d+ " % STAMP, (home / "log" / "pop3d").read_bytes(), re.M)


def test_stop_waits_for_open_connections_then_leaves_nothing(home):
    assert qmailctl(home, "start", "smtpd").returncode == 0
    pids = daemons(home)
    sessions = {dz.session_of(p) for p in pids.values()}
    client = socket.create_connection(("127.0.0.1", port_of(home, "smtpd")), timeout=10)
    try:
        assert client.makefile("rb").readline() == b"220 hello \n"      # no cdb: no X
        stop = subprocess.Popen([support.ours("qmailctl"), "stop", "smtpd"], stdout=subprocess.PIPE,
                                env=dict(os.environ, QMAILHOME=str(home)))
        try:
            # tcpserver is gone at once; its child serving us keeps the session open
            assert dz.wait_gone([pids["qmail-smtpd.pid"]], 10) == []
            time.sleep(0.3)
            assert stop.poll() is None
            client.sendall(b"still served\n")
            assert client.recv(100) == b"still served\n"
        finally:
            client.close()
            out, _ = stop.communicate(timeout=30)
    finally:
        client.close()
    assert stop.returncode == 0 and out == b"Stopping qmail-smtpd\n"
    assert_nothing_left(pids, sessions)
    assert daemons(home) == {}
    assert b"killed" not in out


def test_a_program_that_cannot_start_leaves_no_logger(home):
    (home / "etc" / "smtpd.tcpserver").write_text(f"{home}/no-such-tcpserver\n")
    started = qmailctl(home, "start", "smtpd")
    assert started.returncode == 111
    assert started.stderr == (f"qmailctl: fatal: unable to start {home}/no-such-tcpserver: "
                              "file does not exist\n").encode()
    assert daemons(home) == {}
    assert qmailctl(home, "stat", "smtpd").stdout.startswith(
        b"qmail-smtpd: down\nqmail-smtpd/log: down\n")


def test_a_dead_server_is_down_and_start_replaces_it(home):
    assert qmailctl(home, "start", "smtpd").returncode == 0
    old = daemons(home)
    os.kill(old["qmail-smtpd.pid"], 9)
    assert dz.wait_gone([old["qmail-smtpd.pid"]], 10) == []
    assert dz.wait_gone([old["qmail-smtpd.log.pid"]], 10) == []       # EOF: the logger ends
    stat = qmailctl(home, "stat", "smtpd")
    assert stat.returncode == 1 and stat.stdout.startswith(b"qmail-smtpd: down\n")
    try:
        assert qmailctl(home, "start", "smtpd").stdout == b"Starting qmail-smtpd\n"
        new = daemons(home)
        assert sorted(new) == sorted(old) and set(new.values()).isdisjoint(old.values())
        assert all(dz.alive(p) for p in new.values())
    finally:
        assert qmailctl(home, "stop", "smtpd").returncode == 0
    assert_nothing_left(new, set())


def test_usage(home):
    for args in ([], ["frobnicate"], ["start", "imapd"]):
        got = qmailctl(home, *args)
        assert got.returncode == 1
        assert got.stdout.startswith(b"Usage: qmailctl {start|stop|restart|")
    assert b"doqueue -- schedules queued messages" in qmailctl(home, "help").stdout


def test_send_reload_doqueue_and_its_helpers_stop_with_it(home):
    (home / "etc" / "send.log").write_text(f"qmailctl log {home}/log/send qmail\n")
    assert qmailctl(home, "start", "send").stdout == b"Starting qmail-send\n"
    pids = daemons(home)
    send = pids["qmail-send.pid"]
    sessions = {dz.session_of(p) for p in pids.values()}
    log = home / "log" / "send"
    deadline = time.monotonic() + 20
    while b"status: local 0/10 remote 0/20" not in (log.read_bytes() if log.exists() else b""):
        assert time.monotonic() < deadline, "qmail-send logged no status line"
        time.sleep(0.02)
    # qmail-start became qmail-send (same pid); lspawn, rspawn, clean run in its session
    with open(f"/proc/{send}/cmdline", "rb") as f:
        assert b"qmail-send" in f.read()
    assert len(dz.session_members(dz.session_of(send))) >= 4

    assert qmailctl(home, "reload").stdout == b"Sending HUP signal to qmail-send.\n"
    assert qmailctl(home, "doqueue").stdout == b"Sending ALRM signal to qmail-send.\n"
    assert qmailctl(home, "flush").stdout == b"Sending ALRM signal to qmail-send.\n"
    time.sleep(0.2)
    assert dz.alive(send)
    assert qmailctl(home, "stat", "send").returncode == 0

    stopped = qmailctl(home, "stop", "send")
    assert stopped.returncode == 0 and stopped.stdout == b"Stopping qmail-send\n"
    assert_nothing_left(pids, sessions)
    assert re.search(rb"^qmail: %s status: exiting$" % STAMP, log.read_bytes(), re.M)
    assert qmailctl(home, "reload").stdout == b"qmail-send is not running\n"


def test_pause_cont_and_restart(home):
    def state(pid: int) -> str:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()

    assert qmailctl(home, "start", "smtpd").returncode == 0
    pid = daemons(home)["qmail-smtpd.pid"]
    try:
        assert qmailctl(home, "pause", "smtpd").stdout == b"Pausing qmail-smtpd\n"
        for _ in range(100):
            if state(pid) == "T":
                break
            time.sleep(0.01)
        assert state(pid) == "T"
        assert qmailctl(home, "cont", "smtpd").stdout == b"Continuing qmail-smtpd\n"
        for _ in range(100):
            if state(pid) != "T":
                break
            time.sleep(0.01)
        assert state(pid) in ("S", "R")
        qmailctl(home, "pause", "smtpd")
        old = daemons(home)
        restarted = qmailctl(home, "restart", "smtpd")   # a paused server still stops (TERM+CONT)
        assert restarted.stdout == b"Stopping qmail-smtpd\nStarting qmail-smtpd\n"
        assert not any(dz.alive(p) for p in old.values())
        new = daemons(home)
        assert all(dz.alive(p) for p in new.values())
    finally:
        assert qmailctl(home, "stop", "smtpd").returncode == 0
    assert_nothing_left(new, set())


def test_queue_shows_qmail_qstat_and_qmail_qread(home):
    from queue_support import envelope, run_queue
    (home / "control" / "concurrencyremote").write_text("0\n")        # hold remote deliveries
    queued = run_queue(home, b"Subject: waiting\n\nheld in the queue\n",
                       envelope(b"alice@example.org", b"bob@example.net"))
    assert queued.returncode == 0, queued.stderr
    assert qmailctl(home, "queue").stdout == (b"messages in queue: 1\n"
                                              b"messages in queue but not yet preprocessed: 1\n")
    (home / "etc" / "send.log").write_text(f"qmailctl log {home}/log/send qmail\n")
    assert qmailctl(home, "start", "send").returncode == 0
    try:
        log = home / "log" / "send"
        deadline = time.monotonic() + 20
        while b"info msg" not in (log.read_bytes() if log.exists() else b""):
            assert time.monotonic() < deadline, "qmail-send did not preprocess the message"
            time.sleep(0.02)
        shown = qmailctl(home, "queue")
    finally:
        assert qmailctl(home, "stop", "send").returncode == 0
    assert shown.returncode == 0, shown.stderr
    assert re.fullmatch(rb"messages in queue: 1\n"
                        rb"messages in queue but not yet preprocessed: 0\n"
                        rb"\d+ \w{3} \d{4} \d\d:\d\d:\d\d GMT  #\d+  \d+  <alice@example\.org> \n"
                        rb"\tremote\tbob@example\.net\n", shown.stdout), shown.stdout
