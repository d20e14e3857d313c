"""tcpserver's command line: argv -> Options, with djb's getopt (spec/ucspi-tcp.md §1.1, §1.2). Pure.

djb getopt: single-letter options, clustering (`-vX`), arguments attached (`-c5`) or separate
(`-c 5`); parsing stops at the first non-option, at `-` alone (kept) and at `--` (dropped; so is any
argument starting `--`, such as `--1`).
Numbers are "leading decimal digits, default 0" (scan_ulong), never an error.
"""
from collections import namedtuple
from collections.abc import Mapping, Sequence

from tcpserver.sgetopt import getopt  # noqa: F401  (tcpclient imports it from here)

# spec/ucspi-tcp.md §1.1
USAGE = (b"tcpserver: usage: tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ]"
         b" [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ]"
         b" host port program\n")
OPTSTRING = b"dDvqQhHrR1UXx:t:u:g:l:b:B:c:pPoO"

ULONG = 1 << 64


# (field, default) in the order of the fields; a namedtuple: immutable, and cheap to import
# (dataclasses pulls in inspect and ast, paid by every start of tcpserver)
_FIELDS = (
    ("host", None), ("port", None), ("program", ()),
    ("verbosity", 1),          # 0 -q, 1 -Q, 2 -v
    ("limit", 40),             # -c
    ("rules", None),           # -x
    ("allow_no_rules", False),  # -X
    ("banner", b""),           # -B
    ("delay", True),           # -d (True) / -D
    ("kill_options", True),    # -O (True) / -o
    ("remote_host", True),     # -h / -H
    ("remote_info", True),     # -r / -R
    ("paranoid", False),       # -p / -P
    ("timeout", 26),           # -t
    ("uid", 0),                # -u / -U
    ("gid", 0),                # -g / -U
    ("print_port", False),     # -1
    ("backlog", 20),           # -b
    ("local_host", None),      # -l
)
Options = namedtuple("Options", [name for name, _ in _FIELDS],
                     defaults=[default for _, default in _FIELDS])


class BadUsage(Exception):
    """Bad command line: TEXT goes to fd 2 as it is (empty under -q), exit 100."""

    def __init__(self, text: bytes) -> None:
        super().__init__(text)
        self.text = text


def scan_ulong(s: bytes) -> int:
    """djb's scan_ulong: the leading decimal digits, 0 when there are none, modulo 2**64."""
    n = 0
    for c in s:
        if not 0x30 <= c <= 0x39:
            break
        n = n * 10 + c - 0x30
    return n % ULONG


def parse_options(argv: Sequence[bytes], environ: Mapping[bytes, bytes] | None = None) -> Options:
    """argv (argv[0] included) -> Options; raises BadUsage with the C program's exact text.

    ENVIRON gives `UID`/`GID` for -U (read when -U is parsed, as the C does).
    """
    environ = environ or {}
    o: dict = {}
    rest = len(argv)
    for opt, value in getopt(argv, OPTSTRING):
        if opt is None:
            rest = value
        elif opt == b"?":
            raise BadUsage(value + USAGE)
        else:
            _apply(o, opt, value, environ)
    args = list(argv[rest:])
    quiet = o.get("verbosity", 1) == 0
    if len(args) < 2:
        raise BadUsage(b"" if quiet else USAGE)
    host, port, *program = args       # no program: a usage error after the port is read (§1.5)
    if host in (b"", b"0"):
        host = b"0.0.0.0"
    return Options(host=host, port=port, program=tuple(program), **o)


_SETTINGS = {
    b"d": ("delay", True), b"D": ("delay", False),
    b"v": ("verbosity", 2), b"q": ("verbosity", 0), b"Q": ("verbosity", 1),
    b"P": ("paranoid", False), b"p": ("paranoid", True),
    b"O": ("kill_options", True), b"o": ("kill_options", False),
    b"H": ("remote_host", False), b"h": ("remote_host", True),
    b"R": ("remote_info", False), b"r": ("remote_info", True),
    b"1": ("print_port", True), b"X": ("allow_no_rules", True),
}
_NUMBERS = {b"b": "backlog", b"c": "limit", b"t": "timeout", b"u": "uid", b"g": "gid"}
_STRINGS = {b"x": "rules", b"B": "banner", b"l": "local_host"}


def _apply(o: dict, opt: bytes, value: bytes | None, environ: Mapping[bytes, bytes]) -> None:
    if opt in _SETTINGS:
        name, setting = _SETTINGS[opt]
        o[name] = setting
    elif opt in _NUMBERS:
        o[_NUMBERS[opt]] = scan_ulong(value)
    elif opt in _STRINGS:
        o[_STRINGS[opt]] = value
    elif opt == b"U":
        if b"UID" in environ:
            o["uid"] = scan_ulong(environ[b"UID"])
        if b"GID" in environ:
            o["gid"] = scan_ulong(environ[b"GID"])
