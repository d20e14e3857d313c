"""qmail-smtpd end to end: our tcpserver on 127.0.0.1 running our qmail-smtpd, with real
clients (smtplib, swaks, a raw socket) and a capture program as $QMAILQUEUE that stores exactly
what a queue program is given (spec/qmail.md §2, §3.1)."""
import contextlib
import re
import smtplib
import threading
import time

import pytest

import support
from e2e.smtpd_helpers.common import (Client, base_env, captured, install_program, make_home)

DATE = rb"\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000\n"
OPTIONS = ["-H", "-R", "-l", "mx.local"]


@pytest.fixture
def capture(tmp_path):
    out = tmp_path / "captured"
    out.mkdir()
    return install_program("capture_queue.py", tmp_path / "capture-queue"), out


@contextlib.contextmanager
def smtpd(tmp_path, capture, *, options=(), args=(), env=None, **controls):
    program, out = capture
    home = make_home(tmp_path, **controls)
    environ = base_env(home, **{"QMAILQUEUE": program, "CAPTURE_DIR": out, **(env or {})})
    with support.run_tcpserver([*OPTIONS, *options], [support.ours("qmail-smtpd"), *args],
                               env=environ, log=tmp_path / "tcpserver.log") as server:
        yield server


def received(helo: bytes, proto: bytes = b"SMTP", info: bytes = b"") -> bytes:
    return (rb"Received: from unknown \(HELO " + re.escape(helo) + rb"\) \(" + re.escape(info)
            + rb"127\.0\.0\.1\)\n  by mx\.local with " + proto + b"; " + DATE)


def test_smtplib_transaction_byte_for_byte(tmp_path, capture):
    with smtpd(tmp_path, capture) as server:
        with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.example",
                          timeout=20) as client:
            code, banner = client.ehlo()
            assert (code, banner) == (250, b"mx.example.org\nPIPELINING\n8BITMIME")
            refused = client.sendmail("a@b.org", ["u@example.org", "v@EXAMPLE.org"],
                                      b"Subject: hi\r\n\r\n.leading dot\r\nline\r\n")
            assert refused == {}
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail("a@b.org", ["u@other.org"], b"x\r\n")
    [(message, envelope)] = captured(capture[1], count=1)
    assert envelope == b"Fa@b.org\0Tu@example.org\0Tv@EXAMPLE.org\0\0"
    assert re.fullmatch(received(b"client.example") + rb"Subject: hi\n\n\.leading dot\nline\n",
                        message), message


def test_raw_session_replies_byte_for_byte(tmp_path, capture):
    with smtpd(tmp_path, capture) as server:
        c = Client(server.port)
        try:
            assert c.read_until(b"\r\n") == b"220 mx.example.org ESMTP\r\n"
            c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n")   # pipelined
            assert c.read_until(b"354 go ahead\r\n") == b"250 ok\r\n250 ok\r\n354 go ahead\r\n"
            c.send(b"..dot\r\nA\rB\r\n.\r\nHELP\r\nVRFY x\r\nFOO\r\nQUIT\r\n")
            rest = c.read_all()
        finally:
            c.close()
    assert re.fullmatch(rb"250 ok \d+ qp \d+\r\n214 notqmail home page: https://notqmail\.org"
                        rb"\r\n252 send some mail, i'll try my best\r\n502 unimplemented "
                        rb"\(#5\.5\.1\)\r\n221 mx\.example\.org\r\n", rest), rest
    qp = re.match(rb"250 ok \d+ qp (\d+)", rest).group(1)
    [(message, envelope)] = captured(capture[1], count=1)
    assert (capture[1] / (qp.decode() + ".msg")).exists()             # qp = the queue's pid
    assert message.endswith(b"-0000\n.dot\nA\rB\n")


def test_swaks_plain_and_pipelining(tmp_path, capture):
    swaks = support.system_tool("swaks", "swaks")
    import subprocess
    with smtpd(tmp_path, capture) as server:
        for extra in ([], ["--pipeline"]):
            run = subprocess.run([swaks, "-s", "127.0.0.1", "-p", str(server.port),
                                  "-t", "u@example.org", "-f", "s@x.org", "--helo", "swaks.test",
                                  "--body", "hello", "--timeout", "20", *extra],
                                 capture_output=True, timeout=60)
            assert run.returncode == 0, run.stdout.decode(errors="replace")
            assert b"<-  250 ok " in run.stdout
    got = captured(capture[1], count=2)
    assert len(got) == 2
    for message, envelope in got:
        assert envelope == b"Fs@x.org\0Tu@example.org\0\0"
        assert re.match(received(b"swaks.test"), message)
        assert b"\n\nhello\n" in message


def test_bare_lf_in_data(tmp_path, capture):
    with smtpd(tmp_path, capture) as server:
        c = Client(server.port)
        try:
            c.read_until(b"\r\n")
            c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n")
            c.read_until(b"354 go ahead\r\n")
            c.send(b"line\nmore\r\n.\r\n")
            assert c.read_all() == b"451 See https://cr.yp.to/docs/smtplf.html.\r\n"
        finally:
            c.close()
    assert captured(capture[1], wait=0.5) == []


