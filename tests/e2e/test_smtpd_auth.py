"""qmail-smtpd in the seed's SMTP AUTH form (`qmail-smtpd CHECKPASSWORD /bin/true`, spec/qmail.md
§2.14) under our tcpserver, with swaks and smtplib against a checkpassword-compatible test
program that checks passwords and CRAM-MD5 digests (tests/e2e/smtpd_helpers)."""
import base64
import contextlib
import hashlib
import hmac
import re
import smtplib
import subprocess

import pytest

import support
from e2e.smtpd_helpers.common import Client, base_env, captured, install_program, make_home

OPTIONS = ["-H", "-R", "-l", "mx.local"]
USERS = "bob:s3cret,alice:wonder land"


@contextlib.contextmanager
def auth_smtpd(tmp_path, env=None):
    out = tmp_path / "captured"
    out.mkdir()
    program = install_program("capture_queue.py", tmp_path / "capture-queue")
    checkpw = install_program("checkpassword_test.py", tmp_path / "checkpassword-test")
    home = make_home(tmp_path, databytes=b"100000\n")
    log = tmp_path / "checkpw.log"
    environ = base_env(home, QMAILQUEUE=program, CAPTURE_DIR=out, CHECKPW_LOG=log,
                       CHECKPW_USERS=USERS, **(env or {}))
    with support.run_tcpserver(OPTIONS, [support.ours("qmail-smtpd"), checkpw, "/bin/true"],
                               env=environ, log=tmp_path / "tcpserver.log") as server:
        yield server, out, log


def swaks(port: int, *args: str) -> subprocess.CompletedProcess:
    path = support.system_tool("swaks", "swaks")
    return subprocess.run([path, "-s", "127.0.0.1", "-p", str(port), "-f", "bob@x.org",
                           "-t", "friend@other.org", "--helo", "client.test", "--body", "hi",
                           "--timeout", "20", *args], capture_output=True, timeout=60)


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN", "CRAM-MD5"])
def test_swaks_auth_then_relay(tmp_path, mechanism):
    with auth_smtpd(tmp_path) as (server, out, log):
        run = swaks(server.port, "-a", mechanism, "-au", "bob", "-ap", "s3cret")
        assert run.returncode == 0, run.stdout.decode(errors="replace")
        assert b"<-  235 ok, go ahead (#2.0.0)" in run.stdout
        assert b"<-  250-SIZE 100000\r\n" in run.stdout.replace(b"\n", b"\r\n") or \
            b"250-SIZE 100000" in run.stdout
        [(message, envelope)] = captured(out, count=1)
    assert envelope == b"Fbob@x.org\0Tfriend@other.org\0\0"          # relayed after AUTH
    assert re.match(rb"Received: from unknown \(HELO client\.test\) \(bob@127\.0\.0\.1\)\n"
                    rb"  by mx\.local with ESMTPA; ", message)
    sent = log.read_bytes()
    if mechanism == "CRAM-MD5":
        challenge = re.search(rb"<\d+\.\d+@mx\.local>", sent).group(0)
        digest = hmac.new(b"s3cret", challenge, hashlib.md5).hexdigest().encode()
        assert sent == b"bob\0" + digest + b"\0" + challenge + b"\0\n--\n"
    else:
        assert sent == b"bob\0s3cret\0\0\n--\n"                       # empty challenge


def test_smtplib_auth_all_mechanisms(tmp_path):
    with auth_smtpd(tmp_path) as (server, out, log):
        for mechanism in ("CRAM-MD5", "PLAIN", "LOGIN"):
            with smtplib.SMTP("127.0.0.1", server.port, timeout=20) as client:
                client.ehlo("client.test")
                assert client.esmtp_features["auth"] == " LOGIN PLAIN CRAM-MD5"
                client.user, client.password = "alice", "wonder land"
                code, _ = client.auth(mechanism, getattr(client, "auth_" + mechanism.lower()
                                                         .replace("-", "_")))
                assert code == 235
                client.sendmail("alice@x.org", ["a@elsewhere.net"], b"x\r\n")
        assert len(captured(out, count=3)) == 3


