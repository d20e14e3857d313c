"""Rules text -> Rule(keys, deny, env, lineno): the language of tcprules (spec/ucspi-tcp.md §2.2-§2.3).

Pure: bytes in, rules out. A line the C tcprules rejects raises ParseError carrying the text the C
program prints (the line with trailing spaces/tabs/newlines removed, cut at its first NUL).
"""
from collections import namedtuple
from collections.abc import Iterator

_ULONG = 1 << 64            # djb's scan_ulong wraps silently
_DECIMAL = [b"%d" % n for n in range(256)]     # a range's numbers never exceed 255


class ParseError(Exception):
    def __init__(self, line: bytes, lineno: int) -> None:
        super().__init__(line)
        self.line = line.split(b"\0", 1)[0]     # printed as a C string
        self.lineno = lineno


# An immutable value like our frozen dataclasses, but a namedtuple: `dataclasses` costs 11 ms
# to import and a frozen __init__ 1 us per rule, both paid by tcprules and every tcpserver.
Rule = namedtuple("Rule", "keys deny env lineno")
Rule.__doc__ = """A rules line: its keys (ranges expanded), deny or allow, (NAME, VALUE) pairs, line number."""


def parse_rules(text: bytes) -> Iterator[Rule]:
    """Every rule of a rules text, in order; raises ParseError at the first bad line (§2.2)."""
    lines = text.split(b"\n")
    if lines[-1] == b"":
        lines.pop()                 # the text ended with a newline
    for lineno, line in enumerate(lines, 1):
        rule = parse_line(line, lineno)
        if rule is not None:
            yield rule


def parse_line(line: bytes, lineno: int = 1) -> Rule | None:
    """One line without its newline -> Rule, or None for blank/comment/colon-less lines."""
    if not line or line[0] == 0x23:                     # empty, or "#" in column 0
        return None
    line = line.rstrip(b" \t\n")
    address, colon, instructions = line.partition(b":")
    if not colon:
        return None                                     # silently ignored (§4.2)
    deny, env = parse_instructions(instructions, line, lineno)
    if b"-" in address:
        return Rule(expand_address(address, line, lineno), deny, env, lineno)
    return Rule((address,), deny, env, lineno)


def parse_instructions(instructions: bytes, line: bytes = b"", lineno: int = 1) \
        -> tuple[bool, tuple[tuple[bytes, bytes], ...]]:
    """What follows the first colon -> (deny, (NAME, VALUE) pairs); ParseError names LINE."""
    if instructions[:5] == b"allow":
        deny, rest = False, instructions[5:]
    elif instructions[:4] == b"deny":
        deny, rest = True, instructions[4:]
    else:
        raise ParseError(line, lineno)
    return deny, _parse_assignments(rest, line, lineno) if rest else ()


def _parse_assignments(rest: bytes, line: bytes, lineno: int) -> tuple[tuple[bytes, bytes], ...]:
    env = []
    pos, size, find = 0, len(rest), rest.find
    while pos < size:
        # ",NAME=" then a delimiter byte D, the value, and the next D (§2.2 item 5)
        equals = find(b"=", pos)
        if rest[pos] != 0x2C or equals < 0 or equals + 1 >= size:
            raise ParseError(line, lineno)
        end = find(rest[equals + 1:equals + 2], equals + 2)
        if end < 0:
            raise ParseError(line, lineno)
        env.append((rest[pos + 1:equals], rest[equals + 2:end]))
        pos = end + 1
    return tuple(env)


def expand_address(address: bytes, line: bytes = b"", lineno: int = 1) -> tuple[bytes, ...]:
    """The keys of an address: itself, or one per number of its first hyphen range (§2.3)."""
    if b"=" in address or b"@" in address or b"-" not in address:
        return (address,)
    hyphen = address.index(b"-")
    start = address.rfind(b".", 0, hyphen) + 1
    end = address.find(b".", hyphen + 1)
    if end < 0:
        end = len(address)
    low, high = address[start:hyphen], address[hyphen + 1:end]
    if not _digits(low) or not _digits(high):
        raise ParseError(line, lineno)
    bottom, top = _scan_ulong(low), min(_scan_ulong(high), 255)
    head, tail = address[:start], address[end:]
    return tuple([head + _DECIMAL[n] + tail for n in range(bottom, top + 1)])


def _digits(text: bytes) -> bool:
    return not text or text.isdigit()                   # the empty string counts as 0


def _scan_ulong(text: bytes) -> int:
    return int(text) % _ULONG if text else 0
