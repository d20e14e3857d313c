"""The program's environment in the C update order (spec/ucspi-tcp.md §1.7)."""
from hypothesis import given, settings, strategies as st

from tcpserver.environ import TCP_NAMES, Template, apply_updates, as_mapping, tcp_updates

INHERITED = [b"PATH=/bin", b"DNSCACHEIP=127.0.0.1", b"AAA=1", b"TCPREMOTEHOST=stale",
             b"PROTO=OLD", b"TCPREMOTEINFO=stale2", b"ZZZ=z"]


def names(entries):
    return [e.partition(b"=")[0] for e in entries]


def test_spec_example_order():
    # -H -R -l mylocal (§1.7)
    updates = tcp_updates(b"127.0.0.1", b"25", b"mylocal", b"127.0.0.3", b"4000", None, None)
    out = apply_updates(INHERITED, updates)
    assert names(out) == [b"PATH", b"DNSCACHEIP", b"AAA", b"TCPREMOTEPORT", b"ZZZ",
                          b"TCPREMOTEIP", b"PROTO", b"TCPLOCALIP", b"TCPLOCALPORT",
                          b"TCPLOCALHOST"]
    assert b"PROTO=TCP" in out and b"TCPLOCALHOST=mylocal" in out


def test_rule_variables_override_and_last_wins():
    base = apply_updates([b"A=1"], tcp_updates(b"1.2.3.4", b"25", None, b"5.6.7.8", b"9",
                                               None, None))
    out = apply_updates(base, [(b"PROTO", b"X"), (b"W", b"1"), (b"W", b"2")])
    assert b"PROTO=X" in out and b"PROTO=TCP" not in out
    assert [e for e in out if e.startswith(b"W=")] == [b"W=2"]


def test_empty_name_and_removal_of_first_duplicate_only():
    out = apply_updates([b"X=1", b"Y=2", b"X=3"], [(b"X", None), (b"", b"v")])
    assert out == [b"X=3", b"Y=2", b"=v"]


def test_entries_without_equals_never_match():
    assert apply_updates([b"PROTO", b"A=1"], [(b"PROTO", b"TCP")]) == [b"PROTO", b"A=1",
                                                                      b"PROTO=TCP"]


values = st.one_of(st.none(), st.binary(max_size=5).filter(lambda v: b"\0" not in v))
name = st.sampled_from([b"PROTO", b"TCPLOCALHOST", b"TCPREMOTEHOST", b"TCPREMOTEINFO",
                        b"PATH", b"A", b"TCPLOCALIP"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(name, st.binary(max_size=3)), max_size=8),
       st.lists(values, min_size=8, max_size=8))
def test_template_equals_the_literal_algorithm(inherited, tcp_values):
    environ = [n + b"=" + v for n, v in inherited]
    template = Template(environ)
    tcp_values = [b"TCP" if v is None and i in (0, 1, 2, 4, 5) else v
                  for i, v in enumerate(tcp_values)]
    expected = apply_updates(environ, list(zip(TCP_NAMES, tcp_values)))
    assert template.entries(tcp_values) == expected
    assert template.entries(tcp_values) == expected      # the cached layout too
    assert template.mapping(tcp_values) == as_mapping(expected)
    if template.mapping(tcp_values) is not None:
        assert list(template.mapping(tcp_values)) == list(as_mapping(expected))


def test_as_mapping():
    assert as_mapping([b"A=1", b"B=x=y"]) == {b"A": b"1", b"B": b"x=y"}
    assert list(as_mapping([b"Z=1", b"A=2"])) == [b"Z", b"A"]
    for bad in ([b"A=1", b"A=2"], [b"=v"], [b"NOEQUALS"]):
        assert as_mapping(bad) is None
