"""tcpserver against Debian's C tcpserver: the same options and connections (from several
127.0.0.x sources), compared on what the program sees (environment, fds, signals), the bytes
the client gets, the log lines (PIDs and ports normalised) and the exit codes."""
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import support

from support import ours, reference, stop
import tcpserver_support
from tcpserver_support import normalise, talk, wait_for

# The program under both servers: its environment as exec'd (raw, in order), its fds (kind,
# flags) and its signal state, all on fd 1 (the socket). A shell script, so that no
# interpreter start-up changes what is reported. Signals 32 and 33 (glibc's internal ones,
# left ignored by glibc's posix_spawn) are masked out: see spawn.py.
PROBE = r"""#!/bin/sh
tr '\000' '\n' < /proc/$$/environ | sed 's/^/env /'
for fd in $(seq 0 30); do
  if [ -e /proc/$$/fd/$fd ]; then
    link=$(readlink /proc/$$/fd/$fd)
    same=no; [ "$link" = "$(readlink /proc/$$/fd/0)" ] && same=yes
    flags=$(sed -n 's/^flags:[[:space:]]*//p' /proc/$$/fdinfo/$fd)
    echo "fd $fd $(echo "$link" | sed 's/[0-9]//g') same_as_0=$same flags=$flags"
  fi
done
exec sed -n 's/^\(SigBlk\|SigIgn\):[[:space:]]*0*\([0-9a-f]*\)\([0-9a-f]\{8\}\)$/\1 \3/p' /proc/self/status
"""

BASE_ENV = {"PATH": "/usr/bin:/bin", "AAA": "1", "TCPREMOTEHOST": "stale", "PROTO": "OLD",
            "TCPREMOTEINFO": "stale2", "ZZZ": "z"}


def c_tcpserver() -> str:
    return reference("tcpserver")


def server(binary, options, program, tmp, *, env=None, **kw):
    """tcpserver_support.server with this file's environment by default."""
    return tcpserver_support.server(binary, options, program, tmp,
                                    env=BASE_ENV if env is None else env, **kw)


def session(binary, options, program, tmp, sources, *, env=None, send=b"", pass_fds=()):
    """Sequential connections from SOURCES; (client outputs, log) normalised."""
    outputs = []
    with server(binary, options, program, tmp, env=env, pass_fds=pass_fds) as (port, log, proc):
        wait_for(log, b"status: 0/", 1 if "-v" in options else 0, 2)
        for n, source in enumerate(sources, 1):
            outputs.append(normalise(talk(port, source, send), port))
            if "-v" in options:
                wait_for(log, b" end ", n)
            else:
                time.sleep(0.05)
        text = log.read_bytes()
    return outputs, normalise(text, port)


def both(tmp, options, program, sources=("127.0.0.1",), **kw):
    """The same session under the C tcpserver and ours; asserts they agree, returns ours."""
    c = session(c_tcpserver(), options, program, tmp, sources, **kw)
    py = session(ours("tcpserver"), options, program, tmp, sources, **kw)
    for n, (c_out, py_out) in enumerate(zip(c[0], py[0])):
        assert py_out.decode("latin-1") == c_out.decode("latin-1"), f"client {n}"
    assert py[1].decode("latin-1") == c[1].decode("latin-1"), "log"
    assert py == c
    return c, py


@pytest.fixture
def probe(tmp_path):
    path = tmp_path / "probe"
    path.write_text(PROBE)
    path.chmod(0o755)
    return str(path)


def test_environment_fds_signals_and_log(tmp_path, probe):
    c, py = both(tmp_path, ["-v", "-H", "-R", "-l", "mylocal"], [probe],
                 ("127.0.0.2", "127.0.0.3", "127.0.0.4"))
    assert py == c
    assert b"env TCPREMOTEIP=127.0.0.3" in py[0][1]
    assert b"LC_CTYPE" not in py[0][0]
    assert b"tcpserver: ok <PID> mylocal:127.0.0.1:<LPORT> :127.0.0.2::<PORT>\n" in py[1]


