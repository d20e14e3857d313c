"""qmail-qstat: how many messages are in the queue (spec/qmail.md §12.2).

Prints `messages in queue: N` (files under queue/mess) and `messages in queue but not yet
preprocessed: M` (files in queue/todo). Exit 0; 111 with `qmail-qstat: fatal: ...` if the
queue cannot be read.
"""
import os

from qmail.die import Fatal, djb_error, run, write_all
from qmail.queuefs import SPLIT


def count(home: str) -> tuple[int, int]:
    queue = os.path.join(home, "queue")
    mess = sum(len(os.listdir(os.path.join(queue, "mess", str(i)))) for i in range(SPLIT))
    return mess, len(os.listdir(os.path.join(queue, "todo")))


def main(argv=None) -> int:
    def go() -> int:
        from qmail.control import qmail_home
        try:
            mess, todo = count(qmail_home())
        except OSError as e:
            raise Fatal("unable to read queue: %s" % djb_error(e)) from None
        write_all(1, b"messages in queue: %d\nmessages in queue but not yet preprocessed: %d\n"
                  % (mess, todo))
        return 0
    return run("qmail-qstat", go)


if __name__ == "__main__":
    raise SystemExit(main())
