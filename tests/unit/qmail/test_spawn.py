"""The qmail-send <-> spawner protocol (qmail/spawn.py) as transcripts, whole and bytewise,
and qmail-lspawn's and qmail-rspawn's reports (spec/qmail.md §9.4)."""
import pytest
from hypothesis import given, settings, strategies as st

from qmail import spawn
from qmail.spawn import Command, CommandReader, ReportReader


def chunks(data: bytes, bytewise: bool):
    return [data[i:i + 1] for i in range(len(data))] if bytewise else [data]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_commands(bytewise):
    data = (spawn.command(0, b"13/2154124", b"sender@example.com", b"joe@mx.example.org")
            + spawn.command(7, b"2/25", b"", b"x@y"))
    assert data[:1] == b"\0" and data.count(b"\0") == 1 + 3 + 3
    reader = CommandReader()
    got = [cmd for chunk in chunks(data, bytewise) for cmd in reader.feed(chunk)]
    assert got == [Command(0, b"13/2154124", b"sender@example.com", b"joe@mx.example.org"),
                   Command(7, b"2/25", b"", b"x@y")]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_reports(bytewise):
    data = b"\x00Kdid 0+0+1\n\x00\x03ZSorry.\n\x00\x01D\x00"
    reader = ReportReader()
    got = [r for chunk in chunks(data, bytewise) for r in reader.feed(chunk)]
    assert got == [(0, b"Kdid 0+0+1\n"), (3, b"ZSorry.\n"), (1, b"D")]


def test_report_is_cut_at_reportmax():
    reader = ReportReader()
    [(delnum, report)] = reader.feed(b"\x02K" + b"x" * 20000 + b"\0")
    assert delnum == 2 and len(report) == spawn.REPORTMAX - 2 and report.startswith(b"Kxxx")


@pytest.mark.parametrize("cmd,error", [
    (Command(120, b"1/1", b"", b"a@b"), b"ZInternal error: delnum too big. (#4.3.5)\n"),
    (Command(5, b"1/1", b"", b"a@b"), b"ZInternal error: delnum in use. (#4.3.5)\n"),
    (Command(0, b"1/x", b"", b"a@b"), b"DInternal error: messid has nonnumerics. (#5.3.5)\n"),
    (Command(0, b"/1", b"", b"a@b"), b"DInternal error: messid has nonnumerics. (#5.3.5)\n"),
    (Command(0, b"1" * 100, b"", b"a@b"), b"DInternal error: messid too long. (#5.3.5)\n"),
    (Command(0, b"", b"", b"a@b"), b"DInternal error: messid too short. (#5.3.5)\n"),
    (Command(0, b"1/1", b"", b"nohost"), b"DSorry, address must include host name. (#5.1.3)\n"),
    (Command(0, b"13/2154124", b"", b"a@b"), None),
])
def test_check_command(cmd, error):
    assert spawn.check_command(cmd, 120, lambda n: n == 5) == error


@pytest.mark.parametrize("status,output,report", [
    (0, b"did 0+0+1\n", b"Kdid 0+0+1\n"),
    (0, b"did 0+1+0\nqp 1234\n", b"Kdid 0+1+0\nqp 1234\n"),
    (100, b"Sorry, no mailbox here by that name. (#5.1.1)\n",
     b"DSorry, no mailbox here by that name. (#5.1.1)\n"),
    (111, b"Uh-oh: home directory is writable. (#4.7.0)\n",
     b"ZUh-oh: home directory is writable. (#4.7.0)\n"),
    (71, b"x", b"Zx"), (74, b"x", b"Zx"), (75, b"x", b"Zx"), (1, b"x", b"Dx"),
    (0, b"cut\0here", b"Kcut"),
    (None, b"anything", b"Zqmail-local crashed.\n"),
    (116, b"", b"ZUnable to find alias user!\n"),
    (113, b"", b"ZNot allowed to perform deliveries as root.\n"),
    (117, b"", b"ZTrouble reading users/cdb in qmail-lspawn.\n"),
    (126, b"", b"DUnable to run qmail-local.\n"),
    (120, b"", b"ZUnable to run qmail-local.\n"),
    (112, b"", b"ZInternal qmail-lspawn bug.\n"),
])
def test_local_report(status, output, report):
    assert spawn.local_report(status, output) == report


@pytest.mark.parametrize("output,report", [
    (b"r\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 1795553487 qp 6201\n\0",
     b"K127.0.0.1 accepted message.\nRemote host said: 250 ok 1795553487 qp 6201\n"),
    (b"h127.0.0.1 does not like recipient.\nRemote host said: 550 no mailbox\n\0"
     b"DGiving up on 127.0.0.1.\n\0",
     b"D127.0.0.1 does not like recipient.\nRemote host said: 550 no mailbox\n"
     b"Giving up on 127.0.0.1.\n"),
    (b"s127.0.0.1 does not like recipient.\nRemote host said: 450 later\n\0"
     b"ZGiving up on 127.0.0.1.\n\0",
     b"Z127.0.0.1 does not like recipient.\nRemote host said: 450 later\n"
     b"Giving up on 127.0.0.1.\n"),
    (b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0",
     b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"),
    (b"DSorry, I couldn't find any host named nx.example. (#5.1.2)\n\0",
     b"DSorry, I couldn't find any host named nx.example. (#5.1.2)\n"),
    # accepted recipient but the message failed afterwards
    (b"r\0ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0",
     b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n"),
])
def test_remote_report(output, report):
    assert spawn.remote_report(0, output) == report


@pytest.mark.parametrize("status,output,report", [
    (None, b"", b"Zqmail-remote crashed.\n"),
    (111, b"", b"ZUnable to run qmail-remote.\n"),
    (100, b"", b"DUnable to run qmail-remote.\n"),
    (0, b"", b"Zqmail-remote produced no output.\n"),
])
def test_remote_report_troubles(status, output, report):
    assert spawn.remote_report(status, output) == report


def test_truncate():
    assert spawn.truncate(b"x" * 3000, 3000) == b"x" * 3000
    cut = spawn.truncate(b"x" * 3001, 3000)
    assert cut == b"x" * (3000 - len(spawn.TRUNCMESS) - 3) + spawn.TRUNCMESS
    assert spawn.truncate(b"x" * 5000, 0) == b"x" * 5000      # qmail-rspawn: no cut



_field = st.binary(max_size=12).map(lambda b: b.replace(b"\0", b""))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), _field, _field, _field), max_size=5),
       st.integers(min_value=1, max_value=9))
def test_commands_survive_any_chunking(commands, size):
    data = b"".join(spawn.command(*c) for c in commands)
    reader = CommandReader()
    got = []
    for i in range(0, len(data), size):
        got += reader.feed(data[i:i + size])
    assert got == [Command(*c) for c in commands]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.sampled_from([b"K", b"Z", b"D"]), _field),
                max_size=5), st.integers(min_value=1, max_value=9))
def test_reports_survive_any_chunking(reports, size):
    data = b"".join(bytes([n]) + letter + text + b"\0" for n, letter, text in reports)
    reader = ReportReader()
    got = []
    for i in range(0, len(data), size):
        got += reader.feed(data[i:i + size])
    assert got == [(n, letter + text) for n, letter, text in reports]
