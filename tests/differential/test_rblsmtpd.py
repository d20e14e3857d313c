"""rblsmtpd: Debian's C program and ours, the same input, byte for byte (spec/ucspi-tcp.md §5.2).

rblsmtpd talks on fds 0/1, so pipes stand in for the socket. Lookups go to the fake DNS on
127.0.0.1:53 (DNSCACHEIP), which both programs share; `quickfail` gives a temporary lookup
failure without the 11 s that a SERVFAIL costs djb's resolver.
"""
import os
import re
import subprocess

import pytest

import fakes
import support

SMTPD = ["sh", "-c", 'echo "ran $0 $# $*"; env | grep -c "^RBLSMTPD=" >&2', "smtpd"]
DIALOGUE = (b"HELO x\r\nehlo y\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nVRFY x\r\n"
            b"HELP\r\n\r\nquitx\r\nnoop\r\nRSET\r\nNoOp now\r\nmail\tx\r\nquit\0x\r\nHELO after\r\n")


def programs():
    return [support.reference("rblsmtpd"), support.ours("rblsmtpd")]


def run(program, args, env=None, stdin=b"", timeout=20):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DNSCACHEIP": "127.0.0.1",
            "TCPREMOTEIP": "127.0.0.5"}
    if env:
        base.update(env)
    base = {k: v for k, v in base.items() if v is not None}
    r = subprocess.run([program, *args], input=stdin, capture_output=True, env=base,
                       timeout=timeout)
    err = re.sub(rb" pid \d+: ", b" pid <PID>: ", r.stderr)
    return r.returncode, r.stdout, err


def same(args, env=None, stdin=b""):
    c, py = (run(p, args, env, stdin) for p in programs())
    assert py == c
    return c


@pytest.mark.parametrize("value", [
    "blocked for testing", "-go away", "", "x" * 300, "t\tab\x01\x7f\xe9 end",
    "-", "--double", " leading space",
])
def test_rblsmtpd_variable(value):
    same(SMTPD, {"RBLSMTPD": value}, DIALOGUE)


@pytest.mark.parametrize("stdin", [
    b"", b"HELO x\r\n", b"HELO x\r\nRCPT", b"QUIT\r\nHELO x\r\n", b"quit\n", b"\n\n\r\n",
    b"helo\r\r\n", b"QUIT extra words\r\n", b"RCPT TO:<x>\nDATA\n",
])
def test_rblsmtpd_conversation(stdin):
    status, out, _ = same(SMTPD, {"RBLSMTPD": "listed"}, stdin)
    assert status == 0 and out.startswith(b"220 rblsmtpd.local\r\n")


@pytest.mark.parametrize("args", [["-t", "0"], ["-t0"], ["-t", "5"], ["-t", "junk"]])
def test_rblsmtpd_timeout_option(args):
    same(args + SMTPD, {"RBLSMTPD": "-bye"}, b"HELO x\r\nQUIT\r\n")


def test_rblsmtpd_without_tcpremoteip():
    status, _, err = same(SMTPD, {"RBLSMTPD": "blocked", "TCPREMOTEIP": None}, b"QUIT\r\n")
    assert err == b"rblsmtpd:  pid <PID>: 451 blocked\n"


@pytest.mark.parametrize("args", [
    [], ["-R", "x"], ["-t"], ["-b"], ["-z", "smtpd"], ["-bt"], ["--", "-x"], ["-"],
    ["/nonexistent/smtpd"], ["nonexistent-smtpd-program"], ["-c", "-B", "-C", "true"],
    ["--x", "true"], ["-b", "--b", "-z", "true"],         # any word starting "--" ends the options
])
def test_rblsmtpd_usage_and_exec_errors(args):
    same(args, {"RBLSMTPD": ""})


def test_rblsmtpd_exec_keeps_argv_and_environment():
    status, out, err = same(SMTPD + ["a b", "c"], {"RBLSMTPD": "", "X": "1"})
    assert out == b"ran smtpd 2 a b c\n" and status == 0


