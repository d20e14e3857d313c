"""qmail-smtpd driven directly over pipes, as spec/qmail.md §0.2 verified notqmail: the
environment (§2.1) and controls as the whole program reads them, seen in the replies, the
Received line (§2.10.5), the envelope and the exit status (§2.12). A queue program given by a
relative $QMAILQUEUE (§2.10.6) stores what it gets."""
import os
import re
import subprocess

import pytest

import support
from e2e.smtpd_helpers.common import install_program, make_home

DATE = rb"\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000\n"
SESSION = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"
ACCEPTED = rb"250 ok \d+ qp \d+\r\n"


@pytest.fixture
def home(tmp_path):
    home = make_home(tmp_path, rcpthosts=None)
    (home / "bin").mkdir()
    install_program("capture_queue.py", home / "bin" / "capture")
    (tmp_path / "captured").mkdir()
    return home


def run(home, data: bytes, args=(), **env):
    """(exit status, replies, [(message, envelope)] with a whole envelope) of one run."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "QMAILHOME": str(home),
               "QMAILQUEUE": "bin/capture", "CAPTURE_DIR": str(home.parent / "captured")}
    environ.update(env)
    proc = subprocess.run([support.ours("qmail-smtpd"), *args], input=data,
                          capture_output=True, env=environ, timeout=60)
    assert proc.stderr == b""                                  # stock writes nothing to fd 2
    out = home.parent / "captured"
    stored = [(f.with_suffix(".msg").read_bytes(), f.read_bytes())
              for f in sorted(out.glob("*.env"))]
    stored = [(m, e) for m, e in stored if e.endswith(b"\0\0")]   # queued: a whole envelope
    for f in out.iterdir():
        f.unlink()
    return proc.returncode, proc.stdout, stored


def test_environment_in_the_received_line(home):
    """§2.1, §2.10.5: TCPLOCALIP when TCPLOCALHOST is unset; INFO@ for a set, empty
    TCPREMOTEINFO; no (HELO ...) when it equals TCPREMOTEHOST in another case."""
    status, out, [(message, envelope)] = run(
        home, b"HELO Client.Example\r\n" + SESSION, TCPLOCALIP="10.0.0.1",
        TCPREMOTEIP="192.0.2.7", TCPREMOTEHOST="client.example", TCPREMOTEINFO="")
    assert status == 0
    assert re.fullmatch(b"220 mx.example.org ESMTP\r\n250 mx.example.org\r\n250 ok\r\n"
                        b"250 ok\r\n354 go ahead\r\n" + ACCEPTED + b"221 mx.example.org\r\n", out)
    assert re.fullmatch(rb"Received: from client\.example \(@192\.0\.2\.7\)\n"
                        rb"  by 10\.0\.0\.1 with SMTP; " + DATE + rb"x\n", message), message
    assert envelope == b"Fa@b\0Tc@d\0\0"
    status, out, [(message, _)] = run(home, b"EHLO my_host\r\n" + SESSION,
                                      TCPLOCALHOST="mx.local", TCPLOCALIP="10.0.0.1")
    assert message.startswith(b"Received: from unknown (HELO my?host) (unknown)\n"
                              b"  by mx.local with SMTP; ")
    status, out, [(message, _)] = run(home, SESSION)
    assert message.startswith(b"Received: from unknown (unknown)\n  by unknown with SMTP; ")


def test_relayclient_and_rcpthosts_from_the_environment(home):
    """§2.9: RELAYCLIENT (even empty) switches rcpthosts off; its value is appended."""
    (home / "control" / "rcpthosts").write_bytes(b"example.org\n")
    data = (b"MAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\nRCPT TO:<v@example.org>\r\n"
            b"DATA\r\n.\r\n")
    status, out, [(_, envelope)] = run(home, data)
    assert status == 1                                     # end of input without QUIT
    assert out.startswith(b"220 mx.example.org ESMTP\r\n250 ok\r\n553 sorry, that domain isn't"
                          b" in my list of allowed rcpthosts (#5.7.1)\r\n250 ok\r\n")
    assert envelope == b"Fa@b\0Tv@example.org\0\0"
    status, out, [(_, envelope)] = run(home, data, RELAYCLIENT="")
    assert envelope == b"Fa@b\0Tu@other.org\0Tv@example.org\0\0"
    status, out, [(_, envelope)] = run(home, data, RELAYCLIENT="@relay.x")
    assert envelope == b"Fa@b\0Tu@other.org@relay.x\0Tv@example.org@relay.x\0\0"


def test_databytes_environment_beats_the_control_file(home):
    """§2.10.4: DATABYTES when set, even non-numeric (= unlimited)."""
    (home / "control" / "databytes").write_bytes(b"3\n")
    big = b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"
    data = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n1234\r\n.\r\nQUIT\r\n"
    status, out, stored = run(home, data)
    assert (status, stored) == (0, []) and big in out
    status, out, stored = run(home, data, DATABYTES="junk")
    assert len(stored) == 1 and big not in out
    status, out, stored = run(home, data, DATABYTES="5")
    assert len(stored) == 1
    status, out, stored = run(home, data, DATABYTES="4")
    assert stored == [] and big in out


def test_local_ip_literal_with_this_machines_addresses(home):
    """§2.7: 127.0.0.1 and 0.0.0.0 are this machine's; 192.0.2.255 (TEST-NET) is not."""
    (home / "control" / "localiphost").write_bytes(b"lip.example.org\n")
    status, out, [(_, envelope)] = run(
        home, b"MAIL FROM:<a@[127.0.0.1]>\r\nRCPT TO:<b@[0.0.0.0]>\r\n"
              b"RCPT TO:<c@[192.0.2.255]>\r\nDATA\r\n.\r\n")
    assert envelope == b"Fa@lip.example.org\0Tb@lip.example.org\0Tc@[192.0.2.255]\0\0"


