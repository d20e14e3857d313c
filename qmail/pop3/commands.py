"""The command-line reader qmail-popup and qmail-pop3d share (spec/qmail.md §1.2), pure.

    LineBuffer: bytes in, whole lines (LF included) out, nothing past the last LF consumed.
    parse_command(line) -> (verb in lower case, argument)
    scan_ulong(arg) -> (value, digits used): djb's scan_ulong, wrapping modulo 2**64.
    CommandSession: the effects loop both cores are built on.
"""
from collections import deque


class Value:
    """A small frozen value type: what @dataclass(frozen=True, slots=True) gives (positional
    fields named in __slots__, ==, hash, repr, match), without importing dataclasses, which
    costs about 10 ms (inspect, ast, re) in each of the three programs a POP3 login starts."""
    __slots__ = ()

    def __init__(self, *values) -> None:
        if len(values) != len(self.__slots__):
            raise TypeError(f"{type(self).__name__} takes {len(self.__slots__)} values")
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Reply(Value):
    """Write these bytes to the client (a whole reply or a whole listing)."""
    __slots__ = __match_args__ = ("data",)
    data: bytes


class Hangup(Value):
    """Flush what is pending and exit with this status."""
    __slots__ = __match_args__ = ("status",)
    status: int


class LineBuffer:
    """Bytes received but not yet taken as a line. A bytearray, so it can be wiped."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = False

    def feed(self, data: bytes) -> None:
        if data:
            self.data += data
        else:
            self.eof = True

    def next_line(self) -> bytearray | None:
        """The next line up to and including LF, or None when no whole line is buffered."""
        end = self.data.find(b"\n")
        if end < 0:
            return None
        line = self.data[: end + 1]
        self.data[: end + 1] = bytes(end + 1)   # wipe before dropping: it may hold a password
        del self.data[: end + 1]
        return line

    def wipe(self) -> None:
        self.data[:] = bytes(len(self.data))
        del self.data[:]


def parse_command(line: bytes | bytearray) -> tuple[bytes, bytes | bytearray]:
    """Verb (ASCII lower case) and argument of one line (§1.2): one CR before LF removed,
    cut at the first NUL, verb up to the first space, leading spaces of the argument skipped.
    The argument is one slice of line (a bytearray stays a bytearray, so it can be wiped)."""
    end = len(line)
    if end and line[end - 1] == 10:
        end -= 1
    if end and line[end - 1] == 13:
        end -= 1
    nul = line.find(b"\0", 0, end)
    if nul >= 0:
        end = nul
    space = line.find(b" ", 0, end)
    if space < 0:
        return bytes(line[:end]).lower(), line[end:end]
    start = space + 1
    while start < end and line[start] == 32:
        start += 1
    return bytes(line[:space]).lower(), line[start:end]


ULONG = 1 << 64


def scan_ulong(arg: bytes) -> tuple[int, int]:
    """Leading decimal digits of arg as djb's scan_ulong reads them (unsigned long arithmetic:
    wraps modulo 2**64), and how many digits there were (0: no number)."""
    n = 0
    while n < len(arg) and 48 <= arg[n] <= 57:
        n += 1
    return (int(arg[:n]) % ULONG if n else 0), n


class CommandSession:
    """What qmail-popup's and qmail-pop3d's cores share: queued effects, one command line
    taken at a time and only when the driver asks for effects, the end of the session.

    A subclass sets EXIT (its status on end of input or a timeout), fills `_commands`
    (verb: handler(arg)) and `_unknown`, and may override `_taken(line)`."""

    EXIT = 0

    def __init__(self, first) -> None:
        self._input = LineBuffer()
        self._pending = deque([first])
        self._done = False
        self._commands: dict = {}

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; b"" means end of input."""
        self._input.feed(data)

    def timed_out(self) -> None:
        self._finish(Hangup(self.EXIT))

    def effects(self):
        while True:
            while self._pending:
                yield self._pending.popleft()
            if self._done:
                return
            line = self._input.next_line()
            if line is None:
                if self._input.eof:
                    self._finish(Hangup(self.EXIT))
                    continue
                return
            verb, arg = parse_command(line)
            self._taken(line)
            self._commands.get(verb, self._unknown)(arg)

    def _taken(self, line: bytearray) -> None:
        """LINE has been parsed (qmail-popup wipes it: it may hold a password)."""

    def _unknown(self, arg) -> None:
        raise NotImplementedError

    def _finish(self, effect) -> None:
        self._done = True
        self._pending.append(effect)
