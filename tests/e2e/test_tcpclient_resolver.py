"""The lookups tcpclient and tcpserver are built on (tcpserver.dns, tcpserver.ident) against
the fake DNS and identd, and the timing of failures next to Debian's tcpclient (§1.10, §1.11).
"""
import os
import subprocess
import time

import pytest

import fakes
import support
from tcpserver import dns, ident


@pytest.fixture
def resolver(monkeypatch):
    monkeypatch.setenv("DNSCACHEIP", "127.0.0.1")
    dns._config_cache.clear()
    with fakes.FakeDns() as server:
        yield server
    dns._config_cache.clear()


def test_ptr_a_txt(resolver):
    resolver.ptr("127.0.0.5", "Mail.Example.", "second.example.")
    resolver.a("mail.example", "127.0.0.5", "127.0.0.6")
    resolver.txt("t.example", "a", "b\x00")
    resolver.txt("t.example", "c")
    assert dns.name4("127.0.0.5") == b"mail.example"       # the first PTR only
    assert dns.name4("127.0.0.7") == b""                    # NXDOMAIN is an answer
    assert sorted(dns.ip4(b"MAIL.example.")) == ["127.0.0.5", "127.0.0.6"]
    assert dns.txt(b"t.example") == b"ab?c"
    assert dns.remote_host("127.0.0.5", paranoid=True) == b"mail.example"
    assert dns.local_host("127.0.0.7") is None
    assert ("5.0.0.127.in-addr.arpa.", "PTR") in resolver.queries


def test_paranoid_needs_a_matching_a_record(resolver):
    resolver.ptr("127.0.0.5", "liar.example.")
    resolver.a("liar.example", "127.0.0.99")
    resolver.ptr("127.0.0.6", "nowhere.example.")
    assert dns.remote_host("127.0.0.5") == b"liar.example"
    assert dns.remote_host("127.0.0.5", paranoid=True) is None
    assert dns.remote_host("127.0.0.6", paranoid=True) is None


def test_escaped_name_round_trips_through_the_forward_lookup(resolver):
    resolver.ptr("127.0.0.5", (b"Odd Name:x", b"example"))       # labels as bytes
    resolver.a((b"odd name:x", b"example"), "127.0.0.5")
    assert dns.name4("127.0.0.5") == b"odd\\040name\\072x.example"
    assert dns.remote_host("127.0.0.5", paranoid=True) == b"odd\\040name\\072x.example"


def test_truncated_answer_is_fetched_over_tcp(resolver):
    resolver.a("big.example", *[f"10.0.{i // 250}.{i % 250}" for i in range(100)])
    resolver.fail("big.example", "A", "truncate")
    assert len(dns.ip4(b"big.example")) == 100


def test_temporary_failures(resolver):
    resolver.fail("q.example", "A", "quickfail")
    with pytest.raises(dns.DnsError) as e:
        dns.ip4(b"q.example")
    assert e.value.errno == 11          # EAGAIN: "temporary failure"
    resolver.fail_reverse("127.0.0.5", "quickfail")
    assert dns.remote_host("127.0.0.5") is None


def test_slow_answer_is_waited_for(resolver):
    resolver.a("slow.example", "127.0.0.9")
    resolver.delay("slow.example", "A", 0.5)
    start = time.monotonic()
    assert dns.ip4(b"slow.example") == ["127.0.0.9"]
    assert 0.4 < time.monotonic() - start < 3


def test_ident_answers_and_failures():
    with fakes.FakeIdentd(b"{ports} : USERID : UNIX : joe\r\n") as identd:
        assert ident.remote_info("127.0.0.1", 4321, "127.0.0.3", 25, 5) == b"joe"
        assert identd.requests == [("127.0.0.3", b"4321 , 25\r\n")]   # from the local IP
        identd.reply = b"{ports} : ERROR : NO-USER\r\n"
        assert ident.remote_info("127.0.0.1", 4321, "127.0.0.1", 25, 5) == b""
        identd.reply = lambda line: None        # closes without a reply
        assert ident.remote_info("127.0.0.1", 4321, "127.0.0.1", 25, 5) is None
        identd.reply, identd.delay = b"x:y:z:late\n", 0.3
        assert ident.remote_info("127.0.0.1", 4321, "127.0.0.1", 25, 5) == b"late"
        identd.silent = True
        start = time.monotonic()
        assert ident.remote_info("127.0.0.1", 4321, "127.0.0.1", 25, 1) is None
        assert 0.9 < time.monotonic() - start < 3
        assert ident.remote_info("127.0.0.1", 4321, "127.0.0.1", 25, 0) is None
    with fakes.port_lock("identd-127.0.0.1-113"):      # nobody else's identd meanwhile
        assert ident.remote_info("127.0.0.1", 4321, "127.0.0.1", 25, 5) is None   # refused


