"""RETR/TOP byte format (spec/qmail.md §6.3): whole and chunked input give the same bytes."""
import pytest
from hypothesis import given, settings, strategies as st

from qmail.pop3.stuffing import blast

CASES = [
    # (stored, body_lines, sent)
    (b"", None, b"\r\n.\r\n"),
    (b"\n", None, b"\r\n\r\n.\r\n"),
    (b"a", None, b"a\r\n\r\n.\r\n"),
    (b"a\nb\n", None, b"a\r\nb\r\n\r\n.\r\n"),
    (b".\n", None, b"..\r\n\r\n.\r\n"),
    (b".a\n..b\n\n.", None, b"..a\r\n...b\r\n\r\n..\r\n\r\n.\r\n"),
    (b"a\r\nb\r\n", None, b"a\r\r\nb\r\r\n\r\n.\r\n"),          # stored CRs go out as they are
    (b" .x\n\r.y\n", None, b" .x\r\n\r.y\r\n\r\n.\r\n"),
    (b"H: 1\n\nb1\nb2\nb3\n", 0, b"H: 1\r\n\r\n\r\n.\r\n"),
    (b"H: 1\n\nb1\nb2\nb3\n", 2, b"H: 1\r\n\r\nb1\r\nb2\r\n\r\n.\r\n"),
    (b"H: 1\n\nb1\nb2\nb3\n", 9, b"H: 1\r\n\r\nb1\r\nb2\r\nb3\r\n\r\n.\r\n"),
    (b"H: 1\n\n\n\nb\n", 1, b"H: 1\r\n\r\n\r\n\r\n.\r\n"),       # empty body lines count
    (b"H: 1\nH: 2", 0, b"H: 1\r\nH: 2\r\n\r\n.\r\n"),           # no body at all
    (b"H: 1\n\n.b1\nb2", 5, b"H: 1\r\n\r\n..b1\r\nb2\r\n\r\n.\r\n"),
    (b"\nbody\n", 0, b"\r\n\r\n.\r\n"),                          # empty header
    (b"H: 1\r\n\r\nb1\r\nb2\r\n", 0,                               # a stored CR LF line is
     b"H: 1\r\r\n\r\r\nb1\r\r\nb2\r\r\n\r\n.\r\n"),                 # not the blank line
    (b"H: 1\n\n.\n..\n", 1, b"H: 1\r\n\r\n..\r\n\r\n.\r\n"),
    (b"H: 1\n\nb1\n", 1, b"H: 1\r\n\r\nb1\r\n\r\n.\r\n"),
    (b"H: 1\n\n", 3, b"H: 1\r\n\r\n\r\n.\r\n"),
]


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 1 << 16])
@pytest.mark.parametrize("stored, body_lines, sent", CASES)
def test_blast(stored, body_lines, sent, size):
    assert b"".join(blast(chunked(stored, size), body_lines)) == sent


def reference(stored: bytes, limit: int) -> bytes:
    """qmail-pop3d.c's blast(), line by line, with limit = k + 1 (0: no limit)."""
    out = []
    lines = stored.split(b"\n")
    in_headers = True
    for n, line in enumerate(lines):
        match = n < len(lines) - 1
        if not match and not line:
            break
        if limit and not in_headers:
            limit -= 1
            if not limit:
                break
        if not line:
            in_headers = False
        elif line.startswith(b"."):
            out.append(b".")
        out.append(line + b"\r\n")
        if not match:
            break
    return b"".join(out) + b"\r\n.\r\n"


MESSAGE_BYTES = st.lists(st.sampled_from([b"\n", b".", b"\r", b"a", b"..", b"\n.", b"\n\n"]),
                         max_size=40).map(b"".join) | st.binary(max_size=200)


@settings(max_examples=300, deadline=None)
@given(stored=MESSAGE_BYTES, size=st.integers(1, 17), k=st.none() | st.integers(0, 6))
def test_blast_matches_the_c_loop(stored, size, k):
    sent = b"".join(blast(chunked(stored, size), k))
    assert sent == reference(stored, 0 if k is None else k + 1)
