"""tcprulescheck rules.cdb: what tcpserver would do for a connection (spec/ucspi-tcp.md §3.1).

argv: the cdb (further arguments ignored). Environment: TCPREMOTEIP (default 0.0.0.0),
TCPREMOTEHOST, TCPREMOTEINFO (set-but-empty counts as set); no DNS, no lowercasing.
fd 1: the verdict lines (write errors ignored, as in the C). Exit: 0; 100 usage; 111 unreadable cdb.
"""
import os
import sys

from rules.cdb import find_rule
from rules.lookup import candidate_keys
from rules.records import check_lines
from tcpserver.die import Fatal, Usage, djb_error, run, write_fd

USAGE = "tcprulescheck rules.cdb"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return run("tcprulescheck", lambda: _check([os.fsencode(a) for a in args]))


def _check(args: list[bytes]) -> int:
    if not args:
        raise Usage(USAGE, "tcprulescheck")
    path = args[0]
    env = os.environb
    ip = env.get(b"TCPREMOTEIP", b"0.0.0.0")
    keys = candidate_keys(ip, env.get(b"TCPREMOTEHOST"), env.get(b"TCPREMOTEINFO"))
    try:
        found = find_rule(path, keys)
    except OSError as e:
        raise Fatal(b"unable to read %s: %s" % (path, djb_error(e).encode())) from None
    key, data = found if found else (None, b"")
    write_fd(1, check_lines(key, data))
    return 0

