"""tcprules and tcprulescheck against Debian's C programs: same input, every byte compared
(stdout, stderr, exit code, the resulting cdb, leftover files and their modes)."""
import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import ours, reference

MAN_PAGE = (b'18.23.0.32:deny\n127.0.0.1:allow,RELAYCLIENT="",TCPLOCALHOST="movie.edu"\n'
            b'10.0.:allow,RELAYCLIENT="@fix.me"\n:allow\n')

CASES = {
    "man page": MAN_PAGE,
    "empty": b"",
    "comments and junk": b"# comment\n\n \t\njunk without colon\n\r\n # a:b\n",
    "no final newline": b"1.2.3.4:deny",
    "crlf": b"# ok\r\n1.2.3.4:allow\r\n",
    "crlf comment only": b"#x\r\n\r\n",
    "ranges": (b"1.2.3.04-06:allow\n1-2.3-4.5.6:deny\n10.2-3.:allow\n1.2.3.4-5.6:allow\n"
               b"1.2-3:allow\n-3:allow\n1.2.3.-2:allow\n1.2.3.253-300:allow\n1.2.3.7-5:allow\n"
               b"1.2.3.5-:allow\n1.2.3.300-301:deny\n=foo-bar.com:allow\njoe-x@1.2.3.4:deny\n"),
    "bad range letters": b"1.2.3.a-5:allow\n",
    "bad range words": b"foo-bar:allow\n",
    "bad range trailing space": b"1.2.3.4-5 :allow\n",
    "bad double hyphen": b"1.2.3.4--5:allow\n",
    "huge range bound": b"1.2.3.99999999999999999999999-3:allow\n",
    "delimiters": b'a:allow,A=/x/,B=,y,,C=="",D=aba,E="x ",F=""\n',
    "deny with vars": b'1.2.3.4:deny,A="1"\n',
    "duplicates": b'1.2.3.4:deny\n1.2.3.4:allow,X="1"\n5.6.7.8:allow,A="1",A="2"\n',
    "allowed": b"1.2.3.4:allowed\n",
    "upper": b"1.2.3.4:ALLOW\n",
    "deny comma": b"1.2.3.4:deny,\n",
    "no equals": b"1.2.3.4:allow,FOO\n",
    "no delimiter": b"1.2.3.4:allow,FOO=\n",
    "unterminated": b'1.2.3.4:allow,FOO="bar\n',
    "extra after value": b'1.2.3.4:allow,A=""extra\n',
    "hash after": b"1.2.3.4:allow #comment\n",
    "space after colon": b"1.2.3.4: allow\n",
    "two colons": b"a:b:allow\n",
    "ipv6": b"::1:allow\n",
    "nul and 8-bit": b'1.2.3.4:allow,A="x\0y",B="\xe9\xff"\n\xef\xbb\xbf5.6.7.8:deny\n',
    "nul in bad line": b"bad\0line:allowx\n",
    "trailing blanks": b"1.2.3.4:allow  \t \n1.2.3.4 :deny\n",
    "cidr and case": b"1.2.3.0/24:deny\n=Host.Example.COM:deny\n",
    "info forms": b"joe@1.2.3.4:deny\n@1.2.3.4:allow,E=\"\"\njoe@=h.example.com:allow\n",
    "long line": b"1.2.3.4:allow,V=\"" + b"v" * 1_000_000 + b"\"\n" + b"k" * 100_000 + b":deny\n",
    "late parse error after many records": b"".join(
        b"10.%d.%d.%d:allow,X=\"%d\"\n" % (i >> 16, (i >> 8) & 255, i & 255, i) for i in range(3000)
    ) + b"oops:allowx\n",
}


def run_tcprules(program: str, workdir: Path, text: bytes, args=("rules.cdb", "rules.tmp"),
                 stdin=None, prepare=None):
    workdir.mkdir(parents=True)
    if prepare:
        prepare(workdir)
    proc = subprocess.run([program, *args], input=None if stdin is not None else text,
                          stdin=stdin, capture_output=True, cwd=workdir)
    files = {}
    for path in sorted(workdir.rglob("*")):
        st_ = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(st_.st_mode) else None
        files[str(path.relative_to(workdir))] = (stat.filemode(st_.st_mode), content)
    return proc.returncode, proc.stdout, proc.stderr, files


