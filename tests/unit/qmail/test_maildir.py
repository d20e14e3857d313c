"""Maildir scanning, tmp/ cleaning and the QUIT commit (spec/qmail.md §6.1, §6.4, §11)."""
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmail import maildir
from qmail.maildirmake import main as maildirmake

NOW = 1795553487


@pytest.fixture
def md(tmp_path, monkeypatch):
    assert maildirmake(["maildirmake", str(tmp_path / "Maildir")]) == 0
    monkeypatch.chdir(tmp_path / "Maildir")
    return tmp_path / "Maildir"


def put(md, path: str, data: bytes, mtime: int, atime: int | None = None):
    (md / path).write_bytes(data)
    os.utime(md / path, (mtime if atime is None else atime, mtime))


def test_maildirmake_messages(tmp_path, capfd):
    assert maildirmake(["maildirmake"]) == 100
    assert capfd.readouterr().err == "maildirmake: usage: maildirmake name\n"
    (tmp_path / "M").mkdir()
    assert maildirmake(["maildirmake", str(tmp_path / "M")]) == 111
    assert capfd.readouterr().err == (
        f"maildirmake: fatal: unable to mkdir {tmp_path}/M: file already exists\n")
    (tmp_path / "N").mkdir()
    (tmp_path / "N" / "sub").write_text("")
    assert maildirmake(["maildirmake", str(tmp_path / "N" / "sub" / "x")]) == 111
    assert capfd.readouterr().err == (
        f"maildirmake: fatal: unable to mkdir {tmp_path}/N/sub/x: not a directory\n")


def test_maildirmake_modes(tmp_path):
    target = tmp_path / "M"
    assert maildirmake(["maildirmake", str(target)]) == 0
    for sub in ("", "tmp", "new", "cur"):
        assert (target / sub).stat().st_mode & 0o777 == 0o700
    assert maildirmake(["maildirmake", str(target)]) == 111
    assert maildirmake(["maildirmake"]) == 100


def test_scan_order_current_second_and_dotfiles(md):
    put(md, "new/b", b"bb", NOW - 10)
    put(md, "cur/a:2,S", b"a", NOW - 20)
    put(md, "new/c", b"ccc", NOW - 10)
    put(md, "new/now", b"x", NOW)                 # this second: hidden (§6.1 item 4)
    put(md, "new/future", b"x", NOW + 5)
    put(md, "new/.hidden", b"x", NOW - 100)
    put(md, "cur/.x", b"x", NOW - 100)
    found = maildir.scan(NOW)
    assert [(m.path, m.size, m.uid) for m in found] == [
        (b"cur/a:2,S", 1, b"a"), (b"new/b", 2, b"b"), (b"new/c", 3, b"c")]


def test_scan_lists_non_regular_entries_and_fails_without_new(md):
    os.mkdir(md / "new" / "adir")
    os.utime(md / "new" / "adir", (NOW - 5, NOW - 5))
    assert [m.path for m in maildir.scan(NOW)] == [b"new/adir"]
    os.rmdir(md / "new" / "adir")
    os.rmdir(md / "new")
    with pytest.raises(OSError):
        maildir.scan(NOW)


def test_clean_tmp_by_atime(md):
    put(md, "tmp/old", b"x", NOW, atime=NOW - 129601)
    put(md, "tmp/edge", b"x", NOW, atime=NOW - 129600)     # not more than 36 hours: kept
    put(md, "tmp/.old", b"x", NOW, atime=NOW - 999999)
    maildir.clean_tmp(NOW)
    assert sorted(os.listdir(md / "tmp")) == [".old", "edge"]


def test_commit(md):
    put(md, "new/1", b"one", NOW - 3)
    put(md, "new/2", b"two", NOW - 2)
    put(md, "cur/3:2,S", b"three", NOW - 1)
    put(md, "cur/4:2,", b"four", NOW - 1)
    found = maildir.scan(NOW)
    assert [m.path for m in found] == [b"new/1", b"new/2", b"cur/3:2,S", b"cur/4:2,"]
    os.unlink(md / "cur" / "4:2,")                          # gone meanwhile: one failure
    put(md, "new/late", b"late", NOW)                        # arrived during the session
    assert maildir.commit(found, {0, 3}) == 1
    assert sorted(os.listdir(md / "new")) == ["late"]
    assert sorted(os.listdir(md / "cur")) == ["2:2,", "3:2,S"]



@pytest.mark.parametrize("keys, order", [
    ([5, 5, 5], [0, 2, 1]),     # delmin moves the last (2) to the top; 1 <= 2 stops it
    ([3, 1, 2], [1, 2, 0]),                                   # distinct: a plain sort
    ([7, 7, 7, 7, 7], [0, 4, 3, 2, 1]),                       # worked by hand from prioq.c
    ([2, 1, 1, 2, 1], [1, 4, 2, 3, 0]),
    ([], []),
])
def test_prioq_order(keys, order):
    assert maildir.prioq_order(keys) == order


@given(st.lists(st.integers(-3, 3), max_size=40))
@settings(max_examples=200, deadline=None)
def test_prioq_order_is_a_sort_by_key(keys):
    order = maildir.prioq_order(keys)
    assert sorted(order) == list(range(len(keys)))
    assert [keys[i] for i in order] == sorted(keys)


def test_scan_orders_equal_mtimes_as_qmails_prioq(md):
    for name in ("a", "b", "c", "d", "e"):
        put(md, "new/" + name, b"x", NOW - 10)
    put(md, "cur/z:2,", b"x", NOW - 10)
    entries = [b"new/" + e.name for e in os.scandir(b"new")] + [b"cur/z:2,"]   # readdir order
    expected = [entries[i] for i in maildir.prioq_order([0] * len(entries))]
    assert [m.path for m in maildir.scan(NOW)] == expected


def test_scan_and_clean_with_times_before_1970(md):
    put(md, "new/old", b"x", -5)                     # signed time_t: listed, and first
    put(md, "new/new", b"x", NOW - 1)
    assert [m.path for m in maildir.scan(NOW)] == [b"new/old", b"new/new"]
    put(md, "tmp/neg", b"x", NOW, atime=-200000)
    maildir.clean_tmp(NOW)
    assert os.listdir(md / "tmp") == []


def test_commit_ignores_rename_failures(md):
    put(md, "new/1", b"one", NOW - 3)
    put(md, "new/2", b"two", NOW - 2)
    found = maildir.scan(NOW)
    os.rename(md / "new" / "1", md / "cur" / "1:2,S")      # another session got there first
    assert maildir.commit(found, set()) == 0                 # "if it fails, bummer"
    assert sorted(os.listdir(md / "cur")) == ["1:2,S", "2:2,"]


@pytest.mark.slow
def test_now_is_the_c_librarys_time():
    # qmail-pop3d's current second (§6.1 item 4) is time(NULL): glibc reads the kernel's
    # coarse clock, which lags the precise one (time.time()) by up to a tick; across a
    # second boundary the two disagree, and now() must agree with time()
    import ctypes
    import time
    from qmail.pop3d import now
    libc = ctypes.CDLL(None)
    libc.time.restype = ctypes.c_long
    start = libc.time(None)
    deadline = time.monotonic() + 3
    while libc.time(None) <= start + 1 and time.monotonic() < deadline:
        before = now()
        c = libc.time(None)
        assert before <= c <= now()
    assert libc.time(None) > start + 1
