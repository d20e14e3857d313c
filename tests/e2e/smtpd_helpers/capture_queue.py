"""A stand-in for qmail-queue (run as $QMAILQUEUE by the qmail-smtpd tests): it stores what it
was given, as qmail-queue's interface defines it (spec/qmail.md §3.1).

fd 0: the message, read to EOF, then fd 1: the envelope, read to EOF. Both are written to
$CAPTURE_DIR/<pid>.msg and <pid>.env (each through a temporary name, so a reader never sees
half a file). Exit: $CAPTURE_EXIT (default 0) when the envelope ends in its final NUL, else 54
(qmail-queue's "unable to read"); with $CAPTURE_FD6 set, that text goes to fd 6 first (the
notqmail custom-error extension, used with CAPTURE_EXIT=82). $CAPTURE_SLEEP: seconds to wait
after reading (for kill tests).
"""
import os
import sys
import time


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def store(path: str, data: bytes) -> None:
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


def main() -> int:
    out = os.environ["CAPTURE_DIR"]
    pid = os.getpid()
    message = read_all(0)
    envelope = read_all(1)
    complete = envelope.startswith(b"F") and envelope.endswith(b"\0\0") or envelope == b"F\0\0"
    store(os.path.join(out, "%d.msg" % pid), message)
    store(os.path.join(out, "%d.env" % pid), envelope)
    if os.environ.get("CAPTURE_SLEEP"):
        time.sleep(float(os.environ["CAPTURE_SLEEP"]))
    if "CAPTURE_FD6" in os.environ:
        os.write(6, os.fsencode(os.environ["CAPTURE_FD6"]))
    if not complete:
        return 54
    return int(os.environ.get("CAPTURE_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