def compare(tmp_path, text, **kw):
    c = run_tcprules(reference("tcprules"), tmp_path / "c", text, **kw)
    py = run_tcprules(ours("tcprules"), tmp_path / "py", text, **kw)
    assert py[:3] == c[:3]
    assert py[3] == c[3]
    return c


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_c(tmp_path, name):
    compare(tmp_path, CASES[name])


def test_man_page_cdb_is_not_empty(tmp_path):
    rc, _, _, files = compare(tmp_path, MAN_PAGE)
    assert rc == 0 and len(files["rules.cdb"][1]) > 2048 and "rules.tmp" not in files


def test_target_untouched_on_parse_error(tmp_path):
    def prepare(d):
        (d / "rules.cdb").write_bytes(b"old contents")
        (d / "rules.tmp").write_bytes(b"x" * 10)
        (d / "rules.tmp").chmod(0o600)             # an existing tmp keeps its own mode
    rc, _, err, files = compare(tmp_path, b"1.2.3.4:allow\nbad:line\n", prepare=prepare)
    assert rc == 100 and files["rules.cdb"][1] == b"old contents"


@pytest.mark.parametrize("args", [(), ("only.cdb",), ("x.cdb", "x.cdb"), ("-z", "x"),
                                  ("x.cdb", "nodir/x.tmp"), ("x.cdb", "."), ("x.cdb", ""),
                                  ("nodir/x.cdb", "x.tmp"), ("sub", "x.tmp")])
def test_arguments_and_file_errors(tmp_path, args):
    compare(tmp_path, b"1.2.3.4:allow\nbad\n:line\n" if args == ("x.cdb", "x.cdb") else MAN_PAGE,
            args=args, prepare=lambda d: (d / "sub").mkdir())


def test_same_file_destroys_target_like_c(tmp_path):
    rc, _, _, files = compare(tmp_path, b"x:bad\n", args=("x.cdb", "x.cdb"),
                              prepare=lambda d: (d / "x.cdb").write_bytes(b"old"))
    assert rc == 100 and files["x.cdb"][1] == b""


def test_full_disk(tmp_path):
    rc, _, err, _ = compare(tmp_path, MAN_PAGE, args=("x.cdb", "/dev/full"))
    assert rc == 111 and b"out of disk space" in err


def test_full_disk_big_input_fails_at_first_flush(tmp_path):
    compare(tmp_path, CASES["late parse error after many records"], args=("x.cdb", "/dev/full"))


def test_stdin_is_a_directory(tmp_path):
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        rc, _, err, files = compare(tmp_path, b"", stdin=fd)
    finally:
        os.close(fd)
    assert rc == 111 and err.endswith(b"is a directory\n") and files["rules.tmp"][1] == b""


def test_stdin_closed(tmp_path):
    for name, program in (("c", reference("tcprules")), ("py", ours("tcprules"))):
        d = tmp_path / name
        d.mkdir()
        proc = subprocess.run(f"exec {program} x.cdb x.tmp <&-", shell=True, cwd=d,
                              capture_output=True)
        assert proc.returncode == 111
        assert proc.stderr == b"tcprules: fatal: unable to read input: file descriptor not open\n"


def test_unwritable_directory(tmp_path):
    # root ignores permission bits, so read-only kernel file systems stand in for them
    rc, _, err, _ = compare(tmp_path / "sys", MAN_PAGE, args=("/sys/x.cdb", "/sys/x.tmp"))
    assert (rc, err) == (111, b"tcprules: fatal: unable to create /sys/x.tmp: access denied\n")
    rc, _, err, files = compare(tmp_path / "proc", MAN_PAGE, args=("/proc/x.cdb", "x.tmp"))
    assert rc == 111 and err.endswith(b"cross-device link\n") and "x.tmp" in files


def test_file_where_directory_expected(tmp_path):
    prepare = lambda d: (d / "f").write_bytes(b"old")      # noqa: E731
    compare(tmp_path, MAN_PAGE, args=("x.cdb", "f/x.tmp"), prepare=prepare)
    rc, _, _, files = compare(tmp_path / "2", MAN_PAGE, args=("f/x.cdb", "x.tmp"), prepare=prepare)
    assert rc == 111 and files["f"][1] == b"old"


# --- property: random rules texts --------------------------------------------------------

