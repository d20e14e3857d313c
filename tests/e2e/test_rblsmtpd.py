"""rblsmtpd under tcpserver, with real SMTP clients from several loopback addresses (§5.2).

tcpserver sets TCPREMOTEIP; the RBL answers come from the fake DNS on 127.0.0.1:53.
"""
import os
import smtplib
import socket
import subprocess
import sys
import time

import pytest

import fakes
import support

SMTPD = [sys.executable, "-c",
         "import os; os.write(1, b'220 real.smtpd ' + os.environb.get(b'TCPREMOTEIP', b'') + b'\\r\\n')"]


def env(**extra):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DNSCACHEIP": "127.0.0.1"}
    base.update(extra)
    return base


def connect(port, source="127.0.0.1", timeout=10):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0))
    return sock


def recv_all(sock) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


@pytest.fixture
def rbl():
    with fakes.FakeDns() as dns:
        dns.txt("9.0.0.127.bl.test", "Listed: see http://bl.test/?127.0.0.9")
        dns.txt("10.0.0.127.bl.test", "Listed too")
        dns.a("10.0.0.127.wl.test", "127.0.0.2")
        yield dns


def test_listed_client_gets_the_blocked_conversation(rbl, tmp_path):
    rblsmtpd = [support.ours("rblsmtpd"), "-r", "bl.test"]
    with support.run_tcpserver(["-RHl0", "-v"], rblsmtpd + SMTPD, env=env(),
                               log=tmp_path / "log") as server:
        client = smtplib.SMTP()
        client.sock = connect(server.port, "127.0.0.9")
        client.file = None
        code, banner = client.getreply()
        assert (code, banner) == (220, b"rblsmtpd.local")
        assert client.helo("me") == (250, b"rblsmtpd.local")
        assert client.mail("a@example.org") == (250, b"rblsmtpd.local")
        assert client.rcpt("b@example.org") == (451, b"Listed: see http://bl.test/?127.0.0.9")
        assert client.docmd("DATA") == (451, b"Listed: see http://bl.test/?127.0.0.9")
        assert client.quit() == (221, b"rblsmtpd.local")
        deadline = time.monotonic() + 10
        while b"end " not in server.log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
    log = server.log_text()
    assert "rblsmtpd: 127.0.0.9 pid " in log and ": 451 Listed: see http://bl.test/?127.0.0.9\n" in log


def test_clean_and_whitelisted_clients_reach_smtpd(rbl, tmp_path):
    rblsmtpd = [support.ours("rblsmtpd"), "-a", "wl.test", "-b", "-r", "bl.test"]
    with support.run_tcpserver(["-RHl0"], rblsmtpd + SMTPD, env=env(),
                               log=tmp_path / "log") as server:
        for source, expect in [("127.0.0.3", b"220 real.smtpd 127.0.0.3\r\n"),
                               ("127.0.0.10", b"220 real.smtpd 127.0.0.10\r\n")]:
            with connect(server.port, source) as sock:
                assert recv_all(sock) == expect
        with connect(server.port, "127.0.0.9") as sock:
            sock.sendall(b"RCPT TO:<x@y>\r\nQUIT\r\n")
            assert recv_all(sock) == (b"220 rblsmtpd.local\r\n553 Listed: see"
                                      b" http://bl.test/?127.0.0.9\r\n221 rblsmtpd.local\r\n")


def test_rule_variable_blocks_without_dns(tmp_path):
    rules = tmp_path / "rules.cdb"
    tcprules = support.ours("tcprules")
    subprocess.run([tcprules, str(rules), str(tmp_path / "rules.tmp")], check=True,
                   input=b'127.0.0.4:allow,RBLSMTPD="-No mail from you"\n'
                         b'127.0.0.5:allow,RBLSMTPD=""\n:allow\n')
    rblsmtpd = [support.ours("rblsmtpd"), "-r", "bl.test"]
    with fakes.no_dns(), support.run_tcpserver(
            ["-RHl0", "-x", str(rules)], rblsmtpd + SMTPD, env=env(),
            log=tmp_path / "log") as server:
        with connect(server.port, "127.0.0.4") as sock:
            sock.sendall(b"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\n")
            sock.shutdown(socket.SHUT_WR)
            assert recv_all(sock) == (b"220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n"
                                      b"250 rblsmtpd.local\r\n553 No mail from you\r\n")
        with connect(server.port, "127.0.0.5") as sock:
            assert recv_all(sock) == b"220 real.smtpd 127.0.0.5\r\n"


@pytest.mark.slow
def test_silent_client_is_dropped_after_the_timeout(tmp_path):
    rblsmtpd = [support.ours("rblsmtpd"), "-t", "1"]
    with support.run_tcpserver(["-RHl0"], rblsmtpd + SMTPD, env=env(RBLSMTPD="quiet"),
                               log=tmp_path / "log") as server:
        with connect(server.port) as sock:
            start = time.monotonic()
            assert recv_all(sock) == b"220 rblsmtpd.local\r\n"
            assert 0.9 < time.monotonic() - start < 5


def test_timeout_zero_sends_one_line(tmp_path):
    rblsmtpd = [support.ours("rblsmtpd"), "-t0"]
    with support.run_tcpserver(["-RHl0"], rblsmtpd + SMTPD, env=env(RBLSMTPD="-gone"),
                               log=tmp_path / "log") as server:
        with connect(server.port) as sock:
            assert recv_all(sock) == b"553 gone\r\n"