def test_disconnect_in_data_queues_nothing(tmp_path, capture):
    with smtpd(tmp_path, capture) as server:
        c = Client(server.port)
        c.read_until(b"\r\n")
        c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@example.org>\r\nDATA\r\nSubject: x\r\n\r\nbo")
        c.read_until(b"354 go ahead\r\n")
        c.close()
        # the capture program sees the message end without an envelope (it exits 54)
        deadline = time.monotonic() + 10
        while not list(capture[1].glob("*.env")) and time.monotonic() < deadline:
            time.sleep(0.05)
    [env_file] = capture[1].glob("*.env")
    assert env_file.read_bytes() == b""
    assert captured(capture[1]) == []


def test_relayclient_from_tcp_smtp_rule(tmp_path, capture):
    rules = tmp_path / "tcp.smtp"
    rules.write_text('127.0.0.1:allow,RELAYCLIENT=""\n:allow\n')
    cdb = tmp_path / "tcp.smtp.cdb"
    import subprocess
    subprocess.run([support.ours("tcprules"), str(cdb), str(tmp_path / "tcp.smtp.tmp")],
                   stdin=rules.open("rb"), check=True, timeout=30)
    with smtpd(tmp_path, capture, options=["-x", str(cdb)]) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=20) as client:
            client.sendmail("a@b.org", ["u@other.org"], b"x\r\n")
    [(_, envelope)] = captured(capture[1], count=1)
    assert envelope == b"Fa@b.org\0Tu@other.org\0\0"


def test_twenty_megabytes(tmp_path, capture):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxy\r\n"
    body = b"Subject: big\r\n\r\n" + line * (20_000_000 // len(line))
    with smtpd(tmp_path, capture) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
            client.sendmail("a@b.org", ["u@example.org"], body)
    [(message, _)] = captured(capture[1], count=1)
    stored = body.replace(b"\r\n", b"\n")
    assert len(body) > 20_000_000 - 100 and len(message) > 19_000_000
    assert message.endswith(stored) and message.count(b"\n") == stored.count(b"\n") + 2


def test_fifty_concurrent_clients(tmp_path, capture):
    results, errors = {}, []

    def send(i: int, port: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail(f"s{i}@x.org", [f"u{i}@example.org"],
                                b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i))
                results[i] = True
        except Exception as e:                      # reported below
            errors.append((i, repr(e)))

    # -b: a backlog above the 20 default, or a burst of 50 SYNs overflows it (SYN cookies then
    # leave some clients "connected" to nothing)
    with smtpd(tmp_path, capture, options=["-c", "60", "-b", "100"]) as server:
        threads = [threading.Thread(target=send, args=(i, server.port)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert errors == [] and len(results) == 50
    got = captured(capture[1], count=50)
    assert sorted(env for _, env in got) == sorted(
        b"Fs%d@x.org\0Tu%d@example.org\0\0" % (i, i) for i in range(50))
    for message, envelope in got:
        i = int(envelope[2:envelope.index(b"@")])
        assert message.endswith(b"Subject: %d\n\nbody %d\n" % (i, i))


@pytest.mark.slow
def test_stalling_client_times_out(tmp_path, capture):
    with smtpd(tmp_path, capture, timeoutsmtpd=b"1\n") as server:
        c = Client(server.port)
        try:
            assert c.read_until(b"\r\n") == b"220 mx.example.org ESMTP\r\n"
            c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@example.org>\r\nDATA\r\npartial")
            assert c.read_all() == (b"250 ok\r\n250 ok\r\n354 go ahead\r\n"
                                    b"451 timeout (#4.4.2)\r\n")
        finally:
            c.close()
    assert captured(capture[1], wait=0.5) == []


def test_queue_program_failure_and_fd6(tmp_path, capture):
    with smtpd(tmp_path, capture, env={"CAPTURE_EXIT": "82", "CAPTURE_FD6": "Dgo away"}) as s:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as client:
            with pytest.raises(smtplib.SMTPDataError) as e:
                client.sendmail("a@b.org", ["u@example.org"], b"x\r\n")
    assert (e.value.smtp_code, e.value.smtp_error) == (554, b"go away")


def test_missing_queue_program(tmp_path, capture):
    with smtpd(tmp_path, capture, env={"QMAILQUEUE": str(tmp_path / "nonexistent")}) as s:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as client:
            with pytest.raises(smtplib.SMTPDataError) as e:
                client.sendmail("a@b.org", ["u@example.org"], b"x\r\n")
    assert (e.value.smtp_code, e.value.smtp_error) == (451, b"unable to exec qq (#4.3.0)")


def test_controls_unreadable(tmp_path, capture):
    with smtpd(tmp_path, capture, me=b"x") as server:
        (tmp_path / "qmail" / "control" / "me").unlink()
        (tmp_path / "qmail" / "control" / "me").mkdir()
        c = Client(server.port)
        try:
            assert c.read_all() == b"421 unable to read controls (#4.3.0)\r\n"
        finally:
            c.close()


def test_morercpthosts_from_qmail_newmrh(tmp_path, capture):
    import subprocess
    with smtpd(tmp_path, capture, morercpthosts=b"More.ORG\n#c\n.sub.net\n") as server:
        home = tmp_path / "qmail"
        run = subprocess.run([support.ours("qmail-newmrh")], env=base_env(home),
                             capture_output=True, timeout=30)
        assert (run.returncode, run.stderr) == (0, b"")
        with smtplib.SMTP("127.0.0.1", server.port, timeout=20) as client:
            client.mail("a@b")
            assert client.rcpt("u@more.org")[0] == 250
            assert client.rcpt("u@a.sub.net")[0] == 250
            assert client.rcpt("u@sub.net")[0] == 553
            assert client.rcpt("u@example.org")[0] == 250
