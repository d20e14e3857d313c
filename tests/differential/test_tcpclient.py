"""tcpclient: Debian's C program and ours, the same command lines, byte for byte (§5.1).

A small threaded server on 127.0.0.1 stands in for the remote end (it greets and echoes one
line). Names and IDENT go to the fakes on 127.0.0.1:53 and :113 (DNSCACHEIP=127.0.0.1),
shared by both programs; ports are normalised to <PORT>.
"""
import contextlib
import os
import re
import socket
import subprocess
import threading

import pytest

import fakes
import support

SHOW = ["sh", "-c", 'env; echo "fds: $(ls /proc/self/fd | sort -n | tr "\\n" " ")"; '
        'echo ping >&7; head -1 <&6; exit 3']


@contextlib.contextmanager
def echo_server(host="127.0.0.1"):
    """Greets `hello`, then echoes one line; returns the port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(16)
    stop = threading.Event()

    def serve():
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.sendall(b"hello\n")
                    conn.sendall(conn.recv(100))
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        t.join(5)
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(program, args, env=None, ports=(), keep_local_port=False):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DNSCACHEIP": "127.0.0.1",
            "AAA": "1", "TCPREMOTEHOST": "stale", "ZZZ": "2"}
    base.update(env or {})
    base = {k: v for k, v in base.items() if v is not None}
    r = subprocess.run([program, *args], capture_output=True, env=base, timeout=30,
                       stdin=subprocess.DEVNULL)
    out, err = r.stdout, r.stderr
    for port in ports:
        out = out.replace(b"=%d\n" % port, b"=<SERVERPORT>\n")
        err = err.replace(b"port %d" % port, b"port <SERVERPORT>")
    if not keep_local_port:
        out = re.sub(rb"TCPLOCALPORT=\d+", b"TCPLOCALPORT=<PORT>", out)
    return r.returncode, out, err


def same(args, env=None, ports=()):
    c = run(support.reference("tcpclient"), args, env, ports)
    py = run(support.ours("tcpclient"), args, env, ports)
    assert py == c
    return c


@pytest.mark.parametrize("options", [
    ["-RHl0"], ["-RHv", "-l", "me.example"], ["-RH", "-l", ""], ["-RHl0", "-D"],
    ["-RHl0", "-i", "127.0.0.7"], ["-qRHl0"], ["-RHl0", "-T", "3+4", "-t", "2"],
])
def test_tcpclient_environment_and_fds(options):
    with echo_server() as port:
        status, out, err = same(options + ["127.0.0.1", str(port)] + SHOW, ports=[port])
    assert status == 3
    assert b" 2 " in out and b" 6 7 " in out and b" 5 " not in out and b"hello\n" in out
    assert b"TCPREMOTEHOST=stale" not in out


@pytest.mark.parametrize("host", ["0", "", "127.0.0.1", "[127.0.0.1]", "127.0.0.1.9"])
def test_tcpclient_host_forms(host):
    with echo_server() as port:
        same(["-RHl0", host, str(port)] + SHOW, ports=[port])


def test_tcpclient_local_port():
    with echo_server() as port:
        local = free_port()
        args = ["-RHl0", "-p", str(local), "127.0.0.1", str(port)] + SHOW
        c, py = (run(program, args, ports=[port], keep_local_port=True)
                 for program in (support.reference("tcpclient"), support.ours("tcpclient")))
    assert py == c and b"TCPLOCALPORT=%d\n" % local in c[1]


def test_tcpclient_names_and_ident():
    with fakes.FakeDns() as dns, fakes.FakeIdentd(b"{ports} : USERID : UNIX : joe x\r\n"), \
            echo_server() as port:
        dns.ptr("127.0.0.1", "Weird\\032Name\\058with%colon.EXAMPLE.com.")
        dns.a("server.test", "127.0.0.1")
        status, out, err = same(["-v", "server.test", str(port)] + SHOW, ports=[port])
        assert b"TCPREMOTEHOST=weird\\040name\\072with\\045colon.example.com\n" in out
        assert b"TCPLOCALHOST=weird\\040name" in out and b"TCPREMOTEINFO=joex\n" in out


def test_tcpclient_ptr_without_answer_sets_empty_names():
    with fakes.FakeDns(), fakes.FakeIdentd(b"{ports} : ERROR : NO-USER\r\n"), \
            echo_server() as port:
        status, out, err = same(["127.0.0.1", str(port)] + SHOW, ports=[port])
        assert b"TCPREMOTEHOST=\n" in out and b"TCPLOCALHOST=\n" in out
        assert b"TCPREMOTEINFO=\n" in out


def test_tcpclient_failed_lookups_unset():
    with fakes.FakeDns() as dns, fakes.FakeIdentd(silent=True), echo_server() as port:
        dns.fail_reverse("127.0.0.1", "quickfail")
        status, out, err = same(["-t", "1", "127.0.0.1", str(port)] + SHOW, ports=[port])
        assert b"TCPREMOTEHOST" not in out and b"TCPREMOTEINFO" not in out


def test_tcpclient_name_errors():
    with fakes.FakeDns() as dns, echo_server() as port:
        dns.fail("broken.test", "A", "quickfail")
        dns.a("none.test")
        for name in ("nowhere.test", "broken.test", "none.test", "1.2"):
            same(["-RHl0", name, str(port), "true"])


def test_tcpclient_several_addresses_in_random_order():
    refused = b"tcpclient: unable to connect to 127.0.0.2 port <SERVERPORT>: connection refused\n"
    with fakes.FakeDns() as dns, echo_server() as port:
        dns.a("two.test", "127.0.0.1", "127.0.0.2")     # the server listens on .1 only
        for program in (support.reference("tcpclient"), support.ours("tcpclient")):
            outcomes = set()
            for _ in range(12):
                status, out, err = run(program, ["-RHl0", "two.test", str(port)] + SHOW,
                                       ports=[port])
                assert status == 3 and b"hello\n" in out
                outcomes.add(err)
            assert outcomes == {b"", refused}      # 1 in 4096 runs may see only one order


@pytest.mark.parametrize("args", [
    [], ["-z"], ["-q"], ["-q", "127.0.0.1"], ["127.0.0.1", "1"], ["-i", "junk", "h", "1", "p"],
    ["-t"], ["-qz"], ["-RHl0", "127.0.0.1", "nosuchservice-xyz", "true"],
    ["-qRHl0", "127.0.0.1", "nosuchservice-xyz", "true"],
    ["-RHl0", "-i", "192.0.2.1", "127.0.0.1", "1", "true"],
])
def test_tcpclient_usage_and_fatal_errors(args):
    same(args)


def test_tcpclient_connection_refused_and_exec_failure():
    closed = free_port()
    same(["-RHl0", "127.0.0.1", str(closed), "true"], ports=[closed])
    same(["-qRHl0", "127.0.0.1", str(closed), "true"], ports=[closed])
    with echo_server() as port:
        same(["-RHl0", "127.0.0.1", str(port), "/nonexistent/prog"], ports=[port])
        same(["-RHl0", "127.0.0.1", str(port), "nonexistent-prog-xyz"], ports=[port])


@pytest.mark.parametrize("args, field, value", [
    (["-T", "5+9"], "connect_timeout", (5, 9)),
    (["-T", "5"], "connect_timeout", (5, 0)),          # scan_ulong of "" is 0
    (["-T", "+9"], "connect_timeout", (0, 9)),
    (["-T7x3"], "connect_timeout", (7, 0)),
    (["-t", "x"], "info_timeout", 0),
    (["-p", "70000"], "local_port", 70000 & 0xFFFF),
    (["-i", "127.0.0.9junk"], "local_ip", "127.0.0.9"),    # ip4_scan ignores what follows
    (["-vq"], "verbosity", 0), (["-qQ"], "verbosity", 1), (["-HhRr"], "remote_info", True),
    (["-l", ""], "local_host", b""),
])
def test_tcpclient_option_values(args, field, value):
    """Values the C never prints (parse_options is pure): compared with the C's source rules."""
    from tcpserver.tcpclient import parse_options
    o = parse_options([b"tcpclient"] + [a.encode() for a in args] + [b"h", b"1", b"p"])
    assert getattr(o, field) == value


def test_tcpclient_one_address_gets_both_timeouts():
    from tcpserver.tcpclient import connect_timeouts
    assert connect_timeouts(["127.0.0.1"], 2, 58) == (60, 0)
    assert connect_timeouts(["127.0.0.1", "127.0.0.2"], 2, 58) == (2, 58)


def test_tcpclient_with_low_descriptors_taken():
    """fds 3-5 open in tcpclient: the socket itself lands on 6 before the move."""
    with echo_server() as port:
        wrapped = ["sh", "-c", 'exec 3</dev/null 4</dev/null 5</dev/null; exec "$@"', "sh"]
        c, py = (run(wrapped[0], wrapped[1:] + [program, "-RHl0", "127.0.0.1", str(port)] + SHOW,
                     ports=[port])
                 for program in (support.reference("tcpclient"), support.ours("tcpclient")))
    assert py == c and c[0] == 3 and b" 5 6 7 " in c[1] and b"hello\n" in c[1]
