"""qmail-queue's pure parts: the envelope byte machine, the Received line (spec/qmail.md §3)."""
import pytest
from hypothesis import given, settings, strategies as st

from qmail.queue import ADDR, Envelope, date822, invoked, received_line

NOW = 1795553487               # 24 Nov 2026 20:51:27 UTC


def feed(data: bytes, one_byte: bool, eof: bool = True):
    env = Envelope()
    chunks = [data[i:i + 1] for i in range(len(data))] if one_byte else [data]
    for chunk in chunks:
        if chunk:
            status = env.feed(chunk)
            if status is not None:
                return status, bytes(env.records)
    if eof:
        return env.feed(b""), bytes(env.records)
    return None, bytes(env.records)


CASES = [
    # envelope bytes, status, stored records
    (b"Fa@b\0Tc@d\0Te@f\0\0", 0, b"Fa@b\0Tc@d\0Te@f\0"),
    (b"F\0\0", 0, b"F\0"),                                 # null sender, no recipients
    (b"Fa@b\0Tc@d\0\0trailing junk", 0, b"Fa@b\0Tc@d\0"),
    (b"Xa@b\0\0", 91, None),                                 # first byte must be F
    (b"Fa@b\0Xc@d\0\0", 91, None),                           # a recipient record must be T
    (b"Fa@b\0Fc@d\0\0", 91, None),
    (b"", 54, None),                                         # EOF before anything
    (b"Fa@b\0Tc@d\0", 54, None),                             # EOF before the final NUL
    (b"Fa@b", 54, None),
    (b"F" + b"x" * (ADDR - 1) + b"\0\0", 0, b"F" + b"x" * 1002 + b"\0"),   # 1002 bytes: ok
    (b"F" + b"x" * ADDR + b"\0\0", 11, None),                # 1003 bytes: too long
    (b"Fa\0T" + b"y" * ADDR, 11, None),                      # detected before the NUL
    (b"Fa\0T" + b"y" * (ADDR - 1) + b"\0\0", 0, b"Fa\0T" + b"y" * 1002 + b"\0"),
]


@pytest.mark.parametrize("one_byte", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("data,status,records", CASES)
def test_envelope(data, status, records, one_byte):
    got, stored = feed(data, one_byte)
    assert got == status
    if records is not None:
        assert stored == records


def test_envelope_decides_before_eof():
    # like the C, a bad first byte or an overlong address is known without waiting for EOF
    assert feed(b"Tx", False, eof=False)[0] == 91
    assert feed(b"F" + b"a" * ADDR, True, eof=False)[0] == 11
    assert feed(b"Fa@b\0", True, eof=False)[0] is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.integers(min_value=1, max_value=7))
def test_envelope_chunking_never_matters(data, size):
    whole = feed(data, False)
    env = Envelope()
    status = None
    for i in range(0, len(data), size):
        status = env.feed(data[i:i + size])
        if status is not None:
            break
    if status is None:
        status = env.feed(b"")
    assert status in (0, 11, 54, 91)
    assert (status, bytes(env.records) if status == 0 else None) == \
        (whole[0], whole[1] if whole[0] == 0 else None)


def test_date822():
    assert date822(NOW) == b"24 Nov 2026 20:51:27 -0000\n"
    assert date822(0) == b"1 Jan 1970 00:00:00 -0000\n"


def test_received_line():
    assert received_line(6201, b"from network", NOW) == \
        b"Received: (qmail 6201 invoked from network); 24 Nov 2026 20:51:27 -0000\n"


@pytest.mark.parametrize("uid,how", [
    (7790, b"by alias"), (7791, b"from network"), (7792, b"for bounce"), (0, b"by uid 0"),
    (1000, b"by uid 1000"),
])
def test_invoked(uid, how):
    assert invoked(uid, 7790, 7791, 7792) == how


def test_invoked_without_qmail_accounts():
    # missing accounts never match: root stays "by uid 0"
    assert invoked(0, None, None, None) == b"by uid 0"


def test_qmail_queue_start_up_stays_light():
    """qmail-queue runs once per message: no heavy module on its path (STYLE.md §4.8)."""
    import subprocess
    import sys
    probe = ("import sys; seen = set(sys.modules); import qmail.queue; "
             "print(*set(sys.modules) - seen)")
    out = subprocess.check_output([sys.executable, "-c", probe], text=True)
    assert not {"email", "smtplib", "asyncio", "logging", "subprocess", "dataclasses", "enum",
                "socket"} & set(out.split())


def test_read_split_dir_reports_a_subdirectory_it_cannot_open(tmp_path, monkeypatch):
    """readsubdir's pause function: skip (no hook or False), retry (True), or raise."""
    from qmail.queuefs import SPLIT, read_split_dir
    monkeypatch.chdir(tmp_path)
    for sub in range(SPLIT):
        (tmp_path / "info" / str(sub)).mkdir(parents=True)
    (tmp_path / "info" / "3" / "123").write_bytes(b"")
    (tmp_path / "info" / "5").rmdir()
    (tmp_path / "info" / "5").write_bytes(b"")          # not a directory: listdir fails
    assert list(read_split_dir("info")) == [123]
    calls = []

    def pause(path, error):
        calls.append((path, type(error)))
        return len(calls) < 3                             # retry twice, then skip
    assert list(read_split_dir("info", pause)) == [123]
    assert calls == [("info/5", NotADirectoryError)] * 3

    def die(path, error):
        raise RuntimeError(path)
    with pytest.raises(RuntimeError, match="info/5"):
        list(read_split_dir("info", die))
