"""The warm-handler path (tcpserver/spawn.py) against the exec path: our console scripts run
in a forked child of tcpserver must show the client, the log and the programs they start the
same bytes as when exec'd (TCPSERVER_NO_WARM=1)."""
import contextlib
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from support import ours, stop
from tcpserver_support import in_threads


@contextlib.contextmanager
def server(options, program, tmp: Path, env: dict, warm: bool):
    env = dict(env)
    if not warm:
        env["TCPSERVER_NO_WARM"] = "1"
    log = tmp / f"log-{warm}-{time.monotonic_ns()}"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([ours("tcpserver"), "-1", *options, "127.0.0.1", "0", *program],
                                stdout=subprocess.PIPE, stderr=logf, env=env,
                                start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert line.strip().isdigit(), (line, log.read_bytes())
        yield int(line), log
    finally:
        stop(proc)


def talk(port: int, source: str, send: bytes = b"") -> bytes:
    with socket.socket() as s:
        s.settimeout(20)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        if send:
            s.sendall(send)
            s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def wait_ends(log: Path, count: int) -> bytes:
    deadline = time.monotonic() + 20
    while log.read_bytes().count(b" end ") < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return log.read_bytes()


def normalise(text: bytes, port: int) -> bytes:
    text = text.replace(b"=%d\n" % port, b"=<LPORT>\n").replace(b":%d " % port, b":<LPORT> ")
    text = re.sub(rb"TCPREMOTEPORT=\d+", b"TCPREMOTEPORT=<PORT>", text)
    text = re.sub(rb"TCPSERVER_NO_WARM=1\n", b"", text)
    text = re.sub(rb"(pid|ok|deny|end) \d+", rb"\1 <PID>", text)
    return re.sub(rb":\d+\n", b":<PORT>\n", text)


def both(tmp, options, program, env, sources, send=b""):
    runs = []
    for warm in (True, False):
        with server(options, program, tmp, env, warm) as (port, log):
            outs = []
            for n, source in enumerate(sources, 1):
                outs.append(normalise(talk(port, source, send), port))
                if "-v" in options:
                    wait_ends(log, n)     # one at a time: the log lines come in one order
            runs.append((outs, normalise(log.read_bytes(), port)))
    assert runs[0][0] == runs[1][0]
    assert runs[0][1] == runs[1][1]
    return runs[0]


BASE = {"PATH": "/usr/bin:/bin", "AAA": "1", "TCPREMOTEHOST": "stale"}


@pytest.mark.parametrize("locale", [{}, {"LANG": "C"}, {"LC_ALL": "C.UTF-8"}])
def test_environment_of_programs_started_by_a_warm_handler(tmp_path, locale):
    # argv0 (ours) passes its own environment, as exec'd, on to env(1)
    rules = tmp_path / "r.cdb"
    subprocess.run([ours("tcprules"), str(rules), str(tmp_path / "r.tmp")],
                   input=b'127.0.0.3:allow,X="1",AAA="2"\n', check=True)
    outs, log = both(tmp_path, ["-v", "-H", "-R", "-l0", "-x", str(rules)],
                     [ours("argv0"), "/usr/bin/env", "env"], dict(BASE, **locale),
                     ["127.0.0.2", "127.0.0.3"])
    assert b"TCPREMOTEIP=127.0.0.2\n" in outs[0] and b"X=1\n" in outs[1]
    assert b"LC_CTYPE" not in outs[0]
    assert log.count(b"status 0\n") == 2


def test_exit_status_usage_and_stderr(tmp_path):
    outs, log = both(tmp_path, ["-v", "-H", "-R", "-l0"], [ours("tcprulescheck")], BASE,
                     ["127.0.0.2"])
    assert b"tcprulescheck: usage: tcprulescheck rules.cdb\n" in log
    assert b"end <PID> status 25600" in log


def test_rulescheck_reads_the_connection_environment(tmp_path):
    rules = tmp_path / "r.cdb"
    subprocess.run([ours("tcprules"), str(rules), str(tmp_path / "r.tmp")],
                   input=b'127.0.0.3:allow,A="1"\n127.0.0.:deny\n', check=True)
    outs, _ = both(tmp_path, ["-v", "-H", "-R", "-l0"], [ours("tcprulescheck"), str(rules)], BASE,
                   ["127.0.0.2", "127.0.0.3"])
    assert outs == [b"rule 127.0.0.:\ndeny connection\n",
                    b"rule 127.0.0.3:\nset environment variable A=1\nallow connection\n"]


def test_smtp_session_and_the_child_is_warm(tmp_path):
    home = tmp_path / "qmail"
    (home / "control").mkdir(parents=True)
    (home / "control" / "me").write_text("mail.example.com\n")
    env = dict(BASE, QMAILHOME=str(home))
    session = b"HELO x\r\nMAIL FROM:<a@b>\r\nRSET\r\nNOOP\r\nQUIT\r\n"
    outs, log = both(tmp_path, ["-v", "-H", "-R", "-l0"], [ours("qmail-smtpd")], env,
                     ["127.0.0.2", "127.0.0.4"], send=session)
    assert outs[0].startswith(b"220 mail.example.com ESMTP\r\n")
    assert outs[0].endswith(b"221 mail.example.com\r\n")
    # while a client holds the connection, the child has tcpserver's modules mapped
    maps = {}
    for warm in (True, False):
        with server(["-v", "-H", "-R", "-l0"], [ours("qmail-smtpd")], tmp_path, env,
                    warm) as (port, logpath):
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                assert s.makefile("rb").readline().startswith(b"220 ")
                pid = int(re.search(rb"ok (\d+)", logpath.read_bytes()).group(1))
                maps[warm] = Path(f"/proc/{pid}/maps").read_text()
    assert "setproctitle" in maps[True] and "setproctitle" not in maps[False]


fakes = pytest.importorskip("fakes")


@pytest.mark.skipif(os.geteuid() != 0, reason="the fake DNS server binds port 53 (root)")
def test_warm_after_lookups_in_the_forked_child(tmp_path):
    env = dict(BASE, DNSCACHEIP="127.0.0.1")
    with fakes.FakeDns() as dns:
        dns.ptr("127.0.0.1", "local.example.")
        dns.ptr("127.0.0.5", "Client.Example.")
        outs, log = both(tmp_path, ["-v", "-R"], [ours("argv0"), "/usr/bin/env", "env"], env,
                         ["127.0.0.5", "127.0.0.6"])
    assert b"TCPREMOTEHOST=client.example\n" in outs[0]
    assert b"TCPLOCALHOST=local.example\n" in outs[1] and b"TCPREMOTEHOST" not in outs[1]
    assert b"ok <PID> local.example:127.0.0.1:<LPORT> client.example:127.0.0.5::<PORT>" in log


def test_warm_sessions_under_the_limit(tmp_path):
    home = tmp_path / "qmail"
    (home / "control").mkdir(parents=True)
    (home / "control" / "me").write_text("mail.example.com\n")
    env = dict(BASE, QMAILHOME=str(home))
    session = b"HELO x\r\nNOOP\r\nQUIT\r\n"
    expected = b"220 mail.example.com ESMTP\r\n250 mail.example.com\r\n250 ok\r\n221 mail.example.com\r\n"
    with server(["-v", "-c3", "-H", "-R", "-l0"], [ours("qmail-smtpd")], tmp_path, env,
                True) as (port, log):
        results = []

        def client(n):
            results.append(talk(port, f"127.0.0.{n % 5 + 1}", session))

        in_threads(12, client)
        text = wait_ends(log, 12)
    assert results == [expected] * 12
    counts = [int(c) for c in re.findall(rb"status: (\d+)/3", text)]
    assert max(counts) == 3 and counts[-1] == 0
    assert text.count(b"status 0\n") == 12
