"""examples/ as an administrator would use them: qmail.init starts qmail-send through
examples/rc and the SMTP and POP3 tcpserver lines piped to splogger; a message goes in over
SMTP and comes back over POP3; the log lines arrive in a real syslog daemon (busybox syslogd,
in a private mount namespace with its own /dev/log); qmail.init stop leaves nothing running.
"""
import os
import poplib
import re
import smtplib
import socket
import subprocess
import time

import pytest

import support
from queue_support import scratch_home
from qmail import daemonize as dz

EXAMPLES = support.REPO / "examples"

# Inside `unshare -m`: a private /dev whose log socket belongs to our syslogd; then
# `qmail.init start`, wait for the test to create $T/stop, `qmail.init stop`, and give the
# loggers time to pass on qmail-send's last line.
NAMESPACE_SCRIPT = r'''
set -e
T=$1
mkdir -p "$T/dev"
for f in null zero urandom random full; do : > "$T/dev/$f"; mount --bind "/dev/$f" "$T/dev/$f"; done
ln -s /proc/self/fd "$T/dev/fd"
mount --rbind "$T/dev" /dev
"$BUSYBOX" syslogd -n -O "$T/messages" &
syslogd=$!
trap 'kill $syslogd 2>/dev/null || true' EXIT
i=0; while [ ! -S /dev/log ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done
sh "$INIT" start > "$T/start.out" 2>&1
touch "$T/started"
i=0; while [ ! -e "$T/stop" ] && [ $i -lt 3000 ]; do sleep 0.05; i=$((i+1)); done
sh "$INIT" stop > "$T/stop.out" 2>&1
i=0; while ! grep -q "qmail: [0-9.]* status: exiting" "$T/messages" && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done
sleep 0.2
'''


