"""rules/: the language (§2.2-§2.3), the records (§2.4, §1.9, §3.1), the lookup order (§3)."""
import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.lookup import candidate_keys
from rules.records import Decision, check_lines, compile_rules, decision, encode, records
from rules.syntax import ParseError, Rule, expand_address, parse_line, parse_rules

REPO = Path(__file__).resolve().parents[3]


def keys_of(text: bytes) -> list[bytes]:
    return [key for key, _ in records(parse_rules(text))]


# --- §2.2 line processing ---------------------------------------------------------------------

def test_man_page_example_records():
    text = (b'18.23.0.32:deny\n127.0.0.1:allow,RELAYCLIENT="",TCPLOCALHOST="movie.edu"\n'
            b'10.0.:allow,RELAYCLIENT="@fix.me"\n:allow\n')
    assert list(records(parse_rules(text))) == [
        (b"18.23.0.32", b"D\0"),
        (b"127.0.0.1", b"+RELAYCLIENT=\0+TCPLOCALHOST=movie.edu\0"),
        (b"10.0.", b"+RELAYCLIENT=@fix.me\0"),
        (b"", b""),
    ]


@pytest.mark.parametrize("line", [b"", b"#1.2.3.4:deny", b"# a", b"junk", b"   ", b"\t \t", b"\r",
                                  b"1.2.3.4 allow"])
def test_ignored_lines(line):
    assert parse_line(line) is None


def test_comment_only_in_column_zero():
    assert parse_line(b" # a:allow") == Rule((b" # a",), False, (), 1)


def test_trailing_blanks_stripped_but_not_cr_or_leading():
    assert parse_line(b" 1.2.3.4:allow \t ").keys == (b" 1.2.3.4",)
    with pytest.raises(ParseError) as e:
        parse_line(b"1.2.3.4:allow\r", 7)
    assert (e.value.line, e.value.lineno) == (b"1.2.3.4:allow\r", 7)


def test_crlf_file_fails_at_first_rule_line():
    with pytest.raises(ParseError) as e:
        list(parse_rules(b"# ok\r\n\r\njunk\r\n1.2.3.4:allow\r\n"))
    assert e.value.line == b"1.2.3.4:allow\r" and e.value.lineno == 4


def test_missing_final_newline_still_parsed():
    assert keys_of(b"1.2.3.4:allow\n5.6.7.8:deny") == [b"1.2.3.4", b"5.6.7.8"]


@pytest.mark.parametrize("line", [b"1.2.3.4:allowed", b"1.2.3.4:ALLOW", b"1.2.3.4:deny,",
                                  b"1.2.3.4:allow,", b"1.2.3.4:allow,FOO", b"1.2.3.4:allow,FOO=",
                                  b'1.2.3.4:allow,FOO="bar', b'1.2.3.4:allow,A=""extra',
                                  b"1.2.3.4:allow #comment", b"1.2.3.4: allow", b"a:b:allow",
                                  b"::1:allow", b"x:", b"x:denyx"])
def test_parse_errors(line):
    with pytest.raises(ParseError):
        parse_line(line)


def test_parse_error_text_is_cut_at_nul():
    with pytest.raises(ParseError) as e:
        parse_line(b"bad\0line:allowx")
    assert e.value.line == b"bad"


@pytest.mark.parametrize("instructions, env", [
    (b'allow,A="1"', ((b"A", b"1"),)),
    (b"allow,A=/x/", ((b"A", b"x"),)),
    (b"allow,A=,y,", ((b"A", b"y"),)),
    (b"allow,A===", ((b"A", b""),)),
    (b"allow,A=xax", ((b"A", b"a"),)),
    (b'allow,B C="x "', ((b"B C", b"x "),)),
    (b'allow,="v"', ((b"", b"v"),)),
    (b'allow,A="1",A="2"', ((b"A", b"1"), (b"A", b"2"))),
    (b'allow,A="x\0y"', ((b"A", b"x\0y"),)),
    (b'allow,A="\xe9"', ((b"A", b"\xe9"),)),
])
def test_assignments(instructions, env):
    assert parse_line(b"k:" + instructions).env == env


def test_deny_may_carry_assignments():
    rule = parse_line(b'1.2.3.4:deny,A="1"')
    assert rule.deny and encode(rule) == b"D\0+A=1\0"


def test_long_lines():
    rule = parse_line(b"k" * 100_000 + b':allow,V="' + b"v" * 1_000_000 + b'"')
    assert len(rule.keys[0]) == 100_000 and len(rule.env[0][1]) == 1_000_000


def test_bom_becomes_part_of_first_key():
    assert keys_of(b"\xef\xbb\xbf1.2.3.4:allow\n") == [b"\xef\xbb\xbf1.2.3.4"]


# --- §2.3 ranges --------------------------------------------------------------------------------

@pytest.mark.parametrize("address, keys", [
    (b"1.2.3.04-06", [b"1.2.3.4", b"1.2.3.5", b"1.2.3.6"]),
    (b"1-2.3-4.5.6", [b"1.3-4.5.6", b"2.3-4.5.6"]),
    (b"10.2-3.", [b"10.2.", b"10.3."]),
    (b"1.2.3.4-5.6", [b"1.2.3.4.6", b"1.2.3.5.6"]),
    (b"1.2-3", [b"1.2", b"1.3"]),
    (b"-3", [b"0", b"1", b"2", b"3"]),
    (b"1.2.3.-2", [b"1.2.3.0", b"1.2.3.1", b"1.2.3.2"]),
    (b"1.2.3.253-300", [b"1.2.3.253", b"1.2.3.254", b"1.2.3.255"]),
    (b"1.2.3.7-5", []),
    (b"1.2.3.5-", []),
    (b"1.2.3.300-301", []),
    (b"=foo-bar.com", [b"=foo-bar.com"]),
    (b"joe-x@1.2.3.4", [b"joe-x@1.2.3.4"]),
    (b"1.2.3.0/24", [b"1.2.3.0/24"]),
])
def test_range_expansion(address, keys):
    assert list(expand_address(address)) == keys


