"""recordio: Debian's C program and ours on the same input (spec/ucspi-tcp.md §5.3).

The two directions are logged by one process as data arrives, so lines of `<` and `>` may
interleave differently from run to run: each direction is compared in order, on its own.
Input comes from a file, so reads are deterministic 256-byte pieces; how the program's own
output is cut depends on its write sizes, so for long output only the logged data is
compared. Programs always read all their input: one that exits first makes the C and ours
lose a race with the pipe (a write error ends the relay) in a different way every run.
"""
import os
import re
import subprocess

import pytest

import support


def run(program, args, stdin: bytes, tmp_path, env=None):
    infile = tmp_path / "in"
    infile.write_bytes(stdin)
    with open(infile, "rb") as f:
        r = subprocess.run([program, *args], stdin=f, capture_output=True, timeout=20,
                           env=env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    err = re.sub(rb"^\d+ ", b"<PID> ", r.stderr, flags=re.M)
    lines = [line + b"\n" for line in err.split(b"\n")[:-1]]     # not splitlines: \r, \f
    directions = {d: [x for x in lines if x.startswith(b"<PID> " + d)] for d in (b"<", b">")}
    other = [x for x in lines if not x.startswith((b"<PID> <", b"<PID> >"))]
    return r.returncode, r.stdout, directions, other


def logged(lines: list[bytes]) -> bytes:
    """The data a direction's log lines carry, pieces joined again."""
    out = b""
    for line in lines:
        body = line[8:-2]
        out += body + (b"\n" if line.endswith(b" \n") else b"")
    return out


def same(args, stdin, tmp_path, env=None, exact_output=True):
    c = run(support.reference("recordio"), args, stdin, tmp_path, env)
    py = run(support.ours("recordio"), args, stdin, tmp_path, env)
    if not exact_output:
        for result in (c, py):
            result[2][b">"] = logged(result[2][b">"])
    assert py == c
    return c


@pytest.mark.parametrize("stdin", [
    b"abc\nxyz", b"", b"\n", b"line\r\n" * 3, b"x" * 700 + b"\n" + b"y" * 10,
    bytes(range(256)), b"no newline at all",
])
def test_recordio_logs_both_directions(stdin, tmp_path):
    status, out, directions, other = same(["sh", "-c", "echo hello; cat"], stdin, tmp_path,
                                          exact_output=len(b"hello\n" + stdin) <= 256)
    assert out == b"hello\n" + stdin and status == 0
    assert directions[b"<"][-1] == b"<PID> < [EOF]\n"


@pytest.mark.parametrize("args", [
    ["sh", "-c", "cat >/dev/null; printf 'a\\nb'; exit 3"],
    ["sh", "-c", "cat >/dev/null"],
    ["sh", "-c", "cat >/dev/null; printf %s 'no newline'"],
])
def test_recordio_exit_status_and_output(args, tmp_path):
    same(args, b"ignored input\n", tmp_path)



@pytest.mark.parametrize("args", [[], ["/nonexistent/prog"], ["nonexistent-prog-xyz"]])
def test_recordio_errors(args, tmp_path):
    c, py = (run(program, args, b"data\n", tmp_path)
             for program in (support.reference("recordio"), support.ours("recordio")))
    assert (py[0], py[1], py[3]) == (c[0], c[1], c[3])      # the log itself races (see top)


def test_recordio_pid_is_the_programs(tmp_path):
    for program in (support.reference("recordio"), support.ours("recordio")):
        r = subprocess.run([program, "sh", "-c", "echo $$"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=20)
        pid = r.stdout.strip()
        assert r.stderr.startswith(pid + b" ") and b"\n" + pid + b" > " + pid + b" \n" in (
            b"\n" + r.stderr)
