"""qmail-smtpd through the real qmail-queue (qmail/queue.py) on a scratch $QMAILHOME laid out by
qmail-install: what the client sent is in the queue byte for byte, whichever way the queue
program is started (spec/qmail.md §2.10.6, §3)."""
import contextlib
import os
import re
import smtplib
import subprocess
import time

import pytest

import support
from queue_support import RECEIVED, SPLIT, scratch_home, visible_messages

OPTIONS = ["-H", "-R", "-l", "mx.local"]
SMTPD_RECEIVED = re.compile(rb"Received: from unknown \(HELO client\.test\) \(127\.0\.0\.1\)\n"
                            rb"  by mx\.local with SMTP; \d{1,2} [A-Z][a-z]{2} \d{4} "
                            rb"\d\d:\d\d:\d\d -0000\n")


@pytest.fixture
def home():
    with scratch_home() as h:
        (h / "control" / "rcpthosts").write_bytes(b"example.org\n")
        yield h


def send(home, tmp_path, env=None) -> int:
    """One message through tcpserver + qmail-smtpd; the qp of its 250 reply."""
    environ = {"PATH": os.environ["PATH"], "QMAILHOME": str(home), **(env or {})}
    with support.run_tcpserver(OPTIONS, [support.ours("qmail-smtpd")], env=environ,
                               log=tmp_path / "tcpserver.log") as server:
        with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test",
                          timeout=30) as client:
            client.ehlo()
            client.mail("joe@x.org")
            client.rcpt("a@example.org")
            client.rcpt("b@example.org")
            code, reply = client.data(b"Subject: q\r\n\r\n..dot\r\nend\r\n")
    assert code == 250
    return int(re.fullmatch(rb"ok \d+ qp (\d+)", reply).group(1))


@pytest.mark.parametrize("way", ["in-process", "bin/qmail-queue", "QMAILQUEUE"])
def test_queued_byte_for_byte(home, tmp_path, way):
    env = {}
    if way == "bin/qmail-queue":               # not our script by realpath: it is exec'd
        link = home / "bin" / "qmail-queue"
        link.unlink()
        link.write_text(f"#!/bin/sh\nexec {support.ours('qmail-queue')}\n")
        link.chmod(0o755)
    elif way == "QMAILQUEUE":
        env["QMAILQUEUE"] = support.ours("qmail-queue")
    qp = send(home, tmp_path, env)
    [(n, (mess, todo))] = visible_messages(home).items()
    head = RECEIVED.match(mess)
    assert head and int(head.group(1)) == qp             # qp = the queue program's pid
    assert head.group(2) == b"by uid %d" % os.getuid()
    smtpd = SMTPD_RECEIVED.match(mess, head.end())
    assert smtpd, mess
    assert mess[smtpd.end():] == b"Subject: q\n\n..dot\nend\n"      # smtplib stuffs the dots
    assert todo == b"u%d\0p%d\0Fjoe@x.org\0Ta@example.org\0Tb@example.org\0" % (
        os.getuid(), int(head.group(1)))
    assert (home / "queue" / "mess" / str(n % SPLIT) / str(n)).exists()
    assert os.listdir(home / "queue" / "pid") == []


SESSION = (b"HELO client.test\r\nMAIL FROM:<joe@x.org>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n"
           b"Subject: own\r\n\r\nbody\r\n.\r\nQUIT\r\n")


def test_in_process_queue_as_root_gives_the_files_to_the_queue_owner(home):
    """qmail-smtpd as root writes the queue in its own process, which stays root: the new
    files get the queue's owner and mode 0644 whatever the umask, as from the setuid C
    qmail-queue; the real uid is recorded."""
    if os.getuid() != 0:
        pytest.skip("needs root")
    nobody = 65534
    for path in [home / "queue", *(home / "queue").rglob("*")]:
        os.lchown(path, nobody, nobody)
    r = subprocess.run([support.ours("qmail-smtpd")], input=SESSION, capture_output=True,
                       env={"QMAILHOME": str(home), "TCPREMOTEIP": "127.0.0.1",
                            "TCPLOCALHOST": "mx.local"}, umask=0o077, timeout=60)
    assert re.search(rb"\r\n250 ok \d+ qp \d+\r\n",
                     r.stdout), r.stdout
    [(n, (mess, todo))] = visible_messages(home).items()
    assert RECEIVED.match(mess).group(2) == b"by uid 0" and todo.startswith(b"u0\0")
    for path in (f"mess/{n % SPLIT}/{n}", f"intd/{n}", f"todo/{n}"):
        st = os.stat(home / "queue" / path)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (nobody, nobody, 0o644), path
    assert os.listdir(home / "queue" / "pid") == []


NOBODY = 65534


