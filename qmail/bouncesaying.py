"""bouncesaying error [program [arg ...]]: bounce the message with ERROR, or only when PROGRAM
exits 0. A .qmail helper: exit 100 (bounce, ERROR on fd 2), 0 (program exited non-zero: go
on), 111 (program's exit 111, or it crashed). fds 0/1/2 are the program's."""
import sys

from qmail.delivery import EXIT_PERM, EXIT_TEMP, die, run_child

FATAL = b"bouncesaying: fatal: "
USAGE = b"bouncesaying: usage: bouncesaying error [ program [ arg ... ] ]"


def main(argv: list[str] | None = None) -> int:
    import os
    args = [os.fsencode(a) for a in (sys.argv[1:] if argv is None else argv)]
    if not args:
        return die(b"", USAGE, EXIT_PERM)
    if len(args) > 1:
        code = run_child(args[1:])
        if code is None:
            return die(FATAL, b"child crashed", EXIT_TEMP)
        if code == 111:
            return die(FATAL, b"temporary child error", EXIT_TEMP)
        if code != 0:
            return 0
    return die(b"", args[0], EXIT_PERM)
