"""Our tcpserver with real processes on 127.0.0.x: the -c limit under load, dropping
privileges, SIGTERM with open connections, silent clients and slow lookups, no zombies or
descriptor leaks (spec/ucspi-tcp.md §1)."""
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from support import ours, run_tcpserver, stop
from tcpserver_support import in_threads, talk
from tcpserver_support import wait_for_server_log as wait_for


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of PID's child processes, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append((int(entry), fields[0]))
    return found


def test_limit_under_concurrent_load_quietly(tmp_path):
    # without -v programs start from spawner threads; no slot may leak
    with run_tcpserver(["-c3", "-H", "-R", "-l0"], ["sh", "-c", "sleep 0.1; echo ok"],
                       log=tmp_path / "log") as server:
        results = []

        def client(n):
            for _ in range(3):
                results.append(talk(server.port, f"127.0.0.{n % 5 + 1}"))

        in_threads(10, client)
        assert results == [b"ok\n"] * 30
        deadline = time.monotonic() + 5
        while children(server.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert children(server.proc.pid) == []
        assert talk(server.port) == b"ok\n"
    assert server.log_text() == ""


def test_limit_under_concurrent_load(tmp_path):
    with run_tcpserver(["-v", "-c3", "-H", "-R", "-l0"], ["sh", "-c", "sleep 0.2; echo ok"],
                       log=tmp_path / "log") as server:
        results = []

        def client(n):
            results.append(talk(server.port, f"127.0.0.{n % 5 + 1}"))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [b"ok\n"] * 12
        log = wait_for(server, "tcpserver: end ", 12)
    counts = [int(m) for m in re.findall(r"status: (\d+)/3", log)]
    assert max(counts) == 3 and counts[-1] == 0
    assert log.count("tcpserver: ok ") == 12


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to nobody")
def test_uid_and_gid_are_dropped(tmp_path):
    nobody = pwd.getpwnam("nobody")
    shared = Path(tempfile.mkdtemp(prefix="tcpserver-uid-"))   # readable by nobody, unlike tmp_path
    shared.chmod(0o755)
    rules = shared / "r.cdb"
    subprocess.run([ours("tcprules"), str(rules), str(shared / "r.tmp")],
                   input=b"127.0.0.3:deny\n", check=True)
    try:
        run_as_nobody(tmp_path, rules, nobody)
    finally:
        shutil.rmtree(shared)


def run_as_nobody(tmp_path, rules, nobody):
    with run_tcpserver(["-v", "-H", "-R", "-l0", "-x", str(rules), "-u", str(nobody.pw_uid),
                        "-g", str(nobody.pw_gid)], ["sh", "-c", "id -u; id -g; id -G"],
                       log=tmp_path / "log") as server:
        out = talk(server.port, "127.0.0.2")
        assert out == b"%d\n%d\n%d\n" % (nobody.pw_uid, nobody.pw_gid, nobody.pw_gid)
        assert talk(server.port, "127.0.0.3") == b""
        status = Path(f"/proc/{server.proc.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{nobody.pw_uid}\s", status, re.M)
        assert "status 25600" in wait_for(server, "status 25600")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch uid")
def test_uid_only_keeps_groups(tmp_path):
    with run_tcpserver(["-H", "-R", "-l0", "-u", "65534"], ["sh", "-c", "id -u; id -g"],
                       log=tmp_path / "log") as server:
        assert talk(server.port) == b"65534\n0\n"


def test_sigterm_with_open_connections(tmp_path):
    with run_tcpserver(["-v", "-H", "-R", "-l0"], ["sh", "-c", "read x; echo got $x"],
                       log=tmp_path / "log") as server:
        socks = [socket.create_connection(("127.0.0.1", server.port), timeout=10)
                 for _ in range(3)]
        wait_for(server, "tcpserver: ok ", 3)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        for n, s in enumerate(socks):
            s.sendall(b"%d\n" % n)
            assert s.makefile("rb").read() == b"got %d\n" % n
            s.close()
        assert "tcpserver: end " not in server.log_text()


def test_silent_client_does_not_block_others(tmp_path):
    with run_tcpserver(["-c", "5", "-H", "-R", "-l0"], ["cat"], log=tmp_path / "log") as server:
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        try:
            start = time.monotonic()
            for n in range(5):
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                    s.sendall(b"x%d" % n)
                    s.shutdown(socket.SHUT_WR)
                    assert s.makefile("rb").read() == b"x%d" % n
            assert time.monotonic() - start < 5
        finally:
            silent.close()


def test_no_zombies_and_no_descriptor_leaks(tmp_path):
    rules = tmp_path / "r.cdb"
    subprocess.run([ours("tcprules"), str(rules), str(tmp_path / "r.tmp")],
                   input=b"127.0.0.3:deny\n127.0.0.4:allow,X=\"1\"\n", check=True)
    with run_tcpserver(["-v", "-H", "-R", "-l0", "-x", str(rules)], ["sh", "-c", "ls /proc/$$/fd"],
                       log=tmp_path / "log") as server:
        pid = server.proc.pid
        talk(server.port)
        wait_for(server, "tcpserver: end ", 1)
        before = sorted(os.listdir(f"/proc/{pid}/fd"))
        outputs = [talk(server.port, f"127.0.0.{n % 4 + 1}") for n in range(40)]
        wait_for(server, "tcpserver: end ", 41)
        deadline = time.monotonic() + 5
        while children(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert children(pid) == []
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == before
    assert set(outputs) == {b"", b"0\n1\n2\n"}       # denied: nothing; else fds 0-2 only


def test_program_sees_only_its_descriptors(tmp_path):
    with run_tcpserver(["-H", "-R", "-l0"], ["sh", "-c", "exec ls /proc/self/fd"],
                       log=tmp_path / "log") as server:
        # ls itself opens one directory fd (3)
        assert talk(server.port).split() == [b"0", b"1", b"2", b"3"]


def test_process_title(tmp_path):
    with run_tcpserver(["-c", "7", "-H", "-R", "-l0"], ["true"], log=tmp_path / "log") as server:
        talk(server.port)
        deadline = time.monotonic() + 5
        while True:
            title = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes().rstrip(b"\0")
            if title.endswith(b" 0/7") or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert title.startswith(b"tcpserver: 127.0.0.1:%d 0/7" % server.port)


def test_rules_directory_is_reported(tmp_path):
    (tmp_path / "dir.cdb").mkdir()
    with run_tcpserver(["-v", "-H", "-R", "-l0", "-x", str(tmp_path / "dir.cdb")], ["true"],
                       log=tmp_path / "log") as server:
        assert talk(server.port) == b""
        log = wait_for(server, "tcpserver: end ")
    assert (f"tcpserver: warning: dropping connection, unable to read {tmp_path}/dir.cdb:"
            " is a directory\n") in log
    assert "status 28416" in log


def test_stdin_closed_at_start(tmp_path):
    log = tmp_path / "log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([ours("tcpserver"), "-1", "-H", "-R", "-l0", "127.0.0.1", "0",
                                 "echo", "hi"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=logf, start_new_session=True,
                                pass_fds=(), preexec_fn=lambda: os.close(0))
    try:
        port = int(proc.stdout.readline())
        assert talk(port) == b"hi\n"
        cpu = sum(int(x) for x in Path(f"/proc/{proc.pid}/stat").read_text()
                  .rsplit(")", 1)[1].split()[11:13])
        assert cpu < 200     # no busy loop
    finally:
        stop(proc)


def test_big_banner_and_nodelay(tmp_path):
    banner = "b" * 5000
    probe = ("import socket; s = socket.socket(fileno=0); "
             "print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)); s.detach()")
    with run_tcpserver(["-D", "-B", banner, "-H", "-R", "-l0"], [sys.executable, "-c", probe],
                       log=tmp_path / "log") as server:
        out = talk(server.port)
    assert out[:5000] == banner.encode() and int(out[5000:]) != 0


fakes = pytest.importorskip("fakes")


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the fake DNS server binds port 53 (root)")
def test_slow_dns_delays_only_its_own_connection(tmp_path):
    env = dict(os.environ, DNSCACHEIP="127.0.0.1")
    with fakes.FakeDns() as dns:
        dns.ptr("127.0.0.5", "slow.example.")
        dns.ptr("127.0.0.6", "fast.example.")
        dns.delay("5.0.0.127.in-addr.arpa", "PTR", 1.5)
        with run_tcpserver(["-v", "-R", "-l0"], ["sh", "-c", "echo $TCPREMOTEHOST"],
                           log=tmp_path / "log", env=env) as server:
            results = {}

            def client(n):
                start = time.monotonic()
                out = talk(server.port, f"127.0.0.{n}")
                results[n] = (out, time.monotonic() - start)

            slow = threading.Thread(target=client, args=(5,))
            slow.start()
            time.sleep(0.1)
            client(6)
            slow.join(20)
    assert results[6][0] == b"fast.example\n" and results[6][1] < 1.0
    assert results[5][0] == b"slow.example\n" and results[5][1] >= 1.4


@pytest.mark.parametrize("lookups", [False, True])
def test_program_stderr_comes_after_its_ok_line(tmp_path, lookups):
    """With -v the C child logs `pid` and `ok`, then execs: a program that writes to fd 2 at
    once never comes before its own `ok` line, under concurrent load too."""
    if lookups and os.geteuid() != 0:
        pytest.skip("the fake DNS server binds port 53 (root)")
    env = dict(os.environ, DNSCACHEIP="127.0.0.1")
    with contextlib.ExitStack() as stack:
        if lookups:
            dns = stack.enter_context(fakes.FakeDns())
            dns.ptr("127.0.0.1", "client.example.").a("client.example.", "127.0.0.1")
        server = stack.enter_context(run_tcpserver(
            ["-v", "-c20", "-R", "-l0", *(["-h", "-p"] if lookups else ["-H"])],
            ["sh", "-c", 'echo "program $$" >&2'], env=env, log=tmp_path / "log"))

        def client(n):
            for _ in range(6):
                talk(server.port, "127.0.0.1")

        in_threads(12, client)
        log = wait_for(server, "tcpserver: end ", 72)
    order = {}
    for line in log.splitlines():
        m = re.match(r"(?:tcpserver: (ok)|(program)) (\d+)", line)
        if m:
            order.setdefault(int(m.group(3)), []).append(m.group(1) or m.group(2))
    assert len(order) == 72
    assert all(kinds == ["ok", "program"] for kinds in order.values()), order
    if lookups:
        assert "client.example" in log


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the fake identd binds port 113 (root)")
def test_ident_timeout(tmp_path):
    with fakes.FakeIdentd(silent=True):
        with run_tcpserver(["-v", "-H", "-l0", "-t1"], ["sh", "-c", "echo ${TCPREMOTEINFO-unset}"],
                           log=tmp_path / "log") as server:
            start = time.monotonic()
            assert talk(server.port) == b"unset\n"
            assert 0.9 < time.monotonic() - start < 5


@pytest.mark.parametrize("fast_spawn", ["", "1"])
def test_log_lines_stay_in_order_under_load(tmp_path, fast_spawn):
    # programs start from forked children, or with TCPSERVER_FAST_SPAWN=1 from spawner
    # threads; each child's lines must still come pid, ok, end
    rules = tmp_path / "r.cdb"
    subprocess.run([ours("tcprules"), str(rules), str(tmp_path / "r.tmp")],
                   input=b"127.0.0.3:deny\n", check=True)
    env = dict(os.environ, TCPSERVER_FAST_SPAWN=fast_spawn)
    with run_tcpserver(["-v", "-c10", "-H", "-R", "-l0", "-x", str(rules)], ["true"],
                       env=env, log=tmp_path / "log") as server:
        def client(n):
            for k in range(8):
                talk(server.port, f"127.0.0.{(n + k) % 4 + 1}")

        in_threads(8, client)
        log = wait_for(server, "tcpserver: end ", 64)
    lines = log.splitlines()
    seen = {}
    for n, line in enumerate(lines):
        m = re.match(r"tcpserver: (pid|ok|deny|end) (\d+)", line)
        if m:
            seen.setdefault(int(m.group(2)), []).append(m.group(1))
    assert len(seen) == 64
    for pid, kinds in seen.items():
        assert kinds in (["pid", "ok", "end"], ["pid", "deny", "end"]), (pid, kinds)
    counts = [int(c) for c in re.findall(r"status: (\d+)/10", log)]
    assert max(counts) <= 10 and counts[-1] == 0
    assert len(counts) == 1 + 2 * 64


def test_missing_program_under_concurrent_load(tmp_path):
    # without -v programs start from spawner threads: they meet the exec error, and a child
    # forked by the thread reports it for each connection
    with run_tcpserver(["-H", "-R", "-l0"], ["no-such-program-here"],
                       log=tmp_path / "log") as server:
        def client(n):
            for _ in range(5):
                assert talk(server.port, f"127.0.0.{n + 1}") == b""

        in_threads(6, client)
        log = wait_for(server, "unable to run", 30)
    assert log.count("unable to run no-such-program-here: file does not exist\n") == 30
    assert "Traceback" not in log and "Exception" not in log
    assert set(log.splitlines()) == {"tcpserver: warning: dropping connection, unable to run"
                                     " no-such-program-here: file does not exist"}


def test_verbose_exec_with_an_environment_bigger_than_the_block(tmp_path):
    """-v: the forked child execs through spawn.Execer's environment block (64 kB); a larger
    environment takes the plain pathexec path, with the same result."""
    env = dict(os.environ, BIG="x" * 70000)
    with run_tcpserver(["-v", "-H", "-R", "-l0"], ["sh", "-c", 'echo "${#BIG} $TCPREMOTEIP"'],
                       env=env, log=tmp_path / "log") as server:
        assert talk(server.port) == b"70000 127.0.0.1\n"
        assert talk(server.port) == b"70000 127.0.0.1\n"