@contextlib.contextmanager
def running_queued(home):
    """qmail-queued as root, the queue's owner here, on HOME."""
    proc = subprocess.Popen([support.ours("qmail-queued")], env={**os.environ,
                            "QMAILHOME": str(home)}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not (home / "queued" / "socket").exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        yield proc
    finally:
        support.stop(proc)


@pytest.mark.parametrize("daemon", [True, False])
def test_unprivileged_qmail_smtpd_hands_the_message_to_qmail_queued(home, tmp_path, daemon):
    """qmail-smtpd as nobody cannot write the queue: it passes the message and envelope pipes
    to qmail-queued itself, with no qmail-queue process (qp is its own pid; the daemon takes
    uid and pid from the socket). Without the daemon: 451, as qmail-queue's exit 63 says."""
    if os.getuid() != 0:
        pytest.skip("needs root: qmail-smtpd runs as nobody")
    environ = {"PATH": os.environ["PATH"], "QMAILHOME": str(home)}
    with contextlib.ExitStack() as stack:
        stack.enter_context(support.reachable_by(NOBODY, NOBODY))
        if daemon:
            stack.enter_context(running_queued(home))
        server = stack.enter_context(support.run_tcpserver(
            ["-v", "-u", str(NOBODY), "-g", str(NOBODY), *OPTIONS],
            [support.ours("qmail-smtpd")], env=environ, log=tmp_path / "tcpserver.log"))
        with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test",
                          timeout=30) as client:
            client.mail("joe@x.org")
            client.rcpt("a@example.org")
            code, reply = client.data(b"Subject: q\r\n\r\nbody\r\n")
        pid = int(re.search(r"tcpserver: pid (\d+) ", server.log_text()).group(1))
    if not daemon:
        assert (code, reply) == (451, b"qq trouble creating files in queue (#4.3.0)")
        assert visible_messages(home) == {}
        return
    assert code == 250 and int(re.fullmatch(rb"ok \d+ qp (\d+)", reply).group(1)) == pid
    [(n, (mess, todo))] = visible_messages(home).items()
    head = RECEIVED.match(mess)
    assert (int(head.group(1)), head.group(2)) == (pid, b"by uid %d" % NOBODY)
    assert todo == b"u%d\0p%d\0Fjoe@x.org\0Ta@example.org\0" % (NOBODY, pid)


def test_queue_refusal_reaches_the_client(home, tmp_path):
    """qmail-queue's own exit codes come back as §2.10.6's replies (here: no queue/ -> 62)."""
    (home / "queue").rename(home / "queue.away")
    environ = {"PATH": os.environ["PATH"], "QMAILHOME": str(home)}
    with support.run_tcpserver(OPTIONS, [support.ours("qmail-smtpd")], env=environ,
                               log=tmp_path / "tcpserver.log") as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            with pytest.raises(smtplib.SMTPDataError) as e:
                client.sendmail("a@b", ["c@example.org"], b"x\r\n")
    assert (e.value.smtp_code, e.value.smtp_error) == (
        451, b"qq trouble creating files in queue (#4.3.0)")


def test_warm_up_queues_nothing_and_leaves_the_process_as_it_was(home, monkeypatch):
    """prepare()'s canned sessions (run in the warm tcpserver before it forks) go through the
    real driver and core over a socketpair: no file in the queue, same cwd, no fd left open."""
    from qmail import smtpd
    monkeypatch.setenv("QMAILHOME", str(home))
    before = (os.getcwd(), sorted(os.listdir("/proc/self/fd")),
              sorted(p.name for p in (home / "queue").rglob("*")))
    smtpd.warm_up(3)
    assert (os.getcwd(), sorted(os.listdir("/proc/self/fd")),
            sorted(p.name for p in (home / "queue").rglob("*"))) == before


@pytest.mark.parametrize("program", ["", "busy"])
def test_queue_program_that_cannot_be_executed(home, tmp_path, program):
    """Any execv failure of $QMAILQUEUE is the C child's _exit(120): `451 unable to exec qq`,
    and the session goes on (an empty name; ETXTBSY: a script still open for writing)."""
    import subprocess
    writer = None
    if program == "busy":
        script = tmp_path / "qq"
        writer = open(script, "wb")
        writer.write(b"#!/bin/sh\nexit 0\n")
        writer.flush()
        script.chmod(0o755)
        program = str(script)
    try:
        out = subprocess.run(
            [support.ours("qmail-smtpd")],
            input=b"MAIL FROM:<a@x.org>\r\nRCPT TO:<u@example.org>\r\nDATA\r\nSubject: q\r\n\r\n"
                  b"body\r\n.\r\nNOOP\r\nQUIT\r\n",
            env={"PATH": os.environ["PATH"], "QMAILHOME": str(home), "QMAILQUEUE": program},
            capture_output=True, timeout=30).stdout
    finally:
        if writer is not None:
            writer.close()
    assert out.split(b"\r\n")[1:] == [b"250 ok", b"250 ok", b"354 go ahead",
                                      b"451 unable to exec qq (#4.3.0)", b"250 ok",
                                      b"221 mx.example.org", b""]
    assert visible_messages(home) == {}


def test_local_ips_are_the_up_interfaces_ipv4_addresses():
    """ipme (§2.7): 0.0.0.0 and every IPv4 address of an interface that is up, as iproute2
    lists them (SIOCGIFCONF: alias labels included; SIOCGIFFLAGS: IFF_UP)."""
    import ipaddress
    import subprocess
    from qmail.smtpd import my_ipv4_addresses
    out = subprocess.run([support.system_tool("ip", "iproute2"), "-4", "-o", "addr", "show",
                          "up"], capture_output=True, text=True, check=True, timeout=30).stdout
    listed = {ipaddress.IPv4Interface(line.split()[3]).ip.packed for line in out.splitlines()
              if line.split()[2:3] == ["inet"]}
    assert listed and my_ipv4_addresses() == listed | {b"\0\0\0\0"}
