"""splogger's pure core (spec/qmail.md §7): bytes in, syslog messages out."""
import pytest
from hypothesis import given, settings, strategies as st

from qmail.splogger import (LOG_ALERT, LOG_INFO, LOG_MAIL, LOG_USER, LOG_WARNING, Message,
                            Splogger, facility_code, sanitise, stamp)

NOW = 1795553519_049761_000          # ns
STAMP = b"1795553519.049761"


def feed_whole(data: bytes, now: int = NOW) -> list[Message]:
    return list(Splogger().receive_data(data, now))


def feed_bytewise(data: bytes, now: int = NOW) -> list[Message]:
    core = Splogger()
    return [m for i in range(len(data)) for m in core.receive_data(data[i:i + 1], now)]


FEEDS = [feed_whole, feed_bytewise]

TRANSCRIPTS = [
    (b"hello world\n", [Message(LOG_INFO, STAMP + b" hello world")]),
    (b"warning: disk\n", [Message(LOG_WARNING, STAMP + b" warning: disk")]),
    (b"alert: oops\n", [Message(LOG_ALERT, STAMP + b" alert: oops")]),
    (b"Warning: x\n", [Message(LOG_INFO, STAMP + b" Warning: x")]),          # case-sensitive
    (b" warning: x\n", [Message(LOG_INFO, STAMP + b"  warning: x")]),
    (b"\n\n\n", []),                                                          # empty lines
    (b"a\tb\rc\x00d\x7fe\xe9f~ \n", [Message(LOG_INFO, STAMP + b" a?b?c?d?e?f~ ")]),
    (b"one\ntwo\n", [Message(LOG_INFO, STAMP + b" one"), Message(LOG_INFO, STAMP + b" two")]),
    (b"done\nno newline", [Message(LOG_INFO, STAMP + b" done")]),            # last line dropped
    (b"x" * 799 + b"\n", [Message(LOG_INFO, STAMP + b" " + b"x" * 799)]),
    (b"warning:" + b"x" * 791 + b"yz\n", [
        Message(LOG_WARNING, STAMP + b" warning:" + b"x" * 791),
        Message(LOG_WARNING, STAMP + b"+yz")]),
    (b"A" * 1598 + b"\n", [
        Message(LOG_INFO, STAMP + b" " + b"A" * 799),
        Message(LOG_INFO, STAMP + b"+" + b"A" * 799)]),
    (b"A" * 1599 + b"\nB\n", [
        Message(LOG_INFO, STAMP + b" " + b"A" * 799),
        Message(LOG_INFO, STAMP + b"+" + b"A" * 799),
        Message(LOG_INFO, STAMP + b"+A"),
        Message(LOG_INFO, STAMP + b" B")]),
    # An unterminated line longer than 799 bytes: the chunk cut at the 800th byte is logged.
    (b"C" * 800, [Message(LOG_INFO, STAMP + b" " + b"C" * 799)]),
    (b"C" * 799, []),
]


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize("data,expected", TRANSCRIPTS)
def test_transcript(feed, data, expected):
    assert feed(data) == expected


def test_stamp_is_taken_when_the_line_is_logged_not_when_it_starts():
    core = Splogger()
    assert list(core.receive_data(b"hel", 1_000_000_000_000_000_000)) == []
    assert list(core.receive_data(b"lo\n", 1_500_000_001_000_002_999)) == [
        Message(LOG_INFO, b"1500000001.000002 hello")]


def test_continuation_chunks_keep_the_first_chunks_stamp_and_priority():
    core = Splogger()
    first = list(core.receive_data(b"alert:" + b"z" * 800, 2_000_000_000_000_000_000))
    rest = list(core.receive_data(b"tail\nnext\n", 3_000_000_000_123_456_000))
    assert first == [Message(LOG_ALERT, b"2000000000.000000 alert:" + b"z" * 793)]
    assert rest == [Message(LOG_ALERT, b"2000000000.000000+zzzzzzztail"),
                    Message(LOG_INFO, b"3000000000.123456 next")]


def test_stamp_pads_microseconds_to_six_digits():
    assert stamp(1_000_000_000) == b"1.000000"
    assert stamp(1795553519_000_007_999) == b"1795553519.000007"


@pytest.mark.parametrize("arg,code", [
    (None, LOG_MAIL), (b"2", LOG_MAIL), (b"3", 3 << 3), (b"16", 16 << 3), (b"23", 23 << 3),
    (b"0", LOG_USER), (b"mail", LOG_USER), (b"", LOG_USER), (b"3x", 3 << 3),
    (b"127", 127 << 3), (b"128", LOG_USER), (b"4294967296", LOG_USER),
])
def test_facility_is_the_number_shifted_left_by_three(arg, code):
    assert facility_code(arg) == code


def test_sanitise_keeps_exactly_the_printable_ascii():
    everything = bytes(range(256))
    assert sanitise(everything) == b"?" * 32 + bytes(range(32, 127)) + b"?" * 129


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 900), max_size=10))
def test_any_split_of_the_input_gives_the_same_messages(data, cuts):
    core = Splogger()
    got, pos = [], 0
    for cut in cuts + [len(data)]:
        got += core.receive_data(data[pos:pos + cut], NOW)
        pos += cut
    got += core.receive_data(data[pos:], NOW)
    assert got == feed_whole(data)
    for m in got:
        body = m.text[len(STAMP) + 1:]
        assert 0 < len(body) <= 799 and body == sanitise(body)