def test_fd6_text_with_a_nul(home):
    """§2.10.6 (notqmail): exit 82 with fd 6 text; the reply ends at the text's first NUL."""
    script = home / "bin" / "refuse"
    script.write_text("#!/bin/sh\nprintf 'Dno\\0thanks' >&6\ncat >/dev/null\n"
                      "cat <&1 >/dev/null\nexit 82\n")
    script.chmod(0o755)
    status, out, stored = run(home, SESSION, QMAILQUEUE="bin/refuse")
    assert out.endswith(b"354 go ahead\r\n554 no\r\n221 mx.example.org\r\n")
    assert status == 0


def test_exit_statuses(home):
    """§2.12: 0 after QUIT; 1 at end of input (no reply), after bare LF, after a 421."""
    assert run(home, b"NOOP\r\nQUIT\r\n")[:2] == (
        0, b"220 mx.example.org ESMTP\r\n250 ok\r\n221 mx.example.org\r\n")
    assert run(home, b"NOOP\r\nNOO")[:2] == (1, b"220 mx.example.org ESMTP\r\n250 ok\r\n")
    status, out, stored = run(home, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\n.\r\n")
    assert (status, stored) == (1, [])
    assert out.endswith(b"354 go ahead\r\n451 See https://cr.yp.to/docs/smtplf.html.\r\n")
    (home / "control" / "smtpgreeting").mkdir()
    assert run(home, b"QUIT\r\n")[:2] == (1, b"421 unable to read controls (#4.3.0)\r\n")


def test_greeting_and_missing_me(home):
    """§2.2: smtpgreeting's whole first line; without `me` and smtpgreeting: 421."""
    (home / "control" / "smtpgreeting").write_bytes(b"mx.example.org NO UCE \t\nx\n")
    assert run(home, b"HELO x\r\nQUIT\r\n")[:2] == (
        0, b"220 mx.example.org NO UCE ESMTP\r\n250 mx.example.org NO UCE\r\n"
           b"221 mx.example.org NO UCE\r\n")
    (home / "control" / "me").unlink()
    assert run(home, b"QUIT\r\n")[:2] == (
        0, b"220 mx.example.org NO UCE ESMTP\r\n221 mx.example.org NO UCE\r\n")
    (home / "control" / "smtpgreeting").unlink()
    assert run(home, b"QUIT\r\n")[:2] == (1, b"421 unable to read controls (#4.3.0)\r\n")


@pytest.mark.slow
def test_timeout_is_per_read(home):
    """§1.3: timeoutsmtpd bounds each read, not the session: a client sending a byte every
    0.7 s outlives timeoutsmtpd 2; then 2 s of silence get `451 timeout (#4.4.2)`, exit 1."""
    import time
    (home / "control" / "timeoutsmtpd").write_bytes(b"2\n")
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "QMAILHOME": str(home)}
    proc = subprocess.Popen([support.ours("qmail-smtpd")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=environ)
    try:
        for byte in b"NOOP\r\n":
            time.sleep(0.7)
            proc.stdin.write(bytes([byte]))
            proc.stdin.flush()
        out = proc.stdout.read()           # stdin stays open: smtpd ends by its timeout
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out == b"220 mx.example.org ESMTP\r\n250 ok\r\n451 timeout (#4.4.2)\r\n"
    assert proc.returncode == 1
