"""Our tcpserver with DNS lookups and an exec'd program: lookup threads do §1.6 steps 2-8 and
spawn the program (spec/ucspi-tcp.md §1.6, §1.12, §1.14) with a fake DNS server on 127.0.0.1.
The log lines, environment, exit statuses and SIGTERM behaviour stay the C ones."""
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from support import ours, run_tcpserver
from tcpserver_support import in_threads, talk
from tcpserver_support import wait_for_server_log as wait_for

fakes = pytest.importorskip("fakes")

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the fake DNS server binds port 53 (root)")


def lines_by_pid(log: str) -> dict[int, list[str]]:
    seen: dict[int, list[str]] = {}
    for line in log.splitlines():
        m = re.match(r"tcpserver: (pid|ok|deny|end) (\d+)", line)
        if m:
            seen.setdefault(int(m.group(2)), []).append(m.group(1))
    return seen


def test_lookups_under_concurrent_load(tmp_path):
    rules = tmp_path / "r.cdb"
    subprocess.run([ours("tcprules"), str(rules), str(tmp_path / "r.tmp")],
                   input=b"=three.example:deny\n", check=True)
    env = dict(os.environ, DNSCACHEIP="127.0.0.1")
    names = {n: ["one", "two", "three", "four"][n - 1] + ".example" for n in range(1, 5)}
    with fakes.FakeDns() as dns:
        for n, name in names.items():
            dns.ptr(f"127.0.0.{n}", name + ".")
        with run_tcpserver(["-v", "-c6", "-R", "-l0", "-x", str(rules)],
                           ["sh", "-c", "echo $TCPREMOTEHOST $TCPREMOTEIP"],
                           log=tmp_path / "log", env=env) as server:
            outputs: dict[int, list[bytes]] = {}

            def client(n):
                for k in range(6):
                    source = (n + k) % 4 + 1
                    outputs.setdefault(source, []).append(talk(server.port, f"127.0.0.{source}"))

            in_threads(6, client)
            log = wait_for(server, "tcpserver: end ", 36)
    for source, got in outputs.items():
        want = b"" if source == 3 else b"%s 127.0.0.%d\n" % (names[source].encode(), source)
        assert set(got) == {want}, source
    seen = lines_by_pid(log)
    assert len(seen) == 36
    for pid, kinds in seen.items():
        assert kinds in (["pid", "ok", "end"], ["pid", "deny", "end"]), (pid, kinds)
    assert sum(kinds[1] == "deny" for kinds in seen.values()) == len(outputs[3])
    assert re.findall(r"tcpserver: ok \d+ 0:127\.0\.0\.1:\d+ (\S+):127\.0\.0\.(\d)::\d+\n", log)
    for name, n in re.findall(r"tcpserver: (?:ok|deny) \d+ 0:127\.0\.0\.1:\d+ (\S+):127\.0\.0\.(\d)::",
                              log):
        assert name == names[int(n)]
    counts = [int(c) for c in re.findall(r"status: (\d+)/6", log)]
    assert max(counts) <= 6 and counts[-1] == 0 and len(counts) == 1 + 2 * 36
    assert "Traceback" not in log


def test_lookups_with_a_program_that_cannot_run(tmp_path):
    env = dict(os.environ, DNSCACHEIP="127.0.0.1")
    with fakes.FakeDns() as dns:
        dns.ptr("127.0.0.2", "two.example.")
        with run_tcpserver(["-v", "-R", "-l0"], ["no-such-program-here"],
                           log=tmp_path / "log", env=env) as server:
            threads = [threading.Thread(target=talk, args=(server.port, "127.0.0.2"))
                       for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            log = wait_for(server, "tcpserver: end ", 4)
    seen = lines_by_pid(log)
    assert len(seen) == 4 and all(k == ["pid", "ok", "end"] for k in seen.values())
    assert log.count("tcpserver: warning: dropping connection, unable to run "
                     "no-such-program-here: file does not exist\n") == 4
    assert log.count(" status 28416\n") == 4


@pytest.mark.slow
def test_sigterm_during_a_slow_lookup_still_serves_it(tmp_path):
    # the C's child goes on with its lookups and runs the program after tcpserver exited
    env = dict(os.environ, DNSCACHEIP="127.0.0.1")
    with fakes.FakeDns() as dns:
        dns.ptr("127.0.0.5", "slow.example.")
        dns.delay("5.0.0.127.in-addr.arpa", "PTR", 1.0)
        with run_tcpserver(["-v", "-R", "-l0", "-B", "hi "], ["sh", "-c", "echo $TCPREMOTEHOST"],
                           log=tmp_path / "log", env=env) as server:
            result = []
            client = threading.Thread(target=lambda: result.append(talk(server.port, "127.0.0.5")))
            client.start()
            wait_for(server, "status: 1/40")
            time.sleep(0.2)
            start = time.monotonic()
            os.kill(server.proc.pid, signal.SIGTERM)
            assert server.proc.wait(5) == 0
            assert time.monotonic() - start < 0.5
            client.join(10)
            log = wait_for(server, "tcpserver: ok ", 1)
    assert result == [b"hi slow.example\n"]
    seen = lines_by_pid(log)
    assert list(seen.values()) == [["pid", "ok"]]
    assert re.search(r"tcpserver: ok \d+ 0:127\.0\.0\.1:\d+ slow\.example:127\.0\.0\.5::\d+\n",
                     log)
