"""addcr, delcr, fixcrio, argv0: Debian's C programs and ours, byte for byte (spec/ucspi-tcp.md §5.4)."""
import os
import subprocess

import pytest

import support

INPUTS = [b"", b"a\nb\r\nc\r", b"c\r\r\nd\r", b"\r\n\r\n\n\r", b"x" * 10000 + b"\n\r" * 5000,
          bytes(range(256)), b"\r", b"\n"]


def run(program, args, stdin=b"", env=None):
    r = subprocess.run([program, *args], input=stdin, capture_output=True, timeout=20,
                       env=env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    return r.returncode, r.stdout, r.stderr


def same(name, args, stdin=b"", env=None):
    c = run(support.reference(name), args, stdin, env)
    py = run(support.ours(name), args, stdin, env)
    assert py == c
    return c


@pytest.mark.parametrize("name", ["addcr", "delcr"])
@pytest.mark.parametrize("stdin", INPUTS)
def test_cr_filters(name, stdin):
    same(name, ["ignored", "args"], stdin)


@pytest.mark.parametrize("name", ["addcr", "delcr"])
def test_cr_filters_into_a_closed_pipe(name):
    results = []
    for program in (support.reference(name), support.ours(name)):
        reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
        reader.wait()
        r = subprocess.run([program], input=b"x\n" * 100000, stdout=reader.stdin,
                           stderr=subprocess.PIPE, timeout=20)
        reader.stdin.close()
        results.append((r.returncode, r.stderr))
    assert results[0] == results[1]


@pytest.mark.parametrize("stdin", INPUTS[:6])
@pytest.mark.parametrize("args", [["cat"], ["sh", "-c", "printf 'a\\nb\\r\\nc\\r'; cat"]])
def test_fixcrio(stdin, args):
    same("fixcrio", args, stdin)


@pytest.mark.parametrize("args", [[], ["/nonexistent"], ["nonexistent-prog-xyz"],
                                  ["sh", "-c", "exit 7"]])
def test_fixcrio_errors_and_status(args):
    same("fixcrio", args, b"x\n")


@pytest.mark.parametrize("args", [
    [], ["sh"], ["sh", "mysh", "-c", 'echo "$0 $# $*"', "a", "b c"],
    ["/bin/sh", "", "-c", 'echo "[$0]"'], ["/nonexistent", "x"], ["nonexistent-xyz", "x"],
    ["sh", "sh", "-c", "exit 9"], ["/", "x"],
])
def test_argv0(args):
    same("argv0", args)


def test_argv0_keeps_the_environment():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "A": "1", "B": "x=y"}
    status, out, _ = same("argv0", ["env", "env"], env=env)
    assert b"A=1\n" in out
