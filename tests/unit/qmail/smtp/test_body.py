"""The DATA machine (spec/qmail.md §2.10.2-§2.10.3) against a byte-at-a-time transliteration of
qmail-smtpd's blast(): same stored bytes, same hop count, same end, for any input cut anyhow."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmail.smtp import body as body_module
from qmail.smtp.body import END, MORE, STRAY, Body


def blast(data: bytes):
    """blast() as the C has it: (outcome, stored bytes, hops, bytes consumed)."""
    out = bytearray()
    state, hops, in_header, pos = 1, 0, True, 0
    maybe_x = maybe_y = maybe_z = True
    for i, ch in enumerate(data):
        if in_header:
            if pos < 9:
                if ch not in b"delivered"[pos:pos + 1] + b"DELIVERED"[pos:pos + 1]:
                    maybe_z = False
                if maybe_z and pos == 8:
                    hops += 1
                if pos < 8:
                    if ch not in b"received"[pos:pos + 1] + b"RECEIVED"[pos:pos + 1]:
                        maybe_x = False
                    if maybe_x and pos == 7:
                        hops += 1
                if pos < 2:
                    if ch != b"\r\n"[pos]:
                        maybe_y = False
                    if maybe_y and pos == 1:
                        in_header = False
                pos += 1
            if ch == 10:
                pos = 0
                maybe_x = maybe_y = maybe_z = True
        if state == 0:
            if ch == 10:
                return STRAY, bytes(out), hops, i + 1
            if ch == 13:
                state = 4
                continue
        elif state == 1:
            if ch == 10:
                return STRAY, bytes(out), hops, i + 1
            if ch == 46:
                state = 2
                continue
            if ch == 13:
                state = 4
                continue
            state = 0
        elif state == 2:
            if ch == 10:
                return STRAY, bytes(out), hops, i + 1
            if ch == 13:
                state = 3
                continue
            state = 0
        elif state == 3:
            if ch == 10:
                return END, bytes(out), hops, i + 1
            out += b".\r"
            if ch == 13:
                state = 4
                continue
            state = 0
        elif state == 4:
            if ch == 10:
                state = 1
            elif ch != 13:
                out += b"\r"
                state = 0
        out.append(ch)
    return MORE, bytes(out), hops, len(data)


def feed_in(data: bytes, cuts: list[int]):
    """Body fed DATA cut at CUTS: (outcome, stored bytes, hops, rest after the end)."""
    body = Body()
    stored = bytearray()
    pieces, last = [], 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))) + [len(data)]:
        pieces.append(data[last:cut])
        last = cut
    for i, piece in enumerate(pieces):
        outcome, out, rest = body.feed(piece)
        stored += out
        if outcome != MORE:
            return outcome, bytes(stored), body.hops, rest + b"".join(pieces[i + 1:])
    return MORE, bytes(stored), body.hops, b""


def check(data: bytes, cuts=()) -> None:
    outcome, stored, hops, used = blast(data)
    got = feed_in(data, list(cuts))
    if outcome == STRAY:
        assert got[0] == STRAY
        return                                  # stored bytes do not matter: the session ends
    if outcome == MORE:
        # every complete line must match; the last partial line may still be held back
        assert got[0] == MORE and got[2] == hops
        assert stored.startswith(got[1])
        return
    assert got == (END, stored, hops, data[used:])


EXAMPLES = [
    b".\r\n", b"a\r\n.\r\n", b"..dot\r\n.x\r\n.\r\n", b"A\rB\r\n.\r\n", b"C\r\r\n.\r\n",
    b".\rX\r\n.\r\n", b".\r\r\n.\r\n", b"\r\n\r\n.\r\n", b"x\r\n..\r\n.\r\nNEXT\r\n",
    b"Received: a\r\nDELIVERED-TO: b\r\nreceivedX\r\n\r\nReceived: body\r\n.\r\n",
    b"\n", b"a\n", b".\n", b"x\r\n.\n", b"x\r\r\n\r\n.\r\n", b"..\r\n.\r\n",
    b"Rec\r\neived: x\r\n.\r\n", b"\r\r\n.\r\n", b".\r.\r\n.\r\n", b"a\r\n.\rb\r\n.\r\n",
]


@pytest.mark.parametrize("data", EXAMPLES)
def test_examples_whole_and_bytewise(data):
    check(data)
    check(data, list(range(len(data))))


def test_stored_after_partial_input_is_a_prefix():
    body = Body()
    outcome, out, _ = body.feed(b"Subject: x\r\n\r\nline one\r\nline t")
    assert (outcome, out) == (MORE, b"Subject: x\n\nline one\n")
    outcome, out, rest = body.feed(b"wo\r\n.\r\nQUIT\r\n")
    assert (outcome, out, rest) == (END, b"line two\n", b"QUIT\r\n")


def test_long_lines_are_streamed(monkeypatch):
    monkeypatch.setattr(body_module, "LONG_LINE", 8)
    for data in (b"x" * 50 + b"\r\n.\r\n", b"..." + b"y" * 30 + b"\r\n.\r\n",
                 b".\r" + b"z" * 30 + b"\r\n.\r\n", b"Received:" + b"r" * 30 + b"\r\n.\r\n",
                 b"a" * 20 + b"\r\r\r\n.\r\n", b"b" * 20 + b"\n.\r\n",
                 b"DeLiVeReD" * 5 + b"\r\n\r\n" + b"c" * 40 + b"\r\n.\r\n"):
        check(data, list(range(0, len(data), 3)))
        check(data, list(range(0, len(data), 11)))
        check(data, list(range(len(data))))
    body = Body()
    outcome, out, _ = body.feed(b"q" * 100)
    assert outcome == MORE and out == b"q" * 99          # only the last byte is held back


def test_twenty_megabytes_in_big_chunks():
    line = b"0123456789" * 7 + b"\r\n"
    data = b"Subject: big\r\n\r\n" + b"..dot\r\n" + line * 280000 + b".\r\n"
    body = Body()
    stored = []
    for i in range(0, len(data), 65536):
        outcome, out, rest = body.feed(data[i:i + 65536])
        stored.append(out)
    assert outcome == END and rest == b""
    assert b"".join(stored) == b"Subject: big\n\n.dot\n" + (line[:-2] + b"\n") * 280000


ALPHABET = st.sampled_from([b"\r", b"\n", b".", b"\r\n", b"\r\n.\r\n", b"a", b"\0",
                            b"Received:", b"delivered", b"\r\n.", b".\r", b"x\xff"])


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=40), st.lists(st.integers(0, 200), max_size=8),
       st.booleans())
def test_same_as_blast(parts, cuts, long_lines):
    data = b"".join(parts) + b"\r\n.\r\n"
    saved = body_module.LONG_LINE
    body_module.LONG_LINE = 4 if long_lines else saved
    try:
        check(data, cuts)
    finally:
        body_module.LONG_LINE = saved
