"""Who receives a local address: qmail-newu's users/assign compiler, qmail-lspawn's users/cdb
search and qmail-getpw's passwd rules (spec/qmail.md §10.1); qmail-qread's lines (§12.1);
qmail-clean's requests."""
import errno
import os
from types import SimpleNamespace

import pytest

from qmail import clean, qread, users
from qmail.newu import compile_assign
from qmail.users import LookupError_, PwEntry, Recipient, cdb_lookup, getpw, parse_nughde

ASSIGN = (b"=joe:joe:1001:1001:/home/joe:::\n"
          b"=Postmaster:alias:7790:2108:/var/qmail/alias:-:postmaster:\n"
          b"+list-:lists:1002:1002:/home/lists:-::\n"
          b"+:alias:7790:2108:/var/qmail/alias:-::\n"
          b".\n"
          b"=ignored:after:1:1:/x:::\n")


def table(assign: bytes):
    return dict(compile_assign(assign)).get


def test_compile_assign_records():
    records = compile_assign(ASSIGN)
    assert records == [
        (b"!joe\0", b"joe\x001001\x001001\x00/home/joe\x00\x00"),
        (b"!postmaster\0", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00postmaster"),
        (b"!list-", b"lists\x001002\x001002\x00/home/lists\x00-\x00"),
        (b"!", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00"),
        (b"", b"-"),
    ]


@pytest.mark.parametrize("assign", [
    b"=joe:joe:1:1:/h:::\n",                 # no "." line
    b":joe:1:1:/h:::\n.\n",                  # empty key
    b"=joe:joe:1:1:/h::\n.\n",               # five colons only
    b"=jo\0e:joe:1:1:/h:::\n.\n",
])
def test_compile_assign_bad_format(assign):
    with pytest.raises(ValueError):
        compile_assign(assign)


def test_compile_assign_first_byte_is_the_type_whatever_it_is():
    # as in qmail-newu.c: any first byte but "+" means an exact entry, and it is skipped
    assert compile_assign(b"joe:joe:1:1:/h:::\n.\n")[0][0] == b"!oe\0"


@pytest.mark.parametrize("local,nughde", [
    (b"joe", b"joe\x001001\x001001\x00/home/joe\x00\x00"),
    (b"JOE", b"joe\x001001\x001001\x00/home/joe\x00\x00"),
    (b"postmaster", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00postmaster"),
    (b"list-Announce", b"lists\x001002\x001002\x00/home/lists\x00-\x00Announce"),
    (b"someone", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00someone"),
    (b"joe-ext", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00joe-ext"),
])
def test_cdb_lookup(local, nughde):
    assert cdb_lookup(table(ASSIGN), local) == nughde


def test_cdb_lookup_without_wildcards():
    get = table(b"=joe:joe:1:1:/h:::\n.\n")
    assert cdb_lookup(get, b"joe") is not None
    assert cdb_lookup(get, b"ann") is None
    with pytest.raises(LookupError_) as e:
        cdb_lookup({}.get, b"joe")          # no wildcard record: a broken users/cdb
    assert e.value.code == users.QLX_CDB


def test_parse_nughde():
    assert parse_nughde(b"joe\x001001\x001001\x00/home/joe\x00-\x00list\x00") == Recipient(
        b"joe", 1001, 1001, b"/home/joe", b"-", b"list")
    with pytest.raises(LookupError_):
        parse_nughde(b"joe\x001001")


PASSWD = {
    b"joe": PwEntry(b"joe", 1001, 100, b"/home/joe"),
    b"root": PwEntry(b"root", 0, 0, b"/root"),
    b"ann": PwEntry(b"ann", 1002, 100, b"/home/ann"),          # home owned by someone else
    b"bob": PwEntry(b"bob", 1003, 100, b"/nonexistent"),
    b"alias": PwEntry(b"alias", 7790, 2108, b"/var/qmail/alias"),
}
OWNERS = {b"/home/joe": 1001, b"/root": 0, b"/home/ann": 0, b"/var/qmail/alias": 7790}


def fake_stat(path):
    path = os.fsencode(path)
    if path not in OWNERS:
        raise FileNotFoundError(path)
    return SimpleNamespace(st_uid=OWNERS[path], st_gid=OWNERS[path])


@pytest.mark.parametrize("local,nughde", [
    (b"joe", b"joe\x001001\x00100\x00/home/joe\x00\x00\x00"),
    (b"Joe", b"joe\x001001\x00100\x00/home/joe\x00\x00\x00"),
    (b"joe-list-x", b"joe\x001001\x00100\x00/home/joe\x00-\x00list-x\x00"),
    (b"root", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00root\x00"),     # uid 0
    (b"ann", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00ann\x00"),       # not owner
    (b"bob", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00bob\x00"),       # no home
    (b"nobody-here", b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00nobody-here\x00"),
    (b"j" * 40, b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00" + b"j" * 40 + b"\x00"),
])
def test_getpw(local, nughde):
    assert getpw(local, PASSWD.get, fake_stat) == nughde


@pytest.mark.parametrize("err", [errno.ESTALE, errno.EIO, errno.EDQUOT, errno.ENOLCK])
def test_getpw_temporary_stat_errors_are_qlx_nfs(err):
    """A home directory that cannot be stat()ed for an error_temp() reason is QLX_NFS (a
    deferral), not a fall-through to the alias user."""
    def stat(path):
        raise OSError(err, os.strerror(err))
    with pytest.raises(LookupError_) as e:
        getpw(b"joe", PASSWD.get, stat)
    assert e.value.code == users.QLX_NFS


def test_getpw_without_alias_user():
    passwd = {k: v for k, v in PASSWD.items() if k != b"alias"}
    with pytest.raises(LookupError_) as e:
        getpw(b"nobody", passwd.get, fake_stat)
    assert e.value.code == users.QLX_NOALIAS
    # the owner of $QMAILHOME/alias stands in for a missing alias account
    assert getpw(b"x", passwd.get, fake_stat, alias_home="/var/qmail/alias") == (
        b"alias\x007790\x007790\x00/var/qmail/alias\x00-\x00x\x00")


def test_qread_lines():
    assert qread.stats_line(1795553487, 2154124, 88, b"sender@example.com", False) == (
        b"24 Nov 2026 20:51:27 GMT  #2154124  88  <sender@example.com> \n")
    assert qread.stats_line(1795553487, 7, 1, b"", True) == (
        b"24 Nov 2026 20:51:27 GMT  #7  1  <>  bouncing\n")
    assert qread.stats_line(0, 7, 1, b"a\tb\x80", False) == (
        b"1 Jan 1970 00:00:00 GMT  #7  1  <a_b_> \n")
    assert qread.recipient_lines(b"Djoe@x\0Tann@y\0Tbad\x01\0partial", b"local") == (
        b"  done\tlocal\tjoe@x\n\tlocal\tann@y\n\tlocal\tbad_\n")


@pytest.mark.parametrize("request_,answer", [
    (b"foop/123", b"+"), (b"todo/123", b"+"), (b"todo/", b"x"), (b"junk/123", b"x"),
    (b"todo/12a", b"x"), (b"todo/" + b"1" * 100, b"x"),
])
def test_clean_answers(tmp_path, monkeypatch, request_, answer):
    monkeypatch.chdir(tmp_path)
    for d in ("intd", "todo", "mess/8"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("intd/123", "todo/123", "mess/8/123"):
        (tmp_path / f).write_bytes(b"")
    assert clean.answer(request_) == answer
    left = {f for f in ("intd/123", "todo/123", "mess/8/123") if (tmp_path / f).exists()}
    if request_ == b"foop/123":
        assert left == {"todo/123"}
    elif request_ == b"todo/123":
        assert left == {"mess/8/123"}
    else:
        assert len(left) == 3
