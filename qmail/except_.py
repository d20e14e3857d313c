"""except program [arg ...]: run PROGRAM and turn its success into a bounce (console script
`except`). Exit 100 when PROGRAM exits 0, 0 when it exits otherwise, 111 when it exits 111
or crashes."""
import os
import sys

from qmail.delivery import EXIT_PERM, EXIT_TEMP, die, run_child

FATAL = b"except: fatal: "
USAGE = b"except: usage: except program [ arg ... ]"


def main(argv: list[str] | None = None) -> int:
    args = [os.fsencode(a) for a in (sys.argv[1:] if argv is None else argv)]
    if not args:
        return die(b"", USAGE, EXIT_PERM)
    code = run_child(args)
    if code is None:
        return die(FATAL, b"child crashed", EXIT_TEMP)
    if code == 0:
        return EXIT_PERM
    if code == 111:
        return die(FATAL, b"temporary child error", EXIT_TEMP)
    return 0