octet = st.one_of(st.integers(0, 300).map(lambda n: b"%d" % n), st.just(b""), st.just(b"04"))
ip = st.lists(octet, min_size=1, max_size=4).map(b".".join)
ranged = st.tuples(ip, octet, octet, st.sampled_from([b"", b".", b".5", b"-7"])).map(
    lambda t: t[0] + b"." + t[1] + b"-" + t[2] + t[3])
host = st.lists(st.sampled_from([b"a", b"b-c", b"example", b"com", b"", b"X"]), min_size=1,
                max_size=4).map(b".".join)
address = st.one_of(ip, ranged, host.map(lambda h: b"=" + h), st.just(b""), st.just(b"="),
                    st.tuples(st.sampled_from([b"", b"joe", b"a-b"]), st.one_of(ip, host.map(lambda h: b"=" + h))).map(lambda t: t[0] + b"@" + t[1]),
                    st.binary(max_size=6))
value = st.binary(max_size=5)
delim = st.sampled_from([b'"', b"/", b",", b"=", b"x", b"\0", b"\xff"])
assignment = st.tuples(st.sampled_from([b"RELAYCLIENT", b"A", b"", b"B C", b"X"]), delim, value,
                       st.booleans()).map(
    lambda t: b"," + t[0] + b"=" + t[1] + t[2].replace(t[1], b"") + (t[1] if t[3] else b""))
verb = st.sampled_from([b"allow", b"deny", b"allow", b"deny", b"Allow", b"allowx", b""])
rule_line = st.tuples(address, verb, st.lists(assignment, max_size=3),
                      st.sampled_from([b"", b"", b" ", b"\t", b"\r", b"#"])).map(
    lambda t: t[0] + b":" + t[1] + b"".join(t[2]) + t[3])
line = st.one_of(rule_line, rule_line, rule_line, st.just(b""), st.just(b"# comment"),
                 st.binary(max_size=12))
text = st.tuples(st.lists(line, max_size=12), st.booleans()).map(
    lambda t: b"\n".join(t[0]) + (b"\n" if t[1] and t[0] else b""))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=text)
def test_random_rules_texts(tmp_path_factory, text):
    compare(tmp_path_factory.mktemp("h"), text)


# --- tcprulescheck ---------------------------------------------------------------------------

CHECK_RULES = (b"127.0.0.1:allow,RELAYCLIENT=\"\"\n127.0.0.:allow,WHO=\"127.0.0.\"\n"
               b"=host.example.com:allow,WHO=\"=host\"\n=.example.com:deny\n=.org:deny\n"
               b"joe@127.0.0.5:allow,WHO=\"joe@ip\"\njoe@=h.example.net:deny\n@127.0.0.6:allow,E=\"\"\n"
               b"10.:allow,A=\"1\",A=\"2\",B=\"\"\n=:allow,ANYHOST=\"1\"\n1.2.3.4:deny,X=\"y\"\n"
               b"a.c.example.net.:allow\n=.:allow,DOT=\"1\"\n:allow,DEFAULT=\"yes\"\n")

ENVIRONMENTS = [
    {}, {"TCPREMOTEIP": "127.0.0.1"}, {"TCPREMOTEIP": "127.0.0.2"},
    {"TCPREMOTEIP": "127.0.0.2", "TCPREMOTEHOST": "other.example.com"},
    {"TCPREMOTEIP": "10.0.0.2", "TCPREMOTEHOST": "x.org"}, {"TCPREMOTEIP": "10.0.0.2"},
    {"TCPREMOTEIP": "9.9.9.9", "TCPREMOTEHOST": "host.example.com"},
    {"TCPREMOTEIP": "9.9.9.9", "TCPREMOTEHOST": ""},
    {"TCPREMOTEIP": "9.9.9.9", "TCPREMOTEHOST": "a.c.example.net."},
    {"TCPREMOTEIP": "127.0.0.5", "TCPREMOTEINFO": "joe"},
    {"TCPREMOTEIP": "9.9.9.9", "TCPREMOTEINFO": "joe", "TCPREMOTEHOST": "h.example.net"},
    {"TCPREMOTEIP": "127.0.0.6", "TCPREMOTEINFO": ""},
    {"TCPREMOTEIP": "1.2.3.4"}, {"TCPREMOTEIP": "", "TCPREMOTEHOST": "q"},
    {"TCPREMOTEIP": "7.7.7.7", "TCPREMOTEHOST": "Host.Example.COM"},
]


