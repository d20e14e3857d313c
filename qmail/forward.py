"""forward address [address ...]: queue the message on fd 0 again for ADDRESSES, with
$DTLINE on top and $NEWSENDER as the envelope sender (both set by qmail-local).
Exit 0 (`forward: qp N` on fd 2), 100 (environment missing, permanent queue failure),
111 (temporary queue failure)."""
import os
import sys

from qmail.delivery import EXIT_PERM, EXIT_TEMP, Queue, die, err_text

FATAL = b"forward: fatal: "


def requeue(prog: bytes, sender: bytes, dtline: bytes, recipients: list[bytes]
            ) -> tuple[int, bytes]:
    """The message on fd 0 into the queue; (exit code, text for fd 2). Shared with condredirect."""
    fatal = prog + b": fatal: "
    try:
        queue = Queue()
    except OSError as e:
        return EXIT_TEMP, fatal + b"unable to fork: " + err_text(e)
    queue.put(dtline)
    while True:
        try:
            data = os.read(0, 65536)
        except OSError as e:
            return EXIT_TEMP, fatal + b"unable to read message: " + err_text(e)
        if not data:
            break
        queue.put(data)
    qp = queue.qp
    result = queue.close(sender, recipients)
    if result:
        return (EXIT_PERM if result[:1] == b"D" else EXIT_TEMP), fatal + result[1:]
    return 0, prog + b": qp %d" % qp


def main(argv: list[str] | None = None) -> int:
    args = [os.fsencode(a) for a in (sys.argv[1:] if argv is None else argv)]
    sender = os.environb.get(b"NEWSENDER")
    if sender is None:
        return die(FATAL, b"NEWSENDER not set", EXIT_PERM)
    dtline = os.environb.get(b"DTLINE")
    if dtline is None:
        return die(FATAL, b"DTLINE not set", EXIT_PERM)
    code, text = requeue(b"forward", sender, dtline, args)
    return die(b"", text, code)
