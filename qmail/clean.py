"""qmail-clean: remove queue files for qmail-send, which may not write mess/, intd/, todo/.

fd 0: requests, each a path and NUL: `foop/N` removes intd/N and mess/N%23/N, `todo/N`
removes intd/N and todo/N (a missing file is fine). fd 1: one byte per request: `+` done,
`!` trouble, `x` bad request. Every 30 requests (and at start) it removes pid/ files not
accessed for 36 hours. Exit: 0 at EOF; 111 if $QMAILHOME/queue is unreachable; 100 if
qmail-send is gone.
"""
import os
import time

from qmail.queuefs import fmtqfn

OSSIFIED = 129600              # 36 hours, as qmail-send


def cleanup_pid(now: float) -> None:
    try:
        names = os.listdir("pid")
    except OSError:
        return
    for name in names:
        path = "pid/" + name
        try:
            if now >= os.stat(path).st_atime + OSSIFIED:
                os.unlink(path)
        except OSError:
            pass


def answer(request: bytes) -> bytes:
    """The response byte for one request (without its NUL), after doing the unlinks."""
    if len(request) + 1 < 7 or len(request) + 1 > 100:
        return b"x"
    digits = request[5:]
    if not digits.isdigit() or not digits.isascii():
        return b"x"
    id_ = int(digits)
    if request[:5] == b"foop/":
        victims = (fmtqfn("intd/", id_, False), fmtqfn("mess/", id_, True))
    elif request[:5] == b"todo/":
        victims = (fmtqfn("intd/", id_, False), fmtqfn("todo/", id_, False))
    else:
        return b"x"
    for path in victims:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            return b"!"
    return b"+"


def main(argv=None) -> int:
    from qmail.control import qmail_home
    try:
        os.chdir(qmail_home())
        os.chdir("queue")
    except OSError:
        return 111
    buf = b""
    loop = 0
    while True:
        if loop:
            loop -= 1
        else:
            cleanup_pid(time.time())
            loop = 30
        while b"\0" not in buf:
            data = os.read(0, 1024)
            if not data:
                return 0
            buf += data
        request, _, buf = buf.partition(b"\0")
        try:
            os.write(1, answer(request))
        except OSError:
            return 100


if __name__ == "__main__":
    raise SystemExit(main())