def free_ports(count: int) -> list[int]:
    """COUNT distinct ports free on 127.0.0.1 (all held open while they are chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def server_home():
    with scratch_home("mx.example.org") as home:
        uid, gid = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
        mailbox = home / "mailboxes" / "bob"
        mailbox.mkdir(parents=True)
        subprocess.run([support.ours("maildirmake"), str(mailbox / "Maildir")], check=True)
        for path in [mailbox, *mailbox.rglob("*")]:
            os.chown(path, uid, gid)
        env = dict(os.environ, QMAILHOME=str(home))
        (home / "users" / "vpasswd").write_text(f"bob:{{PLAIN}}secret:{uid}:{gid}:{mailbox}\n")
        (home / "users" / "assign").write_text(f"=bob:bob:{uid}:{gid}:{mailbox}:::\n.\n")
        subprocess.run([support.ours("qmail-newvpw")], env=env, check=True)
        subprocess.run([support.ours("qmail-newu")], env=env, check=True)
        rules = home / "etc"
        rules.mkdir()
        for name in ("tcp.smtp", "tcp.pop3"):
            with open(EXAMPLES / name, "rb") as source:
                subprocess.run([support.ours("tcprules"), str(rules / f"{name}.cdb"),
                                str(rules / f"{name}.tmp")], stdin=source, check=True)
        yield home, mailbox


def test_boot_script_serves_smtp_and_pop3_and_logs_to_syslog(server_home, tmp_path):
    busybox, unshare = support.private_syslog_tools()
    home, mailbox = server_home
    smtp_port, pop3_port = free_ports(2)
    scripts = os.path.dirname(support.ours("tcpserver"))
    env = dict(os.environ, BUSYBOX=busybox, INIT=str(EXAMPLES / "qmail.init"),
               QMAILHOME=str(home), QMAILPATH=f"{scripts}:/usr/bin:/bin",
               RC=str(EXAMPLES / "rc"), RULES=str(home / "etc"), RUN=str(home / "run"),
               SMTP_IP="127.0.0.1", SMTP_PORT=str(smtp_port),
               POP3_IP="127.0.0.1", POP3_PORT=str(pop3_port),
               CHECKPASSWORD="vchkpw", QMAILDUID=str(os.getuid()), NOFILESGID=str(os.getgid()))
    t = tmp_path / "ns"
    t.mkdir()
    proc = subprocess.Popen([unshare, "-m", "--propagation", "private", "sh", "-c",
                             NAMESPACE_SCRIPT, "sh", str(t)], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sid = proc.pid
    try:
        wait_for(lambda: (t / "started").exists(), 30, "qmail.init start")
        assert (t / "start.out").read_text() == "Starting qmail: qmail-send qmail-smtpd qmail-pop3d\n"
        wait_for(lambda: listening(smtp_port) and listening(pop3_port), 30, "both servers")

        message = b"From: alice@example.org\r\nSubject: via examples\r\n\r\nhello bob\r\n"
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
            assert s.ehlo("client.example.org")[0] == 250
            assert s.sendmail("alice@example.org", ["bob@mx.example.org"], message) == {}
        new = mailbox / "Maildir" / "new"
        delivered = wait_for(lambda: list(new.iterdir()), 60, "delivery to bob's Maildir")
        while time.time() < delivered[0].stat().st_mtime + 1.05:    # qmail-pop3d's current second
            time.sleep(0.05)
        pop = poplib.POP3("127.0.0.1", pop3_port, timeout=30)
        try:
            pop.user("bob")
            pop.pass_("secret")
            assert pop.stat()[0] == 1
            lines = pop.retr(1)[1]
        finally:
            pop.quit()
        assert lines[-4:] == [b"Subject: via examples", b"", b"hello bob", b""]
        assert b"Delivered-To: bob@mx.example.org" in lines

        (t / "stop").touch()
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        assert (t / "stop.out").read_text() == "Stopping qmail: qmail-smtpd qmail-pop3d qmail-send\n"
        wait_for(lambda: not dz.session_members(sid), 15, "every process of the session to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        dz.signal_all(dz.session_members(sid), 9)

    lines = [re.sub(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ ", "", line)
             for line in (t / "messages").read_text().splitlines()]
    logged = "\n".join(re.sub(r" \d{10}\.\d{6} ", " <STAMP> ", line) for line in lines)
    for pattern in (
        r"mail\.info smtpd: <STAMP> tcpserver: status: 0/100",
        rf"mail\.info smtpd: <STAMP> tcpserver: ok \d+ mx\.example\.org:127\.0\.0\.1:{smtp_port} :127\.0\.0\.1::\d+",
        r"mail\.info smtpd: <STAMP> tcpserver: end \d+ status 0",
        r"mail\.info qmail: <STAMP> new msg \d+",
        r"mail\.info qmail: <STAMP> info msg \d+: bytes \d+ from <alice@example\.org> qp \d+ uid \d+",
        r"mail\.info qmail: <STAMP> starting delivery 1: msg \d+ to local bob@mx\.example\.org",
        r"mail\.info qmail: <STAMP> delivery 1: success: did_1\+0\+0/",
        rf"mail\.info pop3d: <STAMP> tcpserver: ok \d+ mx\.example\.org:127\.0\.0\.1:{pop3_port} :127\.0\.0\.1::\d+",
        r"mail\.info qmail: <STAMP> status: exiting",
    ):
        assert re.search("^" + pattern + "$", logged, re.M), pattern + "\n" + logged


def test_daemontools_run_scripts_serve_with_their_log_on_fd_1(server_home, tmp_path):
    """Each service/NAME/run as supervise starts it (cwd = the service directory, fd 1 = the
    pipe to log/run, here a file), then `svc -d`: TERM and CONT."""
    home, mailbox = server_home
    smtp_port, pop3_port = free_ports(2)
    scripts = os.path.dirname(support.ours("tcpserver"))
    env = dict(os.environ, QMAILHOME=str(home), QMAILPATH=f"{scripts}:/usr/bin:/bin",
               RULES=str(home / "etc"), SMTP_IP="127.0.0.1", SMTP_PORT=str(smtp_port),
               POP3_IP="127.0.0.1", POP3_PORT=str(pop3_port), CHECKPASSWORD="vchkpw",
               QMAILDUID=str(os.getuid()), NOFILESGID=str(os.getgid()))
    procs = {}
    try:
        for name in ("qmail-send", "qmail-smtpd", "qmail-pop3d"):
            service = EXAMPLES / "service" / name
            with open(tmp_path / name, "wb") as log:
                procs[name] = subprocess.Popen(["sh", str(service / "run")], cwd=service, env=env,
                                               stdin=subprocess.DEVNULL, stdout=log,
                                               start_new_session=True)
        wait_for(lambda: listening(smtp_port) and listening(pop3_port), 30, "both servers")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
            s.sendmail("alice@example.org", ["bob@mx.example.org"],
                       b"Subject: via daemontools\r\n\r\nhello again\r\n")
        new = mailbox / "Maildir" / "new"
        delivered = wait_for(lambda: list(new.iterdir()), 60, "delivery to bob's Maildir")
        while time.time() < delivered[0].stat().st_mtime + 1.05:
            time.sleep(0.05)
        pop = poplib.POP3("127.0.0.1", pop3_port, timeout=30)
        try:
            pop.user("bob")
            pop.pass_("secret")
            assert pop.retr(1)[1][-3:] == [b"", b"hello again", b""]
        finally:
            pop.quit()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(15)
                proc.send_signal(18)
        for name, proc in procs.items():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            wait_for(lambda: not dz.session_members(proc.pid), 15, f"{name}'s processes to end")
    logs = {name: (tmp_path / name).read_text() for name in procs}
    assert re.search(r"^tcpserver: ok \d+ mx\.example\.org:127\.0\.0\.1:%d " % smtp_port,
                     logs["qmail-smtpd"], re.M), logs["qmail-smtpd"]
    assert re.search(r"^tcpserver: end \d+ status 0$", logs["qmail-smtpd"], re.M)
    assert re.search(r"^tcpserver: ok \d+ ", logs["qmail-pop3d"], re.M)
    assert re.search(r"^delivery 1: success: did_1\+0\+0/$", logs["qmail-send"], re.M), logs["qmail-send"]
    assert logs["qmail-send"].endswith("status: exiting\n")


def test_systemd_units_run_what_the_boot_script_runs():
    """No systemd here: check each unit's shape and that its shell commands parse, with
    systemd's `$$` unescaped, and name the same programs as the tested boot script."""
    init = (EXAMPLES / "qmail.init").read_text()
    for name, program in (("qmail-send", "/var/qmail/rc"), ("qmail-smtpd", "qmail-smtpd"),
                          ("qmail-pop3d", "qmail-pop3d")):
        text = (EXAMPLES / "systemd" / f"{name}.service").read_text()
        sections = re.findall(r"^\[(\w+)\]$", text, re.M)
        assert sections == ["Unit", "Service", "Install"]
        commands = re.findall(r"^Exec\w+=(.*)$", text, re.M)
        start = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
        assert program in start
        for command in commands:
            assert re.search(r"(?<!\$)\$(?![${M])", command) is None, command   # only $$ or $MAINPID
            if command.startswith("/bin/sh -c '"):
                script = command[len("/bin/sh -c '"):-1].replace("$$", "$")
                assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0, script
        if name != "qmail-send":
            assert "| splogger " + name.split("-")[1] in start
            assert start.count("tcpserver ") == 1 and "tcpserver" in init
