"""Rule <-> cdb record data (spec/ucspi-tcp.md §1.9, §2.4, §3.1). Pure.

Record data is a sequence of NUL-terminated entries: `D` denies, `+NAME=VALUE` sets a variable.
"""
from collections import namedtuple
from collections.abc import Iterator

from rules.syntax import expand_address, parse_instructions

# a namedtuple rather than a frozen dataclass: see rules.syntax.Rule
Decision = namedtuple("Decision", "deny env")
Decision.__doc__ = """What tcpserver does with a matched record: deny, or allow with these (NAME, VALUE) in order."""


ALLOW = Decision(False, ())


def encode(rule) -> bytes:
    """The data stored for every key of RULE (§2.4)."""
    return _encode(rule.deny, rule.env)


def _encode(deny: bool, env) -> bytes:
    data = b"D\0" if deny else b""
    for name, value in env:
        data += b"+" + name + b"=" + value + b"\0"
    return data


def records(rules) -> Iterator[tuple[bytes, bytes]]:
    """(key, data) in input order, one per key of each rule: what tcprules adds to the cdb."""
    for rule in rules:
        data = encode(rule)
        for key in rule.keys:
            yield key, data


def compile_rules(text: bytes) -> Iterator[tuple[bytes, bytes]]:
    """records(parse_rules(TEXT)), the same pairs and the same ParseError, in one pass that
    parses each distinct instruction text once (a rules file repeats a few of them: `allow`,
    `deny`, `allow,RELAYCLIENT=""`): what tcprules runs, at about 0.5 us a line."""
    known: dict[bytes, bytes] = {}          # instructions -> record data
    lines = text.split(b"\n")
    if lines[-1] == b"":
        lines.pop()                         # the text ended with a newline
    for lineno, line in enumerate(lines, 1):
        if not line or line[0] == 0x23:     # see syntax.parse_line, which this inlines
            continue
        line = line.rstrip(b" \t\n")
        address, colon, instructions = line.partition(b":")
        if not colon:
            continue
        data = known.get(instructions)
        if data is None:
            data = known[instructions] = _encode(*parse_instructions(instructions, line, lineno))
        if b"-" in address:
            for key in expand_address(address, line, lineno):
                yield key, data
        else:
            yield address, data


def entries(data: bytes) -> Iterator[bytes]:
    """The NUL-terminated entries of record data; trailing bytes without a NUL are dropped."""
    parts = data.split(b"\0")
    parts.pop()
    return iter(parts)


def decision(data: bytes) -> Decision:
    """tcpserver's reading (§1.9): any `D...` entry denies; `+NAME=VALUE` sets; the rest is ignored."""
    deny = False
    env = []
    for entry in entries(data):
        if entry[:1] == b"D":
            deny = True
        elif entry[:1] == b"+":
            name, equals, value = entry[1:].partition(b"=")
            if equals:
                env.append((name, value))
    return Decision(deny, tuple(env))


def check_lines(key: bytes | None, data: bytes) -> bytes:
    """tcprulescheck's output for a matched KEY (None: no rule matched) (§3.1)."""
    if key is None:
        return b"default:\nallow connection\n"
    out = [b"rule %s:\n" % key]
    for entry in entries(data):
        if entry[:1] == b"D":
            out.append(b"deny connection\n")
            return b"".join(out)
        if entry[:1] == b"+":
            out.append(b"set environment variable %s\n" % entry[1:])
    out.append(b"allow connection\n")
    return b"".join(out)