def test_without_auth_no_relay_and_exchange_errors(tmp_path):
    with auth_smtpd(tmp_path) as (server, out, log):
        c = Client(server.port)
        try:
            assert c.read_until(b"\r\n") == b"220 mx.example.org ESMTP\r\n"
            c.send(b"EHLO x\r\n")
            assert c.read_until(b"CRAM-MD5\r\n") == (
                b"250-mx.example.org\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 100000\r\n"
                b"250 AUTH LOGIN PLAIN CRAM-MD5\r\n")
            c.send(b"MAIL FROM:<a@b> SIZE=100001\r\nMAIL FROM:<a@b> SIZE=99\r\n"
                   b"RCPT TO:<u@other.org>\r\nAUTH PLAIN AGJvYgBzM2NyZXQ=\r\nRSET\r\n"
                   b"AUTH LOGIN\r\n")
            assert c.read_until(b"334 VXNlcm5hbWU6\r\n") == (
                b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"
                b"250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts"
                b" (#5.7.1)\r\n503 no auth during mail transaction (#5.5.0)\r\n"
                b"250 flushed\r\n334 VXNlcm5hbWU6\r\n")
            c.send(b"*\r\nAUTH X\r\nAUTH PLAIN\r\n")
            assert c.read_until(b"334 \r\n") == (b"501 auth exchange canceled (#5.0.0)\r\n"
                                                 b"504 auth type unimplemented (#5.5.1)\r\n"
                                                 b"334 \r\n")
            c.send(b"%%%\r\nQUIT\r\n")
            assert c.read_all() == b"501 malformed auth input (#5.5.4)\r\n221 mx.example.org\r\n"
        finally:
            c.close()
    assert not log.exists()                         # checkpassword never ran


@pytest.mark.slow
def test_wrong_password_pauses_then_535(tmp_path):
    with auth_smtpd(tmp_path) as (server, out, log):
        c = Client(server.port, timeout=20)
        try:
            c.read_until(b"\r\n")
            plain = base64.b64encode(b"\0bob\0wrong")
            c.send(b"AUTH PLAIN " + plain + b"\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@other.org>\r\n")
            assert c.read_until(b"(#5.7.1)\r\n") == b"535 authentication failed (#5.7.1)\r\n"
            assert c.read_until(b"(#5.7.1)\r\n") == (
                b"250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts"
                b" (#5.7.1)\r\n")
        finally:
            c.close()
    assert log.read_bytes() == b"bob\0wrong\0\0\n--\n"


@pytest.mark.parametrize("mechanism", ["LOGIN", "CRAM-MD5"])
def test_seed_form_with_our_vchkpw(tmp_path, mechanism):
    """`qmail-smtpd vchkpw /bin/true` with our checkpassword-compatible vchkpw and qmail-newvpw."""
    import os
    home = make_home(tmp_path)
    (home / "users").mkdir()
    mailbox = tmp_path / "bob"
    mailbox.mkdir()
    (home / "users" / "vpasswd").write_text(
        f"bob@x.org:{{PLAIN}}s3cret:{os.getuid()}:{os.getgid()}:{mailbox}\n")
    subprocess.run([support.ours("qmail-newvpw")], env=base_env(home), check=True, timeout=30)
    out = tmp_path / "captured"
    out.mkdir()
    program = install_program("capture_queue.py", tmp_path / "capture-queue")
    environ = base_env(home, QMAILQUEUE=program, CAPTURE_DIR=out)
    with support.run_tcpserver(OPTIONS, [support.ours("qmail-smtpd"), support.ours("vchkpw"),
                                         "/bin/true"], env=environ,
                               log=tmp_path / "tcpserver.log") as server:
        run = swaks(server.port, "-a", mechanism, "-au", "bob@x.org", "-ap", "s3cret")
        assert run.returncode == 0, run.stdout.decode(errors="replace")
        [(message, envelope)] = captured(out, count=1)
    assert envelope == b"Fbob@x.org\0Tfriend@other.org\0\0"
    assert b"(bob@x.org@127.0.0.1)\n  by mx.local with ESMTPA; " in message
