"""The whole mail system on 127.0.0.1, as issue 7 asks, byte for byte (spec/qmail.md §2-§11):

  swaks -> our tcpserver + qmail-smtpd -> qmail-queue -> qmail-send (qmail-start) ->
  qmail-lspawn -> qmail-local -> Maildir -> our tcpserver + qmail-popup + vchkpw + qmail-pop3d
  -> mpop into a local maildir;

plus remote delivery through smtproutes to an SMTP server on 127.0.0.1 (aiosmtpd), a bounce for
a recipient that does not exist delivered back to the sender's mailbox, a route that refuses
temporarily retried after `qmailctl doqueue` (SIGALRM), and qmail-inject and sendmail from a
shell. The system is laid out and started as `make run` does (examples/maildrop.py:
qmail-install, a vchkpw user, qmailctl start), once for the module, on free ports.
"""
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import support
from queue_support import skip_unless_root, smtp_sink

DATE = rb"\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000"
SENDER = "you@example.org"


def _maildrop_module():
    spec = importlib.util.spec_from_file_location("maildrop", support.REPO / "examples" / "maildrop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def drop():
    skip_unless_root()
    support.system_tool("swaks", "swaks")
    support.system_tool("mpop", "mpop")
    maildrop = _maildrop_module()
    base = Path(tempfile.mkdtemp(prefix="pyqmail-pipeline-", dir="/tmp"))
    base.chmod(0o755)                  # qmail-local and qmail-pop3d run as the demo user
    system = maildrop.Maildrop(base / "qmail")
    try:
        system.install()
        uid, gid, mailbox = system.demo_user()
        # ~alias belongs to the alias user, never root (qmail-lspawn: `Not allowed to perform
        # deliveries as root.`): here the demo user plays it.
        alias = system.home / "alias"
        for path in [alias, *alias.rglob("*")]:
            os.lchown(path, uid, gid)
        system.configure(0, 0)
        # qmail-inject appends defaultdomain (here `localhost`) to host names without a dot
        # (§8.1), as the C does: mail it injects for `demo` goes to demo@localhost.localhost.
        with open(system.home / "control" / "locals", "a") as f:
            f.write("localhost.localhost\n")
        system.start()
        system.mailbox = mailbox / "Maildir"
        yield system
    finally:
        try:
            system.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


def log_text(system) -> str:
    return system.log.read_text(errors="replace")


def wait_log(system, pattern: str, count: int = 1, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = log_text(system)
        if len(re.findall(pattern, text, re.M)) >= count:
            return text
        assert time.monotonic() < deadline, f"{pattern!r} not in the log:\n{text[-3000:]}"
        time.sleep(0.05)


def swaks(system, sender: str, recipient: str, data: bytes) -> str:
    """Debian's swaks, HELO client.example, DATA from a file: swaks sends its lines with CR LF,
    stuffs dots and ends with CR LF `.` CR LF, so DATA's final LF is left out of the file."""
    assert data.endswith(b"\n")
    with tempfile.NamedTemporaryFile() as f:
        f.write(data[:-1])
        f.flush()
        proc = subprocess.run([support.system_tool("swaks", "swaks"),
                               "--server", f"127.0.0.1:{system.ports['smtpd']}",
                               "--helo", "client.example", "--from", sender, "--to", recipient,
                               "--data", f.name], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^<-  250 ok \d+ qp \d+$", proc.stdout, re.M), proc.stdout
    return proc.stdout


def delivered(system, token: bytes, timeout: float = 30) -> bytes:
    """The message holding TOKEN in the demo user's Maildir (new/ or cur/)."""
    deadline = time.monotonic() + timeout
    while True:
        for sub in ("new", "cur"):
            for path in sorted((system.mailbox / sub).iterdir()):
                data = path.read_bytes()
                if token in data:
                    return data
        assert time.monotonic() < deadline, f"{token!r} not delivered:\n{log_text(system)[-3000:]}"
        time.sleep(0.05)


def mpop_fetch(system, token: bytes, tmp: Path, timeout: float = 30) -> bytes:
    """Debian's mpop (USER/PASS, no TLS, no Received header of its own) into a fresh maildir,
    until the message holding TOKEN is there (qmail-pop3d hides the current second, §15)."""
    target = tmp / "fetched"
    for sub in ("tmp", "new", "cur"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    argv = [support.system_tool("mpop", "mpop"), "-C", "/dev/null", "--host=127.0.0.1",
            f"--port={system.ports['pop3d']}", "--tls=off", "--auth=user", "--user=demo",
            "--passwordeval=echo demo", "--keep=on", "--received-header=off",
            f"--uidls-file={tmp / 'uidls'}", f"--deliver=maildir,{target}"]
    deadline = time.monotonic() + timeout
    while True:
        (tmp / "uidls").unlink(missing_ok=True)       # fetch everything again
        got = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, HOME=str(tmp)))
        assert got.returncode == 0, got.stdout + got.stderr
        for path in (target / "new").iterdir():
            data = path.read_bytes()
            if token in data:
                return data
        assert time.monotonic() < deadline, f"mpop did not fetch {token!r}"
        time.sleep(0.2)


def queue_invoked_by(uid: int) -> bytes:
    """What qmail-queue's Received line says for a caller with UID (§3.3, qmail-queue.c)."""
    def uid_of(name):
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            return None
    for name, how in (("alias", b"by alias"), ("qmaild", b"from network"),
                      ("qmails", b"for bounce")):
        if uid == uid_of(name):
            return how
    return b"by uid %d" % uid


def split_header(message: bytes, count: int) -> tuple[list[bytes], bytes]:
    lines = message.split(b"\n", count)
    return lines[:count], lines[count]


# ------------------------------------------------------------------ SMTP in, POP3 out

def test_swaks_to_maildir_to_mpop_byte_for_byte(drop, tmp_path):
    token = b"pipeline-%d" % time.time_ns()
    sent = (b"From: " + SENDER.encode() + b"\nTo: demo@localhost\nSubject: " + token + b"\n"
            b"\n"
            b"first line\n"
            b".a line starting with a dot\n"
            b"..two dots\n"
            b"\n"
            b"tab\there, trailing spaces   \n"
            b"last line\n")
    swaks(drop, SENDER, "demo@localhost", sent)
    stored = delivered(drop, token)
    # qmail-local: Return-Path and Delivered-To (§10.3); qmail-queue: its Received line on
    # top (§3.3); qmail-smtpd: its Received line (§2.10.5; tcpserver -H -R -l localhost:
    # no TCPREMOTEHOST, so `unknown`, and HELO shown as it differs).
    header, rest = split_header(stored, 5)
    assert header[0] == b"Return-Path: <you@example.org>"
    assert header[1] == b"Delivered-To: demo@localhost"
    how = queue_invoked_by(os.getuid())     # qmailctl's tcpserver has no -u
    assert re.fullmatch(rb"Received: \(qmail \d+ invoked " + re.escape(how) + rb"\); " + DATE,
                        header[2]), header[2]
    assert header[3] == b"Received: from unknown (HELO client.example) (127.0.0.1)"
    assert re.fullmatch(rb"  by localhost with SMTP; " + DATE, header[4]), header[4]
    assert rest == sent
    # qmail-pop3d sends every line with CR LF, stuffs dots and adds an empty line before the
    # final dot (§6.3); mpop undoes the first two and keeps the extra line.
    fetched = mpop_fetch(drop, token, tmp_path)
    assert fetched == stored + b"\n"
    log = log_text(drop)
    assert re.search(r"^qmail: \d+\.\d{6} delivery \d+: success: did_1\+0\+0/$", log, re.M), log


# ------------------------------------------------------------------ a bounce, in qmail's format

BOUNCE = (rb"Return-Path: <>\n"
          rb"Delivered-To: demo@localhost\n"
          rb"Received: \(qmail \d+ invoked (?P<how>[^)]*)\); " + DATE + rb"\n"
          rb"Date: " + DATE + rb"\n"
          rb"From: MAILER-DAEMON@localhost\n"
          rb"To: demo@localhost\n"
          rb"Subject: failure notice\n"
          rb"\n"
          rb"Hi\. This is the qmail-send program at localhost\.\n"
          rb"I'm afraid I wasn't able to deliver your message to the following addresses\.\n"
          rb"This is a permanent error; I've given up\. Sorry it didn't work out\.\n"
          rb"\n"
          rb"<nobody-here@localhost>:\n"
          rb"Sorry, no mailbox here by that name\. \(#5\.1\.1\)\n"
          rb"\n"
          rb"--- Below this line is a copy of the message\.\n"
          rb"\n"
          rb"Return-Path: <demo@localhost>\n"
          rb"(?P<copy>.*)")


def test_unknown_recipient_bounces_to_the_senders_mailbox(drop, tmp_path):
    token = b"bounce-%d" % time.time_ns()
    sent = b"Subject: " + token + b"\n\nto nobody\n"
    swaks(drop, "demo@localhost", "nobody-here@localhost", sent)
    wait_log(drop, r"^qmail: \S+ bounce msg \d+ qp \d+$")
    bounce = delivered(drop, b"<nobody-here@localhost>:\n")
    m = re.fullmatch(BOUNCE, bounce, re.S)
    assert m, bounce
    # qmail-send queues the bounce as qmails: `invoked for bounce` when that account
    # exists, else by the uid qmail-start replaced it with.
    assert m["how"] == queue_invoked_by(os.getuid())
    copy = m["copy"]
    assert re.match(rb"Received: \(qmail \d+ invoked [^)]*\); " + DATE + rb"\n"
                    rb"Received: from unknown \(HELO client.example\) \(127.0.0.1\)\n"
                    rb"  by localhost with SMTP; " + DATE + rb"\n", copy), copy
    assert copy.endswith(b"\n" + sent)
    assert mpop_fetch(drop, b"<nobody-here@localhost>:\n", tmp_path) == bounce + b"\n"
    log = log_text(drop)
    assert re.search(r"^qmail: \S+ delivery \d+: failure: Sorry,_no_mailbox_here_by_that_name."
                     r"_\(#5.1.1\)/$", log, re.M), log


# ------------------------------------------------------------------ remote, retried remote

def test_remote_delivery_through_smtproutes_with_a_retry(drop):
    token = b"remote-%d" % time.time_ns()
    with smtp_sink() as (handler, port):
        handler.replies_for = {"later@slow.example": ["451 4.3.0 try again later"]}
        (drop.home / "control" / "smtproutes").write_bytes(
            b"far.example:127.0.0.1:%d\n.slow.example:127.0.0.1:%d\nslow.example:127.0.0.1:%d\n"
            % (port, port, port))
        sent = b"Subject: " + token + b"\n\n.leading dot\nbody\n"
        swaks(drop, SENDER, "someone@far.example", sent)
        swaks(drop, SENDER, "later@slow.example", sent)
        log = wait_log(drop, r"^qmail: \S+ delivery \d+: deferral: 127.0.0.1_does_not_like_"
                             r"recipient\./Remote_host_said:_451_4\.3\.0_try_again_later/"
                             r"Giving_up_on_127\.0\.0\.1\./$")
        assert re.search(r"^qmail: \S+ starting delivery \d+: msg \d+ to remote "
                         r"later@slow\.example$", log, re.M)
        deadline = time.monotonic() + 30
        while len(handler.received) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert [r[:2] for r in handler.received] == [(SENDER, ["someone@far.example"])]
        # `qmailctl doqueue` is SIGALRM to qmail-send: retry now, not 400 s after birth (§9.3)
        ctl = subprocess.run([support.ours("qmailctl"), "doqueue"], env=drop.env,
                             capture_output=True, text=True, timeout=30)
        assert ctl.returncode == 0, ctl.stdout + ctl.stderr
        while len(handler.received) < 2:
            assert time.monotonic() < deadline, log_text(drop)[-3000:]
            time.sleep(0.05)
        assert handler.received[1][:2] == (SENDER, ["later@slow.example"])
        (drop.home / "control" / "smtproutes").unlink()
    # What qmail-remote sends is the queued message: the two Received lines and the message,
    # CR LF, dots stuffed on the wire (aiosmtpd unstuffs them); no Return-Path/Delivered-To.
    for _, _, content in handler.received:
        assert re.fullmatch(rb"Received: \(qmail \d+ invoked [^)]*\); " + DATE + rb"\r\n"
                            rb"Received: from unknown \(HELO client.example\) \(127.0.0.1\)\r\n"
                            rb"  by localhost with SMTP; " + DATE + rb"\r\n"
                            + re.escape(sent.replace(b"\n", b"\r\n")), content), content
    wait_log(drop, r"^qmail: \S+ delivery \d+: success: 127\.0\.0\.1_accepted_message\./"
                         r"Remote_host_said:_250_ok_1795553487_qp_4242/$", count=2)


# ------------------------------------------------------------------ from a shell

def test_qmail_inject_and_sendmail_from_a_shell(drop):
    token = "shell-%d" % time.time_ns()
    env = dict(drop.env, USER="ann", LOGNAME="ann", NAME="Ann Example")
    for key in ("QMAILUSER", "MAILUSER", "QMAILHOST", "MAILHOST", "QMAILNAME", "MAILNAME",
                "QMAILINJECT", "QMAILSUSER", "QMAILSHOST"):
        env.pop(key, None)
    script = (f"printf 'Subject: inject {token}\\n\\nvia qmail-inject\\n' | qmail-inject demo\n"
              f"printf 'To: demo@localhost\\nSubject: sendmail {token}\\n\\nvia sendmail\\n'"
              f" | sendmail -t -f bob@example.org\n")
    proc = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    injected = delivered(drop, b"Subject: inject " + token.encode())
    how = queue_invoked_by(os.getuid())
    header, body = injected.split(b"\n\n", 1)
    assert body == b"via qmail-inject\n"
    # qmail-inject (§8.1): `demo` gets @defaulthost and then .defaultdomain (no dot in
    # `localhost`); the sender is USER@defaulthost likewise; it puts Date, Message-ID, From
    # (NAME quoted, as the C's TOKEN822_QUOTE) and, without To/Cc, `Cc: recipient list not
    # shown: ;` above the header it was given, and never a Received line.
    assert re.fullmatch(
        rb"Return-Path: <ann@localhost.localhost>\n"
        rb"Delivered-To: demo@localhost.localhost\n"
        rb"Received: \(qmail \d+ invoked " + re.escape(how) + rb"\); " + DATE + rb"\n"
        rb"Date: " + DATE + rb"\n"
        rb"Message-ID: <\d{14}\.\d+\.qmail@localhost>\n"
        rb'From: "Ann Example" <ann@localhost.localhost>\n'
        rb"Cc: recipient list not shown: ;\n"
        rb"Subject: inject " + token.encode(), header), header
    sent = delivered(drop, b"Subject: sendmail " + token.encode())
    header, body = sent.split(b"\n\n", 1)
    assert body == b"via sendmail\n"
    # sendmail -t -f: qmail-inject -H -f bob@example.org, with QMAILUSER/QMAILHOST from -f
    # (netqmail) for the From line; To is rewritten like any address (§8.2).
    assert re.fullmatch(
        rb"Return-Path: <bob@example.org>\n"
        rb"Delivered-To: demo@localhost.localhost\n"
        rb"Received: \(qmail \d+ invoked " + re.escape(how) + rb"\); " + DATE + rb"\n"
        rb"Date: " + DATE + rb"\n"
        rb"Message-ID: <\d{14}\.\d+\.qmail@localhost>\n"
        rb"From: bob@example.org\n"
        rb"To: demo@localhost.localhost\n"
        rb"Subject: sendmail " + token.encode(), header), header


def test_a_bounce_that_bounces_goes_to_postmaster(drop):
    """MAIL FROM:<> to an unknown address: the bounce has nowhere to go, so the double bounce
    goes to doublebounceto@doublebouncehost (postmaster@localhost: ~alias/.qmail-postmaster)
    with envelope sender #@[] (§9.5)."""
    token = b"double-%d" % time.time_ns()
    sent = b"Subject: " + token + b"\n\nbounce me twice\n"
    swaks(drop, "<>", "nobody-twice@localhost", sent)
    alias = drop.home / "alias" / "Maildir"
    deadline = time.monotonic() + 30
    found = []
    while not found:
        assert time.monotonic() < deadline, log_text(drop)[-3000:]
        found = [p.read_bytes() for p in (alias / "new").iterdir() if token in p.read_bytes()]
        time.sleep(0.05)
    [double] = found
    m = re.fullmatch(
        rb"Return-Path: <#@\[\]>\n"
        rb"Delivered-To: postmaster@localhost\n"
        rb"Received: \(qmail \d+ invoked [^)]*\); " + DATE + rb"\n"
        rb"Date: " + DATE + rb"\n"
        rb"From: MAILER-DAEMON@localhost\n"
        rb"To: postmaster@localhost\n"
        rb"Subject: failure notice\n"
        rb"\n"
        rb"Hi\. This is the qmail-send program at localhost\.\n"
        rb"I tried to deliver a bounce message to this address, but the bounce bounced!\n"
        rb"\n"
        rb"<nobody-twice@localhost>:\n"
        rb"Sorry, no mailbox here by that name\. \(#5\.1\.1\)\n"
        rb"\n"
        rb"--- Below this line is the original bounce\.\n"
        rb"\n"
        rb"Return-Path: <>\n"
        rb"Received: \(qmail \d+ invoked [^)]*\); " + DATE + rb"\n"
        rb"Received: from unknown \(HELO client\.example\) \(127\.0\.0\.1\)\n"
        rb"  by localhost with SMTP; " + DATE + rb"\n" + re.escape(sent), double)
    assert m, double.decode(errors="replace")
    log = wait_log(drop, r"^qmail: \S+ info msg \d+: bytes \d+ from <#@\[\]> qp \d+ uid \d+$")
    assert re.search(r"^qmail: \S+ starting delivery \d+: msg \d+ to local postmaster@localhost$",
                     log, re.M), log