@pytest.mark.parametrize("address", [b"foo-bar", b"1.2.3.a-5", b"1.2.3.4-5 ", b"1.2.3.4--5"])
def test_bad_ranges(address):
    with pytest.raises(ParseError):
        expand_address(address)


def test_range_bound_wraps_like_scan_ulong():
    assert expand_address(b"1.%d-2" % (2**64 + 1)) == (b"1.1", b"1.2")


def test_duplicate_keys_all_stored_in_order():
    assert list(records(parse_rules(b"1.2.3.4:deny\n1.2.3.4:allow\n"))) == [
        (b"1.2.3.4", b"D\0"), (b"1.2.3.4", b"")]


# --- §1.9 / §3.1 records ----------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (b"", Decision(False, ())),
    (b"D\0", Decision(True, ())),
    (b"D", Decision(False, ())),                            # no NUL: ignored, allows
    (b"+A=1\0D\0", Decision(True, ((b"A", b"1"),))),        # a D anywhere denies
    (b"+A=1\0+A=2\0", Decision(False, ((b"A", b"1"), (b"A", b"2")))),
    (b"+NAME\0+B=\0", Decision(False, ((b"B", b""),))),     # no "=": ignored
    (b"xjunk\0+C=3\0+D=4", Decision(False, ((b"C", b"3"),))),
    (b"+A=x\0y\0", Decision(False, ((b"A", b"x"),))),
    (b"Dx\0", Decision(True, ())),
])
def test_decision(data, expected):
    assert decision(data) == expected


def test_check_lines():
    assert check_lines(None, b"") == b"default:\nallow connection\n"
    assert check_lines(b"", b"") == b"rule :\nallow connection\n"
    assert check_lines(b"127.0.0.", b"+WHO=127.0.0.\0+NAME\0+E=\0") == (
        b"rule 127.0.0.:\nset environment variable WHO=127.0.0.\n"
        b"set environment variable NAME\nset environment variable E=\nallow connection\n")
    assert check_lines(b"=.org", b"+A=1\0D\0+B=2\0") == (
        b"rule =.org:\nset environment variable A=1\ndeny connection\n")
    assert check_lines(b"k", b"?x\0+A=1") == b"rule k:\nallow connection\n"


# --- §3 lookup order --------------------------------------------------------------------------

def test_lookup_order_all_set():
    assert list(candidate_keys(b"127.0.0.2", b"a.b.example.com", b"joe")) == [
        b"joe@127.0.0.2", b"joe@=a.b.example.com", b"127.0.0.2", b"=a.b.example.com",
        b"127.0.0.", b"127.0.", b"127.", b"=.b.example.com", b"=.example.com", b"=.com",
        b"=", b""]


def test_lookup_order_ip_only():
    assert list(candidate_keys(b"10.1.2.3", None, None)) == [
        b"10.1.2.3", b"10.1.2.", b"10.1.", b"10.", b""]


def test_lookup_empty_info_and_host_count_as_set():
    assert list(candidate_keys(b"1.2", b"", b"")) == [b"@1.2", b"@=", b"1.2", b"=", b"1.", b"=", b""]


def test_lookup_trailing_dot_host():
    assert list(candidate_keys(b"9", b"a.c.net.", None))[-3:] == [b"=.", b"=", b""]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=20), st.one_of(st.none(), st.binary(max_size=20)),
       st.one_of(st.none(), st.binary(max_size=8)))
def test_lookup_always_ends_with_default(ip, host, info):
    keys = list(candidate_keys(ip, host, info))
    assert keys[-1] == b"" and (ip in keys)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parser_raises_only_parse_error(text):
    try:
        list(records(parse_rules(text)))
    except ParseError:
        pass


def _outcome(produce):
    try:
        return list(produce()), None
    except ParseError as e:
        return None, (e.line, e.lineno)


_RULE_BYTES = st.sampled_from([b"1", b"2", b".", b"-", b":", b",", b"=", b'"', b"#", b"\n",
                               b"allow", b"deny", b"X", b" ", b"\t", b"\r", b"@", b"\0"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(_RULE_BYTES, st.binary(max_size=4)), max_size=60).map(b"".join))
def test_compile_rules_is_records_of_parse_rules(text):
    """tcprules' one-pass compiler gives exactly the pairs, or the ParseError, of the
    readable two-step version, also when instruction texts repeat."""
    doubled = text + b"\n" + text
    for t in (text, doubled):
        assert _outcome(lambda: compile_rules(t)) == _outcome(lambda: records(parse_rules(t)))


# --- style: the library is pure but for cdb.py ------------------------------------------------

@pytest.mark.parametrize("module", ["syntax", "records", "lookup", "errors"])
def test_pure_modules_do_no_io(module):
    tree = ast.parse((REPO / "rules" / f"{module}.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert not imported & {"os", "socket", "select", "time", "subprocess", "cdblib", "io"}
