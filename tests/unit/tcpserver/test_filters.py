"""addcr, delcr, fixcrio conversions (spec/ucspi-tcp.md §5.4): whole, byte by byte, any chunks."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpserver.addcr import addcr
from tcpserver.delcr import CrRemover
from tcpserver.fixcrio import CrFixer


def delcr(data: bytes, step: int | None = None) -> bytes:
    remover = CrRemover()
    step = step or max(len(data), 1)
    out = b"".join(remover(data[i:i + step]) for i in range(0, len(data), step))
    return out + remover.finish()


def fixcr(data: bytes, step: int | None = None) -> bytes:
    fixer = CrFixer()
    step = step or max(len(data), 1)
    return b"".join(fixer(data[i:i + step]) for i in range(0, len(data), step))


CASES = [  # input, addcr, delcr, fixcrio
    (b"a\nb\r\nc\r", b"a\r\nb\r\r\nc\r", b"a\nb\nc\r", b"a\r\nb\r\nc\r"),
    (b"c\r\r\nd\r", b"c\r\r\r\nd\r", b"c\r\nd\r", b"c\r\r\nd\r"),
    (b"\n\n", b"\r\n\r\n", b"\n\n", b"\r\n\r\n"),
    (b"\r\r\r", b"\r\r\r", b"\r\r\r", b"\r\r\r"),
    (b"", b"", b"", b""),
    (b"no newline", b"no newline", b"no newline", b"no newline"),
]


@pytest.mark.parametrize("data, added, deleted, fixed", CASES)
@pytest.mark.parametrize("step", [None, 1])
def test_conversions(data, added, deleted, fixed, step):
    assert addcr(data) == added
    assert delcr(data, step) == deleted
    assert fixcr(data, step) == fixed


CRLF_TEXT = st.lists(st.sampled_from([b"a", b"\r", b"\n"]), max_size=60).map(b"".join)


@settings(max_examples=150, deadline=None)
@given(CRLF_TEXT, st.integers(min_value=1, max_value=7))
def test_chunking_never_matters(data, step):
    assert delcr(data, step) == delcr(data) == data.replace(b"\r\n", b"\n")
    assert fixcr(data, step) == fixcr(data) == data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
