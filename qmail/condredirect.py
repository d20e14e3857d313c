"""condredirect newaddress program [arg ...]: if PROGRAM exits 0, queue the message on fd 0
for NEWADDRESS ($DTLINE on top, $SENDER as sender) and exit 99 so that qmail-local stops
reading the .qmail file. Exit 0 when PROGRAM exits otherwise (not 111); 111 when it exits 111
or crashes, or queueing fails temporarily; 100 on permanent failures."""
import os
import sys

from qmail.delivery import EXIT_PERM, EXIT_TEMP, die, err_text, run_child
from qmail.forward import requeue

FATAL = b"condredirect: fatal: "
USAGE = b"condredirect: usage: condredirect newaddress program [ arg ... ]"


def main(argv: list[str] | None = None) -> int:
    args = [os.fsencode(a) for a in (sys.argv[1:] if argv is None else argv)]
    if len(args) < 2:
        return die(b"", USAGE, EXIT_PERM)
    code = run_child(args[1:])
    if code is None:
        return die(FATAL, b"child crashed", EXIT_TEMP)
    if code == 111:
        return die(FATAL, b"temporary child error", EXIT_TEMP)
    if code != 0:
        return 0
    try:
        os.lseek(0, 0, os.SEEK_SET)
    except OSError as e:
        return die(FATAL, b"unable to rewind: " + err_text(e), EXIT_TEMP)
    sender = os.environb.get(b"SENDER")
    if sender is None:
        return die(FATAL, b"SENDER not set", EXIT_PERM)
    dtline = os.environb.get(b"DTLINE")
    if dtline is None:
        return die(FATAL, b"DTLINE not set", EXIT_PERM)
    code, text = requeue(b"condredirect", sender, dtline, [args[0]])
    return die(b"", text, 99 if code == 0 else code)
