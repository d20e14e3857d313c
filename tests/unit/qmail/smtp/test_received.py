"""The Received line's pieces (spec/qmail.md §2.10.5) and the address helpers (§2.6-§2.9)."""
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmail.smtp.address import host_keys, ip_literal, parse_address, rcpthosts_allows
from qmail.smtp.auth import b64decode, cram_credentials, plain_credentials
from qmail.smtp.received import date822, received_line, safe
from unit.qmail.smtp.c_model import addrparse

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**37))
def test_date822_matches_gmtime(seconds):
    t = time.gmtime(seconds)
    expected = "%d %s %d %02d:%02d:%02d -0000\n" % (t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year,
                                                   t.tm_hour, t.tm_min, t.tm_sec)
    assert date822(seconds) == expected.encode()


def test_received_line_example():
    """The verified example of §2.10.5."""
    line = received_line(b"SMTP", b"mx.local", b"192.0.2.7", b"client.example", b"",
                         b"my_host [1.2.3.4]", 1795553430)
    assert line == (b"Received: from client.example (HELO my?host?[1.2.3.4]) (@192.0.2.7)\n"
                    b"  by mx.local with SMTP; 24 Nov 2026 20:50:30 -0000\n")


def test_safe_keeps_only_the_listed_bytes():
    kept = bytes(c for c in range(256) if safe(bytes([c])) != b"?")
    assert kept == b"%+-./0123456789:=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize("addr, ip", [
    (b"x@[127.0.0.1]", b"\x7f\0\0\1"), (b"x@[383.0.0.257]", b"\x7f\0\0\1"),
    (b"x@[0.0.0.0]", b"\0\0\0\0"), (b"x@[1.2.3]", None), (b"x@[1.2.3.4]]", None),
    (b"x@ [1.2.3.4]", None), (b"x@[1.2.3.4", None), (b"[1.2.3.4]", None),
    (b"x@[1.2.3.4]@y", None), (b"x@[a.2.3.4]", None), (b"x@[1..3.4]", None),
])
def test_ip_literal(addr, ip):
    assert ip_literal(addr) == ip


def test_host_keys_and_rcpthosts():
    assert host_keys(b"u@A.B.Example.COM") == [b"a.b.example.com", b".b.example.com",
                                               b".example.com", b".com"]
    assert host_keys(b"nobody") is None and host_keys(b"u@") == []
    assert rcpthosts_allows(b"u@x.org", None) is True                # no rcpthosts: open relay
    assert rcpthosts_allows(b"u@x.org", frozenset()) is False        # empty: only no-@ ones
    assert rcpthosts_allows(b"u", frozenset()) is True
    assert rcpthosts_allows(b"u@x.org", frozenset(), lambda key: None) is None


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"<", b">", b"@", b":", b" ", b'"', b"\\", b"a", b",", b"x"]),
                max_size=20).map(b"".join))
def test_parse_address_is_addrparse(arg):
    assert parse_address(arg) == addrparse(arg)


@pytest.mark.parametrize("text, decoded", [
    (b"Ym9i", b"bob"), (b"Ym9", b"bo@"), (b"Yg", b"b"), (b"Yg==", b"b"), (b"AGJvYgBzZWNyZXQ=",
     b"\0bob\0secret"), (b"AAAA", b""), (b"Ym9i!", None), (b"Ym 9i", None), (b"", b""),
])
def test_patch_base64_decoder(text, decoded):
    assert b64decode(text) == decoded


def test_credentials():
    assert plain_credentials(b"admin\0bob\0secret") == (b"bob", b"secret")
    assert plain_credentials(b"\0bob") == (b"bob", b"")
    assert plain_credentials(b"bob") == (b"", b"")
    assert cram_credentials(b"bob  abc") == (b"bob ", b"abc")
    assert cram_credentials(b"a b c") == (b"a b", b"c")
    assert cram_credentials(b"bob") == (b"bob", b"")
