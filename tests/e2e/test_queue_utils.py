"""qmail-newu, qmail-qread, qmail-qstat, qmail-clean as real processes (spec/qmail.md §10.1,
§12). users/cdb is checked with tinycdb's `cdb -d`, an independent reader of djb's format."""
import os
import subprocess

import pytest

from queue_support import envelope, run_queue, scratch_home
from support import ours, system_tool


@pytest.fixture
def home():
    with scratch_home() as h:
        yield h


def run(home, name, **kw):
    return subprocess.run([ours(name)], env=dict(os.environ, QMAILHOME=str(home)),
                          capture_output=True, **kw)


def test_qmail_newu_writes_a_standard_cdb(home):
    cdb = system_tool("cdb", "tinycdb")
    (home / "users" / "assign").write_bytes(
        b"=joe:joe:1001:1001:/home/joe:::\n+list-:lists:1002:1002:/home/lists:-::\n.\n")
    r = run(home, "qmail-newu")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    assert not (home / "users" / "cdb.tmp").exists()
    dump = subprocess.run([cdb, "-d", str(home / "users" / "cdb")], capture_output=True,
                          check=True).stdout
    records = [(b"!joe\0", b"joe\x001001\x001001\x00/home/joe\x00\x00"),
               (b"!list-", b"lists\x001002\x001002\x00/home/lists\x00-\x00"),
               (b"", b"-")]
    assert dump == b"".join(b"+%d,%d:%s->%s\n" % (len(k), len(v), k, v) for k, v in records) \
        + b"\n"


@pytest.mark.parametrize("assign,error", [
    (None, b"qmail-newu: fatal: unable to open users/assign\n"),
    (b"=joe:joe:1:1:/h:::\n", b"qmail-newu: fatal: bad format in users/assign\n"),
    (b"=joe:joe:1:1\n.\n", b"qmail-newu: fatal: bad format in users/assign\n"),
])
def test_qmail_newu_errors(home, assign, error):
    if assign is not None:
        (home / "users" / "assign").write_bytes(assign)
    r = run(home, "qmail-newu")
    assert (r.returncode, r.stderr) == (111, error)
    assert not (home / "users" / "cdb").exists()


def test_qmail_qread_and_qstat_on_an_unpreprocessed_queue(home):
    assert run_queue(home, b"x\n", envelope(b"a@b", b"c@d")).returncode == 0
    r = run(home, "qmail-qstat")
    assert (r.returncode, r.stdout) == (
        0, b"messages in queue: 1\nmessages in queue but not yet preprocessed: 1\n")
    r = run(home, "qmail-qread")                 # nothing in info/ yet
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


def test_qmail_qread_fatal_goes_to_stdout(tmp_path):
    r = subprocess.run([ours("qmail-qread")], capture_output=True,
                       env=dict(os.environ, QMAILHOME=str(tmp_path / "none")))
    assert (r.returncode, r.stdout, r.stderr) == (
        111, b"fatal: unable to chdir: file does not exist\n", b"")


def test_qmail_clean_protocol(home):
    queue = home / "queue"
    for path in ("intd/123", "todo/123", "mess/8/123", "intd/77", "mess/8/77"):
        (queue / path).write_bytes(b"")
    r = run(home, "qmail-clean", input=b"todo/123\0foop/77\0bogus\0foop/5\0")
    assert (r.returncode, r.stdout) == (0, b"++x+")
    left = sorted(str(p.relative_to(queue)) for p in queue.rglob("*") if p.is_file()
                  and "lock" not in p.parts)
    assert left == ["mess/8/123"]