def test_inherited_descriptors_pass_through(tmp_path, probe):
    r, w = os.pipe()
    extra = fcntl.fcntl(r, fcntl.F_DUPFD, 23)
    try:
        c, py = both(tmp_path, ["-H", "-R", "-l0"], [probe], ("127.0.0.2",), pass_fds=(extra,))
        assert b"fd %d pipe:[]" % extra in py[0][0]
    finally:
        for fd in (r, w, extra):
            os.close(fd)


def test_environment_under_c_locale_and_odd_environments(tmp_path, probe):
    env = {"PATH": "/usr/bin:/bin", "LANG": "C", "X": "1", "PATH2": "x", "TCPLOCALHOST": "old"}
    c, py = both(tmp_path, ["-H", "-R", "-l", ""], [probe], env=env)
    assert py == c
    assert b"env TCPLOCALHOST=\n" in py[0][0]


def test_any_address_and_local_ip_of_the_connection(tmp_path):
    outs = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        with server(binary, ["-H", "-R", "-l0"], ["sh", "-c", "echo $TCPLOCALIP $PROTO"],
                    tmp_path, host="0") as (port, log, proc):
            with socket.socket() as s:
                s.connect(("127.0.0.7", port))
                outs.append(s.makefile("rb").read())
    assert outs[0] == outs[1] == b"127.0.0.7 TCP\n"


RULES = (b'127.0.0.3:deny\n'
         b'127.0.0.4:allow,FOO="bar",TCPLOCALHOST="movie.edu",PROTO="X",W="1",W="2",E=""\n'
         b'127.0.0.5:allow,D=""\n'
         b'127.0.:allow,NET="yes"\n')


def make_rules(tmp: Path, text: bytes = RULES) -> str:
    cdb = tmp / "rules.cdb"
    subprocess.run([reference("tcprules"), str(cdb), str(tmp / "rules.tmp")], input=text,
                   check=True)
    return str(cdb)


