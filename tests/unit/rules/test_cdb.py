"""rules/cdb.py: reads like djb's cdb_find, writes atomically with cdblib."""
import errno
import os

import pytest

from rules.cdb import find_rule, get, open_cdb, replace_cdb


def test_round_trip_and_first_record_wins(tmp_path):
    target = tmp_path / "r.cdb"
    replace_cdb(target, tmp_path / "r.tmp", [(b"a", b"1"), (b"b", b""), (b"a", b"2")])
    assert not (tmp_path / "r.tmp").exists()
    assert get(target, b"a") == b"1" and get(target, b"b") == b"" and get(target, b"c") is None
    assert find_rule(target, [b"x", b"b", b"a"]) == (b"b", b"")
    assert find_rule(target, [b"x"]) is None


def test_large_file_is_mapped(tmp_path):
    target = tmp_path / "big.cdb"
    replace_cdb(target, tmp_path / "t", ((b"%d" % i, b"v%d" % i) for i in range(20000)))
    assert get(target, b"19999") == b"v19999"


def test_failed_records_leave_target(tmp_path):
    target = tmp_path / "r.cdb"
    target.write_bytes(b"old")

    def bad():
        yield b"a", b"1"
        raise ValueError("bad line")
    with pytest.raises(ValueError):
        replace_cdb(target, tmp_path / "r.tmp", bad())
    assert target.read_bytes() == b"old" and (tmp_path / "r.tmp").exists()


@pytest.mark.parametrize("content, code", [(b"", errno.EINVAL), (b"\x08" * 2100, errno.EPROTO),
                                           (b"\0" * 10, errno.EPROTO)])
def test_errors_as_the_c_reader(tmp_path, content, code):
    path = tmp_path / "x.cdb"
    path.write_bytes(content)
    with pytest.raises(OSError) as e:
        find_rule(path, [b"", b"1.2.3.4"])
    assert e.value.errno == code


def test_missing_and_directory(tmp_path):
    with pytest.raises(OSError) as e:
        open_cdb(tmp_path / "none")
    assert e.value.errno == errno.ENOENT
    with pytest.raises(OSError) as e:
        open_cdb(tmp_path)
    assert e.value.errno == errno.EISDIR


def test_full_table_without_empty_slot_ends(tmp_path):
    # a hand-made table whose every slot is taken: cdb_find gives up after one pass
    import struct
    from cdblib.djb_hash import djb_hash
    h = djb_hash(b"") & 0xFFFFFFFF
    header = bytearray(2048)
    table = 2048
    struct.pack_into("<LL", header, (h & 255) * 8, table, 1)
    body = struct.pack("<LL", (h + 256) & 0xFFFFFFFF, 2048 + 8)   # wrong hash, nonzero pos
    path = tmp_path / "loop.cdb"
    path.write_bytes(bytes(header) + body + struct.pack("<LL", 0, 0))
    assert get(path, b"") is None
    assert os.path.getsize(path) == 2048 + 16