def run_check(program, cdb, env, args=None):
    proc = subprocess.run([program, *(args if args is not None else [str(cdb)])],
                          env={"PATH": "/usr/bin:/bin", **env}, capture_output=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def cdbs(tmp_path_factory):
    d = tmp_path_factory.mktemp("check")
    made = {}
    for who, program in (("c", reference("tcprules")), ("py", ours("tcprules"))):
        subprocess.run([program, str(d / f"{who}.cdb"), str(d / f"{who}.tmp")],
                       input=CHECK_RULES, check=True)
        made[who] = d / f"{who}.cdb"
    assert made["c"].read_bytes() == made["py"].read_bytes()
    return made


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: ",".join(f"{k[9:]}={v}" for k, v in e.items()) or "empty")
@pytest.mark.parametrize("made_by", ["c", "py"])
def test_check_same_as_c(cdbs, env, made_by):
    c = run_check(reference("tcprulescheck"), cdbs[made_by], env)
    py = run_check(ours("tcprulescheck"), cdbs[made_by], env)
    assert py == c


@pytest.mark.parametrize("args", [[], ["/nonexistent.cdb"], ["EMPTY"], ["SHORT"], ["ZEROS"], ["TRUNC"],
                                  ["RULES", "1.2.3.4"]])
@pytest.mark.parametrize("ip", ["127.0.0.1", "1.2.3.4", "10.1.1.1", "99.99.99.99"])
def test_check_errors_same_as_c(cdbs, tmp_path, args, ip):
    good = cdbs["c"].read_bytes()
    files = {"EMPTY": b"", "SHORT": good[:100], "ZEROS": b"\0" * 2047, "TRUNC": good[:-40],
             "RULES": good}
    args = [str(tmp_path / a) if a in files else a for a in args]
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    env = {"TCPREMOTEIP": ip}
    assert run_check(ours("tcprulescheck"), None, env, args) == \
        run_check(reference("tcprulescheck"), None, env, args)


def test_check_directory_reports_is_a_directory(tmp_path):
    rc, out, err = run_check(ours("tcprulescheck"), tmp_path, {})
    assert (rc, out) == (111, b"")
    assert err == b"tcprulescheck: fatal: unable to read %s: is a directory\n" % bytes(tmp_path)


def test_check_output_errors_ignored(cdbs):
    for program in (reference("tcprulescheck"), ours("tcprulescheck")):
        with open("/dev/full", "wb") as full:
            proc = subprocess.run([program, str(cdbs["c"])], stdout=full, stderr=subprocess.PIPE,
                                  env={"TCPREMOTEIP": "127.0.0.1"})
        assert (proc.returncode, proc.stderr) == (0, b"")


check_env = st.fixed_dictionaries({}, optional={
    "TCPREMOTEIP": st.sampled_from(["127.0.0.1", "1.2.3.4", "1.2.3.5", "10.0.0.1", "1.2.3.", ""]),
    "TCPREMOTEHOST": st.sampled_from(["a.example.com", "example", "b-c.a", "", "x.com."]),
    "TCPREMOTEINFO": st.sampled_from(["joe", "", "a-b"]),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=text, env=check_env)
def test_random_rules_checked(tmp_path_factory, text, env):
    d = tmp_path_factory.mktemp("hc")
    made = subprocess.run([reference("tcprules"), str(d / "r.cdb"), str(d / "r.tmp")], input=text,
                          capture_output=True)
    if made.returncode == 0:
        assert run_check(ours("tcprulescheck"), d / "r.cdb", env) == \
            run_check(reference("tcprulescheck"), d / "r.cdb", env)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=64), size=st.sampled_from([0, 100, 2040, 2047, 2048, 2400]),
       fill=st.sampled_from([b"\0", b"\x08", b"\xff"]),
       ip=st.sampled_from(["127.0.0.1", "1.2.3.4", "0.0.0.0"]))
def test_corrupt_cdb_files_read_like_c(tmp_path_factory, junk, size, fill, ip):
    path = tmp_path_factory.mktemp("cc") / "bad.cdb"
    body = (fill * size)[:size]
    path.write_bytes(junk + body[len(junk):] if size >= len(junk) else junk)
    env = {"TCPREMOTEIP": ip}
    assert run_check(ours("tcprulescheck"), path, env) == run_check(reference("tcprulescheck"), path, env)
