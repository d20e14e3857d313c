"""Audit of tcpclient against Debian's C tcpclient (spec/ucspi-tcp.md §5.1): cases beyond
test_tcpclient.py — signal state and locale of the program, -v lines, option-argument
errors, port forms, -i/-p forms, exec failures, IDENT replies, several addresses refused.
The helpers (an echo server, normalised runs) are test_tcpclient.py's."""
import importlib.util
from pathlib import Path

import pytest

import fakes
import support

_spec = importlib.util.spec_from_file_location(
    "tcpclient_differential", Path(__file__).with_name("test_tcpclient.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

SIGNALS_AND_ENV = ["sh", "-c", "grep -E 'Sig(Ign|Blk)' /proc/self/status; env | sort"]


def same(args, env=None, ports=()):
    c = base.run(support.reference("tcpclient"), args, env, ports)
    py = base.run(support.ours("tcpclient"), args, env, ports)
    assert py == c
    return c


@pytest.mark.parametrize("env", [None, {"LANG": "C"}, {"LC_ALL": "C"}, {"LC_ALL": "POSIX"}])
def test_signals_and_locale_of_the_program(env):
    with base.echo_server() as port:
        same(["-RHl0", "127.0.0.1", str(port)] + SIGNALS_AND_ENV, env, ports=[port])


@pytest.mark.parametrize("args", [
    ["-vRHl0", "{P}", "true"],
    ["-vRHl0", "-p", "smtp", "{P}", "true"],                    # -p takes digits only
    ["-RHl0", "{P}", "sh", "-c", "echo $0 $#", "a b", "-v"],
    ["-RHl0", "--", "{P}", "true"],
    ["-RHl0", "-T", "0", "{P}", "true"], ["-RHl0", "-T", "0+0", "{P}", "true"],
    ["-RHl0", "-l", "x" * 150, "{P}", "sh", "-c", "echo $TCPLOCALHOST"],
    ["-RHl0", "-i", "127.0.0.1", "-p", "{PORT}", "{P}", "true"],  # the server's own port
    ["-RHl0", "-i", "0", "{P}", "sh", "-c", "echo $TCPLOCALIP"],
    ["-RHl0", "-i", "", "{P}", "sh", "-c", "echo $TCPLOCALIP"],
    ["-RHl0", "-i", "127.0.0.300", "{P}", "sh", "-c", "echo $TCPLOCALIP"],
    ["-RHl0", "{P}", "sh", "-c", "exec 6<&-; exec 7>&-; echo hi; ls /proc/self/fd"],
    ["-RHl0", "{P}", "./x"], ["-RHl0", "{P}", "/etc"], ["-RHl0", "{P}", "/etc/passwd"],
    ["-RHl0", "{P}", ""], ["-RHl0", "{P}", "sh", "-c", "head -1 <&6"],
    ["-RHl0", "-T"], ["-RHl0", "-i"], ["-RHl0", "-p"], ["-RHl0", "-l"], ["-RHl0", "-t"],
    ["-RHl0", "127.0.0.1", "0", "true"], ["-RHl0", "127.0.0.1", "", "true"],
    ["-RHl0", "127.0.0.1", "0x10", "true"], ["-RHl0", "127.1", "1", "true"],
    ["-RHl0", "127.0.0.1", "{PORT65536}", "true"],            # the port modulo 65536
])
def test_command_lines(args):
    with base.echo_server() as port:
        words = []
        for a in args:
            if a == "{P}":
                words += ["127.0.0.1", str(port)]
            else:
                words.append(a.replace("{PORT65536}", str(port + 65536))
                              .replace("{PORT}", str(port)))
        same(words, ports=[port])


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="the fakes bind ports 53 and 113")
@pytest.mark.parametrize("reply", [
    b"{ports} : USERID : UNIX : a:b%c\x01\xff end\r\n", b"\n", b"x : y\r\n",
    b"{ports} : USERID : UNIX : " + b"u" * 300 + b"\r\n", b"{ports} : USERID : UNIX : eof",
    b"x" * 2000 + b" : USERID : UNIX : long prefix\r\n",
    b"{ports} : USERID : UNIX : " + b"z" * 257 + b"\r\n",
    b"{ports} : USERID : UNIX : " + b"z" * 258 + b"\r\n",
    b"{ports} : USERID : UNIX : \x0b\x0cvt ff\r\n",
])
def test_ident_replies(reply):
    with fakes.FakeDns() as dns, fakes.FakeIdentd(reply), base.echo_server() as port:
        dns.ptr("127.0.0.1", "one.example.", "two.example.")
        same(["-t", "5", "127.0.0.1", str(port)] + SIGNALS_AND_ENV, ports=[port])


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="the fake DNS binds port 53")
def test_every_address_refused():
    closed = base.free_port()
    with fakes.FakeDns() as dns:
        dns.a("one.test", "127.0.0.2")
        same(["-vRHl0", "one.test", str(closed), "true"], ports=[closed])
        same(["-qRHl0", "one.test", str(closed), "true"], ports=[closed])
        same(["-RHl0", "-v", "127.0.0.3", str(closed), "true"], ports=[closed])


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="the fakes bind ports 53 and 113")
def test_which_lookups_each_option_makes():
    with fakes.FakeDns() as dns, fakes.FakeIdentd() as identd, base.echo_server() as port:
        dns.ptr("127.0.0.1", "h.example.")
        dns.a("srv.local.test", "127.0.0.1")
        for options in ([], ["-l0"], ["-H"], ["-R"], ["-HRl0"], ["-t0", "-HR"]):
            for host, env in (("127.0.0.1", None), ("srv", {"LOCALDOMAIN": "local.test"})):
                results = []
                for program in (support.reference("tcpclient"), support.ours("tcpclient")):
                    queries, requests = len(dns.queries), len(identd.requests)
                    out = base.run(program, options + [host, str(port)] + SIGNALS_AND_ENV,
                                   env, [port])
                    results.append((out, dns.queries[queries:], len(identd.requests) - requests))
                assert results[1] == results[0], (options, host)


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="the fake DNS binds port 53")
def test_local_port_in_use_and_host_names():
    import socket
    with base.echo_server() as port, fakes.FakeDns(), socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = str(busy.getsockname()[1])
        for args in (["-p", taken], ["-i", "127.0.0.1", "-p", taken]):
            same(["-RHl0", *args, "127.0.0.1", str(port), "true"], ports=[port])
        for host in ("127.0.0.1x", "localhost", "[127.0.0.1]"):
            same(["-RHl0", host, str(port), "true"], ports=[port])