@pytest.fixture(scope="module")
def rbl():
    with fakes.FakeDns() as dns:
        dns.txt("5.0.0.127.listed.test", "You are listed", " (see http://x/?5)")
        dns.txt("5.0.0.127.multi.test", "first\x00\x1f")
        dns.txt("5.0.0.127.multi.test", "second\xff", "third")
        dns.txt("5.0.0.127.long.test", "L" * 250)
        dns.txt("5.0.0.127.empty.test", "")
        dns.a("5.0.0.127.white.test", "127.0.0.2")
        dns.fail("5.0.0.127.broken.test", "TXT", "quickfail")
        dns.fail("5.0.0.127.broken.test", "A", "quickfail")
        yield dns


@pytest.mark.parametrize("options", [
    ["-r", "listed.test"],
    ["-rlisted.test"],
    ["-b", "-r", "listed.test"],
    ["-r", "listed.test", "-b"],                       # -b only affects later -r
    ["-b", "-B", "-r", "listed.test"],
    ["-r", "clean.test"],
    ["-r", "clean.test", "-r", "listed.test"],
    ["-r", "multi.test"],
    ["-r", "long.test"],
    ["-r", "empty.test", "-r", "multi.test"],
    ["-a", "white.test", "-r", "listed.test"],
    ["-r", "listed.test", "-a", "white.test"],
    ["-a", "clean.test", "-r", "listed.test"],
    ["-r", "broken.test"],                             # fail open
    ["-c", "-r", "broken.test"],                       # fail closed: 451 lookup error
    ["-b", "-c", "-r", "broken.test"],                 # still 451
    ["-b", "-r", "broken.test", "-r", "listed.test"],  # a failure forbids 553
    ["-a", "broken.test", "-r", "listed.test"],        # -a failing accepts
    ["-c", "-a", "broken.test", "-r", "listed.test"],  # ... unless -c
    ["-r", "LISTED.TEST."],
])
def test_rblsmtpd_lookups(rbl, options):
    same(options + SMTPD, None, b"HELO x\r\nRCPT TO:<a@b>\r\nQUIT\r\n")


def test_rblsmtpd_variable_beats_lookups(rbl):
    before = rbl.asked("5.0.0.127.listed.test", "TXT")
    same(["-r", "listed.test"] + SMTPD, {"RBLSMTPD": ""}, b"QUIT\r\n")
    same(["-r", "listed.test"] + SMTPD, {"RBLSMTPD": "-mine"}, b"QUIT\r\n")
    assert rbl.asked("5.0.0.127.listed.test", "TXT") == before


def test_rblsmtpd_looks_up_before_the_usage_check(rbl):
    before = rbl.asked("5.0.0.127.listed.test", "TXT")
    same(["-r", "listed.test"])
    assert rbl.asked("5.0.0.127.listed.test", "TXT") == before + 2


def test_rblsmtpd_debian_has_no_default_rbl(rbl):
    count = len(rbl.queries)
    same(SMTPD)
    assert len(rbl.queries) == count


def test_rblsmtpd_odd_remote_ip(rbl):
    rbl.txt("4.3.2.1.listed.test", "odd")       # djb drops the empty label of 4.3.2.1..listed.test
    same(["-r", "listed.test"] + SMTPD, {"TCPREMOTEIP": ".1.2.3.4"}, b"QUIT\r\n")
    same(["-r", "listed.test"] + SMTPD, {"TCPREMOTEIP": ""}, b"QUIT\r\n")


@pytest.mark.slow
def test_rblsmtpd_timeout_is_for_the_whole_conversation():
    """-t 2: a client that keeps talking is still cut off 2 s after the start, silently."""
    import time
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RBLSMTPD": "listed",
           "TCPREMOTEIP": "127.0.0.5"}
    results = []
    for program in programs():
        r, w = os.pipe()
        proc = subprocess.Popen([program, "-t", "2"] + SMTPD, stdin=r, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)
        os.close(r)
        start = time.monotonic()
        try:
            for _ in range(12):             # a NOOP every 0.25 s, never QUIT
                try:
                    os.write(w, b"NOOP\r\n")
                except BrokenPipeError:
                    break
                time.sleep(0.25)
            out = proc.stdout.read()
            status = proc.wait(10)
        finally:
            os.close(w)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        elapsed = time.monotonic() - start
        assert 1.8 < elapsed < 5
        results.append((status, out.startswith(b"220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n"),
                        out.count(b"250 ") in range(7, 10)))
    assert results[0] == results[1] == (0, True, True)