def test_rules_deny_allow_and_variables(tmp_path, probe):
    cdb = make_rules(tmp_path)
    c, py = both(tmp_path, ["-v", "-H", "-R", "-l0", "-x", cdb, "-B", "hello\r\n"], [probe],
                 ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"))
    assert py == c
    assert py[0][1] == b"hello\r\n"                          # denied: banner, then closed
    assert b"deny <PID> 0:127.0.0.1:<LPORT> :127.0.0.3::<PORT>" in py[1]
    assert b"end <PID> status 25600" in py[1]


@pytest.mark.parametrize("case", ["missing", "missing-X", "empty", "truncated", "zeros"])
def test_bad_rules_files(tmp_path, case):
    cdb = tmp_path / "r.cdb"
    options = ["-v", "-H", "-R", "-l0", "-x", str(cdb)]
    if case == "missing-X":
        options.insert(0, "-X")
    elif case == "empty":
        cdb.write_bytes(b"")
    elif case == "truncated":
        good = make_rules(tmp_path, b"".join(b"127.0.%d.%d:allow,N=\"%d\"\n" % (i, j, j)
                                             for i in range(3) for j in range(50)))
        data = Path(good).read_bytes()
        cdb.write_bytes(data[:len(data) - 40])
    elif case == "zeros":
        cdb.write_bytes(bytes(2048))
    c, py = both(tmp_path, options, ["echo", "ran"], ("127.0.0.2", "127.0.0.1"))
    assert py == c


@pytest.mark.parametrize("program", [["nonexistent-program-x"], ["/etc"], ["./notexec"],
                                     ["noshebang"]])
def test_program_that_cannot_run(tmp_path, program):
    script = tmp_path / "noshebang"
    script.write_text("echo hi\n")
    script.chmod(0o755)
    (tmp_path / "notexec").write_text("#!/bin/sh\necho\n")
    env = dict(BASE_ENV, PATH=f"/usr/bin:/bin:{tmp_path}")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        c, py = both(tmp_path, ["-v", "-H", "-R", "-l0"], program, ("127.0.0.2",), env=env)
    finally:
        os.chdir(cwd)
    assert py == c
    assert b"end <PID> status 28416" in py[1]


def test_path_is_tcpservers_not_the_rules(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "whoami-prog").write_text("#!/bin/sh\necho from-bin $PATH\n")
    (bindir / "whoami-prog").chmod(0o755)
    cdb = make_rules(tmp_path, b':allow,PATH="/nowhere"\n')
    env = dict(BASE_ENV, PATH=f"{bindir}:/usr/bin:/bin")
    c, py = both(tmp_path, ["-H", "-R", "-l0", "-x", cdb], ["whoami-prog"], env=env)
    assert py == c
    assert py[0] == [b"from-bin /nowhere\n"]


def run_once(binary: str, args: list[str], env=None, timeout=10) -> tuple[int, bytes, bytes]:
    p = subprocess.run([binary, *args], capture_output=True, env=env or BASE_ENV,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("args", [
    [], ["0"], ["0", "0"], ["-z", "0", "0", "x"], ["-c"], ["-q", "0"], ["-q", "-z"],
    ["0", "nosuchservice", "x"], ["0", "nosuchservice"], ["-q", "0", "nosuchservice", "x"],
    ["127.1", "0", "x"], ["127.0.0.1", "-v", "0", "x"], ["0x", "0", "x"],
    ["192.0.2.1", "0", "x"],
])
def test_start_up_errors(args):
    c = run_once(c_tcpserver(), args)
    py = run_once(ours("tcpserver"), args)
    assert py == c


def test_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = str(s.getsockname()[1])
        c = run_once(c_tcpserver(), ["127.0.0.1", port, "true"])
        py = run_once(ours("tcpserver"), ["127.0.0.1", port, "true"])
    assert py == c == (111, b"", b"tcpserver: fatal: unable to bind: address already used\n")


@pytest.mark.parametrize("port", ["70000", "x11-6", "postgresql"])
def test_port_by_name_and_modulo(tmp_path, port):
    # the port may be taken: then both must say so alike
    outs = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        proc = subprocess.Popen([binary, "-1", "127.0.0.1", port, "true"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            line = proc.stdout.readline()
            outs.append(line or (proc.wait(10), proc.stderr.read()))
        finally:
            stop(proc)
            proc.stderr.close()
    assert outs[0] == outs[1]


@pytest.mark.parametrize("verbosity", ["-q", "-Q", "-v"])
def test_verbosity_of_warnings(tmp_path, verbosity):
    cdb = tmp_path / "missing.cdb"
    c, py = both(tmp_path, [verbosity, "-H", "-R", "-l0", "-x", str(cdb)], ["true"],
                 ("127.0.0.2",))
    if verbosity == "-q":
        assert py[1] == b""


def test_limit_one_makes_the_second_client_wait(tmp_path):
    logs = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        with server(binary, ["-v", "-c1", "-H", "-R", "-l0"], ["sh", "-c", "sleep 0.3; echo x"],
                    tmp_path) as (port, log, proc):
            socks = []
            for source in ("127.0.0.2", "127.0.0.3"):
                s = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
                socks.append(s)
                time.sleep(0.05)
            for s in socks:
                s.settimeout(10)
                assert s.makefile("rb").read() == b"x\n"
                s.close()
            logs.append(normalise(wait_for(log, b" end ", 2), port))
    assert logs[1] == logs[0]
    assert logs[0].count(b"status: 1/1") == 2


def test_sigterm_exit_status_and_children_survive(tmp_path):
    results = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        with server(binary, ["-H", "-R", "-l0"], ["sh", "-c", "sleep 0.5; echo late"],
                    tmp_path) as (port, log, proc):
            s = socket.create_connection(("127.0.0.1", port))
            s.settimeout(10)
            time.sleep(0.2)
            os.kill(proc.pid, signal.SIGTERM)
            status = proc.wait(10)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            results.append((status, s.makefile("rb").read()))
            s.close()
    assert results[0] == results[1] == (0, b"late\n")


def test_sighup_kills(tmp_path):
    results = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        with server(binary, ["-H", "-R", "-l0"], ["true"], tmp_path) as (port, log, proc):
            os.kill(proc.pid, signal.SIGHUP)
            results.append(proc.wait(10))
    assert results[0] == results[1] == -signal.SIGHUP


def test_exit_status_of_program_in_end_line(tmp_path):
    c, py = both(tmp_path, ["-v", "-H", "-R", "-l0"], ["sh", "-c", "exit 3"], ("127.0.0.2",))
    assert py == c
    assert b"end <PID> status 768" in py[1]


fakes = pytest.importorskip("fakes")


@pytest.mark.skipif(os.geteuid() != 0, reason="fake DNS/identd bind ports 53 and 113 (root)")
def test_dns_and_ident(tmp_path, probe):
    env = dict(BASE_ENV, DNSCACHEIP="127.0.0.1")
    with fakes.FakeDns() as dns, fakes.FakeIdentd(b"{ports} : USERID : UNIX : joe smith\r\n"):
        dns.ptr("127.0.0.1", "Local.Example.")
        dns.ptr("127.0.0.5", "Weird Name.EXAMPLE.com.")
        dns.a("weird\\032name.example.com", "127.0.0.5")
        dns.ptr("127.0.0.6", "liar.example.")
        dns.a("liar.example", "10.0.0.1")
        cdb = make_rules(tmp_path, b'joesmith@127.0.0.1:allow,WHO="joe"\n'
                                   b'=liar.example:deny\n=.example.com:allow,DOM="y"\n')
        for options in (["-v", "-x", cdb, "-t", "2"], ["-v", "-p", "-x", cdb, "-R"]):
            c, py = both(tmp_path, options, [probe], ("127.0.0.1", "127.0.0.5", "127.0.0.6"),
                         env=env)
            assert py == c


def test_user_names_are_not_numbers(tmp_path):
    # -u/-g take numbers (leading digits): a name is 0, "do not change"
    c, py = both(tmp_path, ["-v", "-H", "-R", "-l0", "-u", "nobody", "-g", "nogroup"],
                 ["sh", "-c", "id -u; id -g"], ("127.0.0.2",))
    assert py[0] == [b"%d\n%d\n" % (os.getuid(), os.getgid())]


@pytest.fixture
def as_nobody():
    """The command prefix that runs a program as nobody (the checkout made reachable for it)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv (util-linux) to run as nobody")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    with support.reachable_by(65534, 65534):
        probe = subprocess.run([*prefix, ours("tcpserver"), "-z"], capture_output=True)
        assert probe.returncode == 100, probe.stderr[-200:]
        yield prefix


@pytest.mark.parametrize("args", [["-g", "1", "127.0.0.1", "0", "true"],
                                  ["-u", "1", "127.0.0.1", "0", "true"],
                                  ["127.0.0.1", "99", "true"]])
def test_errors_without_privileges(args, as_nobody):
    prefix = as_nobody
    c = subprocess.run([*prefix, c_tcpserver(), *args], capture_output=True, timeout=10)
    py = subprocess.run([*prefix, ours("tcpserver"), *args], capture_output=True, timeout=10)
    assert (py.returncode, py.stdout, py.stderr) == (c.returncode, c.stdout, c.stderr)
    assert c.returncode == 111


@pytest.mark.parametrize("backlog", ["0", "7", "abc", "1000"])
def test_backlog(tmp_path, backlog):
    ss = shutil.which("ss")
    if not ss:
        pytest.skip("ss (iproute2) is absent")
    queues = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        with server(binary, ["-b", backlog, "-H", "-R", "-l0"], ["true"], tmp_path) as (port, _, _):
            out = subprocess.run([ss, "-Hltn", f"sport = :{port}"], capture_output=True,
                                 text=True).stdout.split()
            queues.append(out[2])           # Send-Q of a listening socket: the backlog
    assert queues[0] == queues[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="the fake DNS server binds port 53 (root)")
def test_host_names_through_dns_only(tmp_path):
    env = dict(BASE_ENV, DNSCACHEIP="127.0.0.1")
    with fakes.FakeDns() as dns:
        dns.a("server.example", "127.0.0.1")
        for host in ("server.example", "nohost.example", "localhost", "::1"):
            args = ["-H", "-R", "-l0", host, "0", "true"]
            outs = []
            for binary in (c_tcpserver(), ours("tcpserver")):
                proc = subprocess.Popen([binary, "-1", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env, start_new_session=True)
                try:
                    line = proc.stdout.readline()
                    if line:
                        outs.append((b"port", talk(int(line), "127.0.0.1")))
                    else:
                        outs.append((proc.wait(20), proc.stderr.read()))
                finally:
                    stop(proc)
                    proc.stderr.close()
            assert outs[0] == outs[1], host


@pytest.mark.parametrize("limit", ["0", "abc"])
def test_limit_zero_never_accepts(tmp_path, limit):
    results = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        with server(binary, ["-v", "-c", limit, "-H", "-R", "-l0"], ["echo", "hi"],
                    tmp_path) as (port, log, proc):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.settimeout(0.5)
                with pytest.raises(socket.timeout):
                    s.recv(10)
            results.append(normalise(log.read_bytes(), port))
    assert results[0] == results[1] == b"tcpserver: status: 0/0\n"


@pytest.mark.parametrize("host", ["[127.0.0.1]", "127.0.0.257", "127.0.0.1.5", "127.0.0.1."])
def test_dotted_host_forms(tmp_path, host):
    outs = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        with server(binary, ["-H", "-R", "-l0"], ["sh", "-c", "echo $TCPLOCALIP"], tmp_path,
                    host=host) as (port, log, proc):
            outs.append(talk(port))
    assert outs[0] == outs[1] == b"127.0.0.1\n"


from hypothesis import assume, given, settings, strategies as st  # noqa: E402

option_words = st.lists(st.one_of(
    st.text(alphabet="dDvqQhHrR1UXpPoOzx:-", min_size=1, max_size=4).map(lambda t: "-" + t),
    st.sampled_from(["-c", "-c5", "-x", "-t", "-u", "-g", "-l", "-b", "-B", "--", "-"]),
    st.sampled_from(["5", "abc", "", "-v"]),
), max_size=5)


@settings(max_examples=40, deadline=None)
@given(option_words, st.sampled_from([["127.1", "0", "x"], ["127.1"], [], ["0", "nosuchport"]]))
def test_command_lines_like_getopt(words, rest):
    # only command lines that end before serving and before any DNS query: a usage error, a
    # port that is no service, or the host 127.1 (too few numbers: no query)
    args = [*words, *rest]
    from tcpserver.options import BadUsage, parse_options
    try:
        o = parse_options([b"tcpserver", *map(os.fsencode, args)])
        assume(o.host == b"127.1" or o.port in (b"x", b"nosuchport"))
    except BadUsage:
        pass
    env = dict(BASE_ENV, DNSCACHEIP="127.0.0.1")     # never the resolvers of resolv.conf
    c = run_once(c_tcpserver(), args, env=env)
    py = run_once(ours("tcpserver"), args, env=env)
    assert py == c, args


RAW_EXEC = r"""
import ctypes, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)    # as a shell would start tcpserver (an ignored
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)    # SIGXFSZ is kept by the C: see spawn.py)
libc = ctypes.CDLL(None)
args = [a.encode() for a in sys.argv[1:]]
sep = args.index(b"--env")
argv, envp = args[:sep], args[sep + 1:]
libc.execve(argv[0], (ctypes.c_char_p * (len(argv) + 1))(*argv, None),
            (ctypes.c_char_p * (len(envp) + 1))(*envp, None))
sys.exit(111)
"""


@pytest.mark.parametrize("rules", [False, True])
def test_raw_environment_entries(tmp_path, probe, rules):
    # duplicates, an entry without `=`, an empty name: passed on as the C passes them
    envp = ["PATH=/usr/bin:/bin", "A=1", "PROTO=x", "A=2", "NOEQUALS", "=empty-name",
            "TCPREMOTEIP=old", "Z=z"]
    options = ["-v", "-H", "-R", "-l0"]
    if rules:
        options += ["-x", make_rules(tmp_path, b':allow,A="rule",B="b"\n')]
    outs = []
    for binary in (c_tcpserver(), ours("tcpserver")):
        proc = subprocess.Popen([sys.executable, "-c", RAW_EXEC, binary, "-1", *options,
                                 "127.0.0.1", "0", probe, "--env", *envp],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            port = int(proc.stdout.readline())
            outs.append(normalise(talk(port, "127.0.0.2"), port))
        finally:
            stop(proc)
    assert outs[1].decode() == outs[0].decode()
    assert b"env NOEQUALS\n" in outs[0] and b"env =empty-name\n" in outs[0]
