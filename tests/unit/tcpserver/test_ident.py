"""tcpserver.ident: the IDENT reply parser (spec/ucspi-tcp.md §1.10), whole and byte by byte."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpserver import ident

REPLIES = [
    (b"37520 , 34753 : USERID : UNIX : joe\r\n", b"joe"),
    (b"1 , 2 : USERID : UNIX : joe smith\t x\r\n", b"joesmithx"),
    (b"1 , 2 : USERID : UNIX,UTF-8 : a:b%c\x01\xff\r\n", b"a:b%c\x01\xff"),
    (b"1 , 2 : ERROR : NO-USER\r\n", b""),                  # fewer than 3 colons: set, empty
    (b"\n", b""),
    (b"1,2:USERID:UNIX:\n", b""),
    (b"1 , 2 : USERID : UNIX : joe\nignored", b"joe"),
    (b"a:b:c:" + b"x" * 300, b"x" * 257),                      # cut at 257, no newline needed
    (b"a:b:c:" + b"y" * 256 + b"\n", b"y" * 256),
]


@pytest.mark.parametrize("reply, info", REPLIES)
def test_reply_whole(reply, info):
    assert ident.parse_reply(reply) == info


@pytest.mark.parametrize("reply, info", REPLIES)
def test_reply_byte_by_byte(reply, info):
    parser = ident.IdentReply()
    for i in range(len(reply)):
        parser.feed(reply[i:i + 1])
    assert parser.info == info


@pytest.mark.parametrize("reply", [b"", b"1 , 2 : USERID : UNIX : joe", b"a:b:c:" + b"x" * 256])
def test_unfinished_reply_is_unset(reply):
    assert ident.parse_reply(reply) is None


def test_request_puts_the_remote_port_first():
    assert ident.request(37520, 34753) == b"37520 , 34753\r\n"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
def test_chunking_never_changes_the_result(reply, step):
    parser = ident.IdentReply()
    for i in range(0, len(reply), step):
        parser.feed(reply[i:i + step])
    assert parser.info == ident.parse_reply(reply)
    if parser.info is not None:
        assert len(parser.info) <= ident.MAX_INFO
        assert not set(parser.info) & set(b" \t\r\n")
