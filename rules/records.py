"""Rule <-> cdb record data (spec/ucspi-tcp.md §1.9, §2.4, §3.1). Pure.

Record data is a sequence of NUL-terminated entries: `D` denies, `+NAME=VALUE` sets a variable.
"""
from collections.abc import Iterator
from dataclasses import dataclass

from rules.syntax import Rule


@dataclass(frozen=True, slots=True)
class Decision:
    """What tcpserver does with a matched record: deny, or allow with these variables in order."""
    deny: bool
    env: tuple[tuple[bytes, bytes], ...]


ALLOW = Decision(False, ())


def encode(rule: Rule) -> bytes:
    """The data stored for every key of RULE (§2.4)."""
    data = b"D\0" if rule.deny else b""
    return data + b"".join(b"+%s=%s\0" % pair for pair in rule.env)


def records(rules) -> Iterator[tuple[bytes, bytes]]:
    """(key, data) in input order, one per key of each rule: what tcprules adds to the cdb."""
    for rule in rules:
        data = encode(rule)
        for key in rule.keys:
            yield key, data


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
