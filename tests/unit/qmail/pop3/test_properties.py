"""Arbitrary client bytes: the cores raise nothing, answer every whole line in order, and
never consume input past the PASS/APOP line."""
from hypothesis import given, settings, strategies as st

from qmail.pop3.commands import Hangup, Reply, parse_command
from qmail.pop3.pop3d import Commit, Pop3Connection, SendMessage
from qmail.pop3.popup import Authenticate, PopupConnection

VERBS = [b"USER", b"PASS", b"APOP", b"QUIT", b"NOOP", b"STAT", b"LIST", b"UIDL", b"RETR",
         b"TOP", b"DELE", b"RSET", b"LAST", b"quit", b"", b"\0"]
LINES = st.builds(lambda v, sep, arg, end: v + sep + arg + end, st.sampled_from(VERBS),
                  st.sampled_from([b" ", b"  ", b"", b"\t"]),
                  st.binary(max_size=12) | st.sampled_from([b"1", b"2 0", b"0", b"99", b"3 1"]),
                  st.sampled_from([b"\r\n", b"\n", b"\r\r\n", b""]))
INPUT = st.lists(LINES, max_size=12).map(b"".join) | st.binary(max_size=300)
SPLITS = st.lists(st.integers(1, 40), max_size=30)


def pieces(data: bytes, sizes: list[int]):
    i = 0
    for size in sizes:
        if i >= len(data):
            return
        yield data[i:i + size]
        i += size
    if i < len(data):
        yield data[i:]


@settings(max_examples=200, deadline=None)
@given(data=INPUT, sizes=SPLITS)
def test_popup_takes_any_bytes(data, sizes):
    conn = PopupConnection(b"h", 1, 2)
    effects = list(conn.effects())
    fed = 0
    for piece in pieces(data, sizes):
        conn.receive_data(piece)
        fed += len(piece)
        effects += list(conn.effects())
        if any(not isinstance(e, Reply) for e in effects):
            break
    conn.receive_data(b"")
    effects += list(conn.effects())
    kinds = [type(e) for e in effects]
    assert kinds[-1] in (Hangup, Authenticate)
    if Authenticate in kinds:
        # everything after the line that carried PASS/APOP is still unconsumed
        consumed = fed - len(conn.trailing_data)
        assert data[:consumed].endswith(b"\n")
        assert parse_command(data[:consumed].split(b"\n")[-2] + b"\n")[0] in (b"pass", b"apop")


@settings(max_examples=200, deadline=None)
@given(data=INPUT, sizes=SPLITS, n=st.integers(0, 4))
def test_pop3d_takes_any_bytes(data, sizes, n):
    conn = Pop3Connection([10 * i for i in range(n)], [b"u%d" % i for i in range(n)])
    replies = 0
    finished = False
    for piece in [*pieces(data, sizes), b""]:
        conn.receive_data(piece)
        for effect in conn.effects():
            if isinstance(effect, SendMessage):
                assert 0 <= effect.index < n
                assert effect.body_lines is None or effect.body_lines >= 0
                replies += 1
            elif isinstance(effect, Reply):
                assert effect.data.startswith((b"+OK ", b"-ERR "))
                replies += 1
            elif isinstance(effect, Commit):
                conn.committed(0)
            else:
                assert effect == Hangup(0)
                finished = True
        if finished:
            break
    assert finished
    whole_lines = [line + b"\n" for line in data.split(b"\n")[:-1]]
    verbs = [parse_command(line)[0] for line in whole_lines]
    answered = verbs.index(b"quit") + 1 if b"quit" in verbs else len(verbs)
    assert replies == 1 + answered       # the greeting, then one answer per line up to QUIT