@pytest.mark.slow
def test_unreachable_resolver_costs_11_seconds_like_the_c():
    """Nothing on port 53: both give up after the 11 s round with `connection refused`."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DNSCACHEIP": "127.0.0.1"}
    with fakes.no_dns():
        start = time.monotonic()
        procs = [subprocess.Popen([p, "-RHl0", "name.example", "1", "true"], env=env,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
                 for p in (support.reference("tcpclient"), support.ours("tcpclient"))]
        try:
            results = [(p.wait(30), p.stderr.read()) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stderr.close()
        elapsed = time.monotonic() - start
    assert results[0] == results[1] == (111, b"tcpclient: fatal: temporarily unable to figure"
                                        b" out IP address for name.example: connection refused\n")
    assert 10 < elapsed < 20


@pytest.mark.slow
def test_servfail_costs_11_seconds_like_the_c(resolver):
    resolver.fail("sf.example", "A", "servfail")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DNSCACHEIP": "127.0.0.1"}
    start = time.monotonic()
    procs = [subprocess.Popen([p, "-RHl0", "sf.example", "1", "true"], env=env,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
             for p in (support.reference("tcpclient"), support.ours("tcpclient"))]
    try:
        results = [(p.wait(30), p.stderr.read()) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stderr.close()
    assert results[0] == results[1] == (111, b"tcpclient: fatal: temporarily unable to figure"
                                        b" out IP address for sf.example: temporary failure\n")
    assert 10 < time.monotonic() - start < 20
    assert resolver.asked("sf.example", "A") == 6      # 3 rounds, each program


@pytest.mark.parametrize("paranoid", [False, True])
def test_remote_host_matches_the_c_tcpserver(resolver, tmp_path, monkeypatch, paranoid):
    """dns.remote_host() against what Debian's tcpserver puts in TCPREMOTEHOST (-h, -p)."""
    import socket
    resolver.ptr("127.0.0.11", "Good.Example.")
    resolver.a("good.example", "127.0.0.99", "127.0.0.11")
    resolver.ptr("127.0.0.12", "liar.example.")
    resolver.a("liar.example", "127.0.0.99")
    resolver.ptr("127.0.0.13", "noaddress.example.")
    resolver.ptr("127.0.0.14", "127.0.0.14.")                 # digits: no A query at all
    resolver.ptr("127.0.0.15", (b"Odd Name", b"example"))
    resolver.a((b"odd name", b"example"), "127.0.0.15")
    resolver.ptr("127.0.0.16", "broken.example.")
    resolver.fail("broken.example", "A", "quickfail")
    resolver.ptr("127.0.0.17", "first.example.", "second.example.")
    resolver.a("first.example", "127.0.0.17")
    resolver.fail_reverse("127.0.0.18", "quickfail")
    options = ["-RHl0", "-h"] + (["-p"] if paranoid else [])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DNSCACHEIP": "127.0.0.1"}
    program = ["sh", "-c", 'printf "%s\\n" "${TCPREMOTEHOST-<unset>}"']     # dash's echo eats \040
    monkeypatch.setenv("TEST_TCPSERVER", support.reference("tcpserver"))
    with support.run_tcpserver(options, program, env=env, log=tmp_path / "log") as server:
        for last in range(11, 20):
            ip = f"127.0.0.{last}"
            with socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                          source_address=(ip, 0)) as sock:
                seen = b""
                while chunk := sock.recv(1000):
                    seen += chunk
            ours = dns.remote_host(ip, paranoid)
            assert seen == (ours if ours is not None else b"<unset>") + b"\n", ip
