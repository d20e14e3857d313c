"""tcpserver.dns: the pure parts of djb's client library (spec/ucspi-tcp.md §1.11)."""
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpserver import dns


# ------------------------------------------------------------------ names as text

@pytest.mark.parametrize("labels, text", [
    ((b"Weird Name:with%colon", b"EXAMPLE", b"com"),
     b"weird\\040name\\072with\\045colon.example.com"),                     # §1.11 example
    ((b"a\tb", b"back\\slash"), b"a\\011b.back\\134slash"),
    ((b"Mail-1_x", b"Example", b"ORG"), b"mail-1_x.example.org"),
    ((b"\xff\x00",), b"\\377\\000"),
    ((b"dot.inside",), b"dot\\056inside"),
    ((), b"."),                                                             # the root
])
def test_domain_todot(labels, text):
    assert dns.domain_todot(labels) == text


@pytest.mark.parametrize("text, labels", [
    (b"weird\\040name\\072with\\045colon.example.com",
     (b"weird name:with%colon", b"example", b"com")),
    (b"Host.Example.", (b"Host", b"Example")),          # trailing dot and case kept
    (b"a..b", (b"a", b"b")),                             # empty labels vanish
    (b".", ()),
    (b"", ()),
    (b"\\x\\1\\12\\1234", (b"x\x01\x0a\x534",)),         # 1-3 octal digits, then literal
    (b"end\\", (b"end",)),                               # a lone final backslash is dropped
])
def test_domain_fromdot(text, labels):
    assert dns.domain_fromdot(text) == labels


def test_domain_fromdot_limits():
    assert dns.domain_fromdot(b"a" * 63) == (b"a" * 63,)
    with pytest.raises(dns.DnsError):
        dns.domain_fromdot(b"a" * 64)
    assert len(dns.domain_fromdot(b".".join([b"a" * 62] * 4))) == 4     # 252 bytes on the wire
    with pytest.raises(dns.DnsError):
        dns.domain_fromdot(b".".join([b"a" * 63] * 4))                   # 256


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=5))
def test_todot_fromdot_round_trip_lowercases(labels):
    text = dns.domain_todot(labels)
    assert all(32 < c < 127 for c in text)
    assert dns.domain_fromdot(text) == tuple(
        bytes(c + 32 if 65 <= c <= 90 else c for c in label) for label in labels)


def test_reverse_labels():
    assert dns.reverse_labels("127.0.0.5") == (b"5", b"0", b"0", b"127", b"in-addr", b"arpa")


# ------------------------------------------------------------------ addresses

@pytest.mark.parametrize("text, result", [
    (b"127.0.0.1", ("127.0.0.1", 9)),
    (b"1.2.3.4x", ("1.2.3.4", 7)),
    (b"256.0.0.300", ("0.0.0.44", 11)),           # stored in a char
    (b"01.002.3.4", ("1.2.3.4", 10)),
    (b"1.2.3", ("", 0)),
    (b"1.2.3.", ("", 0)),
    (b"", ("", 0)),
])
def test_ip4_scan(text, result):
    assert dns.ip4_scan(text) == result


@pytest.mark.parametrize("value, servers", [
    (b"127.0.0.1", ["127.0.0.1"]),
    (b"127.0.0.1.10.0.0.2", ["127.0.0.1", "10.0.0.2"]),     # dots separate
    (b"..127.0.0.1", ["127.0.0.1"]),
    (b"127.0.0.1 10.0.0.2", ["127.0.0.1"]),                 # anything else stops
    (b"127.0.0.1,10.0.0.2", ["127.0.0.1"]),
    (b"junk", []),
    (b"", []),
    (b".".join([b"10.0.0.%d" % i for i in range(20)]), ["10.0.0.%d" % i for i in range(16)]),
])
def test_parse_dnscacheip(value, servers):
    assert dns.parse_dnscacheip(value) == servers


def test_parse_resolv_conf():
    data = (b"# comment\nnameserver 10.0.0.1\nnameserver\t \t10.0.0.2 # x\n"
            b" nameserver 10.0.0.3\nnameservers 10.0.0.4\nnameserver bogus\n"
            b"search example.org\nnameserver 10.0.0.5")
    assert dns.parse_resolv_conf(data) == ["10.0.0.1", "10.0.0.2", "10.0.0.5"]


@pytest.mark.parametrize("name, addresses", [
    (b"127.0.0.1", ["127.0.0.1"]),
    (b"[10.1.2.3]", ["10.1.2.3"]),
    (b"1.2.3.4.5.6.7.8", ["1.2.3.4", "5.6.7.8"]),
    (b"1.2.3.4.5", ["1.2.3.4"]),
    (b"1.2", []),
    (b"1.2.3.400", ["1.2.3.144"]),
    (b"host.example", None),
])
def test_literal_addresses_need_no_query(name, addresses):
    assert dns._literal_ip4(name) == addresses


# ------------------------------------------------------------------ qualification rules

def _reader(files):
    return lambda path: files.get(path)


def test_rewrite_rules_from_resolv_conf_search():
    files = {b"/etc/resolv.conf": b"nameserver 1.2.3.4\nsearch a.example\tb.example \n"}
    rules = dns.rewrite_rules({}, _reader(files), b"box")
    assert rules == [b"?:+.a.example+.b.example", b"*.:"]


def test_rewrite_rules_localdomain_beats_resolv_conf():
    files = {b"/etc/resolv.conf": b"search a.example\n"}
    rules = dns.rewrite_rules({b"LOCALDOMAIN": b"x.test y.test"}, _reader(files), b"box")
    assert rules == [b"?:+.x.test+.y.test", b"*.:"]


def test_rewrite_rules_from_hostname_and_rewrite_file():
    assert dns.rewrite_rules({}, _reader({}), b"box.example.org") == [b"?:.example.org", b"*.:"]
    assert dns.rewrite_rules({}, _reader({}), b"box") == [b"*.:"]
    files = {b"/tmp/rw": b"=short:long.example \r\n-x:y\n"}
    assert dns.rewrite_rules({b"DNSREWRITEFILE": b"/tmp/rw"}, _reader(files), b"box") == [
        b"=short:long.example", b"-x:y", b""]


@pytest.mark.parametrize("name, rules, tried", [
    (b"mail", [b"?:+.a.example+.b.example", b"*.:"], [b"mail.a.example", b"mail.b.example"]),
    (b"mail.example.", [b"?:+.a.example", b"*.:"], [b"mail.example"]),
    (b"mail", [b"*.:"], [b"mail"]),
    (b"short", [b"=short:long.example"], [b"long.example"]),
    (b"notshort", [b"=short:long.example"], [b"notshort"]),
    (b"a.b.X", [b"*.x:.y"], [b"a.b.y"]),                  # suffix compared ignoring case
    (b"anything", [b"-thing:other"], [b"other"]),
    (b"[1.2.3.4]", [b"?:+.a.example"], [b"[1.2.3.4]"]),
])
def test_qualify(name, rules, tried):
    assert dns.qualify(name, rules) == tried


# ------------------------------------------------------------------ import cost

def test_importing_dns_does_not_load_dnspython():
    code = "import sys, tcpserver.dns; print(any(m.split('.')[0] == 'dns' for m in sys.modules))"
    out = subprocess.check_output([sys.executable, "-c", code], text=True)
    assert out.strip() == "False"