@pytest.mark.parametrize("closed", [(0,), (1,), (2,), (0, 1), (0, 1, 2)])
def test_started_with_standard_descriptors_closed(closed, tmp_path):
    """The socket may take fd 0, 1 or 2 first; the program still gets it on 6 and 7 only."""
    import os
    import subprocess
    results = []
    with base.echo_server() as port:
        for program in (support.reference("tcpclient"), support.ours("tcpclient")):
            out = tmp_path / f"out-{len(results)}"
            p = subprocess.run(
                [program, "-RHl0", "127.0.0.1", str(port), "sh", "-c",
                 f"(ls /proc/$$/fd | sort -n | tr '\\n' ' '; echo ping >&7; head -1 <&6) "
                 f"> {out} 2>&1"],
                preexec_fn=lambda: [os.close(fd) for fd in closed], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
            results.append((p.returncode, out.read_bytes()))
    assert results[1] == results[0]
    assert results[0][1].endswith(b"6 7 hello\n")


@pytest.fixture
def blackhole():
    """A port on 0.0.0.0 whose accept queue is full: connects hang until their timeout."""
    import socket
    import time
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.mark.slow
@pytest.mark.parametrize("timeouts", ["0+1"])     # one address gets x+y at once
def test_connect_timeouts_one_address(blackhole, timeouts):
    import time
    spent = []
    for program in (support.reference("tcpclient"), support.ours("tcpclient")):
        start = time.monotonic()
        spent.append(base.run(program, ["-RHl0", "-T", timeouts, "127.0.0.1", str(blackhole),
                                        "true"], ports=[blackhole]))
        spent.append(round(time.monotonic() - start))
    assert spent[2:] == spent[:2]
    assert spent[0][2].endswith(b": timed out\n")


@pytest.mark.slow
@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="the fake DNS binds port 53")
def test_connect_timeouts_two_addresses(blackhole):
    """Each address gets x in the first pass and y in the second: 4 s, one line each."""
    import time
    results = []
    with fakes.FakeDns() as dns:
        dns.a("two.test", "127.0.0.1", "127.0.0.2")
        for program in (support.reference("tcpclient"), support.ours("tcpclient")):
            start = time.monotonic()
            status, out, err = base.run(program, ["-RHl0", "-T", "1+1", "two.test",
                                                  str(blackhole), "true"], ports=[blackhole])
            results.append((status, out, sorted(err.split(b"\n")),
                            round(time.monotonic() - start)))
    assert results[1] == results[0]
    assert results[0][3] == 4
