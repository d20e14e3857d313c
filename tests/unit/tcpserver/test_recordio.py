"""recordio's log format (spec/ucspi-tcp.md §5.3): one read in, exact log lines out."""
import pytest

from tcpserver.recordio import record


@pytest.mark.parametrize("data, log", [
    (b"abc\n", b"7 < abc \n"),
    (b"abc", b"7 < abc+\n"),
    (b"abc\nxyz", b"7 < abc \n7 < xyz+\n"),
    (b"\n\n", b"7 <  \n7 <  \n"),
    (b"a\r\n", b"7 < a\r \n"),
    (b"\x00\xff\n", b"7 < \x00\xff \n"),                    # bytes are not escaped
    (b"x" * 256, b"7 < " + b"x" * 256 + b"+\n"),
])
def test_record_input(data, log):
    assert record(b"7", b" < ", data) == log


def test_record_output_direction():
    assert record(b"12345", b" > ", b"hello\nwor") == b"12345 > hello \n12345 > wor+\n"
