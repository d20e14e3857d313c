"""Our tcprules and tcprulescheck as programs, without the C reference (which
tests/differential compares byte for byte)."""
import subprocess

from rules.cdb import get
from support import ours


def tcprules(tmp_path, text, *args):
    return subprocess.run([ours("tcprules"), *(args or (str(tmp_path / "r.cdb"), str(tmp_path / "r.tmp")))],
                          input=text, capture_output=True)


def test_compiles_and_checks(tmp_path):
    proc = tcprules(tmp_path, b'127.0.0.1:allow,RELAYCLIENT=""\n10.:deny\n:allow\n')
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert get(tmp_path / "r.cdb", b"127.0.0.1") == b"+RELAYCLIENT=\0"
    check = subprocess.run([ours("tcprulescheck"), str(tmp_path / "r.cdb")], capture_output=True,
                           env={"TCPREMOTEIP": "10.9.9.9"})
    assert check.stdout == b"rule 10.:\ndeny connection\n" and check.returncode == 0


def test_parse_error_keeps_old_cdb_and_leaves_tmp(tmp_path):
    (tmp_path / "r.cdb").write_bytes(b"old")
    proc = tcprules(tmp_path, b"1.2.3.4:allow\n1.2.3.5:allow\r\n")
    assert proc.returncode == 100
    assert proc.stderr == b"tcprules: fatal: unable to parse this line: 1.2.3.5:allow\r\n"
    assert (tmp_path / "r.cdb").read_bytes() == b"old"
    assert (tmp_path / "r.tmp").read_bytes() == b""      # nothing flushed yet, as in the C


def test_parse_error_after_a_flush_leaves_what_c_flushed(tmp_path):
    text = b"".join(b"10.0.%d.%d:allow\n" % (i // 256, i % 256) for i in range(1000)) + b"x:y\n"
    assert tcprules(tmp_path, text).returncode == 100
    tmp = (tmp_path / "r.tmp").read_bytes()
    assert len(tmp) == 2048 + 2 * 8192 and tmp[:2048] == bytes(2048)
    assert tmp[2048:2056] == b"\x08\x00\x00\x00\x00\x00\x00\x00"     # klen 8, dlen 0


def test_usage_and_full_disk(tmp_path):
    proc = tcprules(tmp_path, b"", "only-one")
    assert (proc.returncode, proc.stderr) == (100, b"tcprules: usage: tcprules rules.cdb rules.tmp\n")
    proc = tcprules(tmp_path, b":allow\n", str(tmp_path / "r.cdb"), "/dev/full")
    assert (proc.returncode, proc.stderr) == (
        111, b"tcprules: fatal: unable to write to /dev/full: out of disk space\n")
    assert not (tmp_path / "r.cdb").exists()


def test_works_through_a_symlink_elsewhere(tmp_path):
    # administrators link the programs into /usr/local/bin: the launcher must find our Python
    link = tmp_path / "bin" / "tcprules"
    link.parent.mkdir()
    link.symlink_to(ours("tcprules"))
    proc = subprocess.run([str(link), str(tmp_path / "r.cdb"), str(tmp_path / "r.tmp")],
                          input=b"1.2.3.4:deny\n", capture_output=True, env={"PATH": "/usr/bin:/bin"})
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert get(tmp_path / "r.cdb", b"1.2.3.4") == b"D\0"
