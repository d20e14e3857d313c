"""The queue's layout on disk (spec/qmail.md §3.2), shared by qmail-queue, qmail-send,
qmail-clean, qmail-qread, qmail-qstat and qmail-install.

Paths are relative to $QMAILHOME/queue, where every queue program chdirs first, and are
`str` (file names in the queue are ASCII digits). A message is known by its number: the
inode number of its mess file.
"""
import os
import stat

SPLIT = 23                     # conf-split
SPLIT_DIRS = ("mess", "info", "local", "remote")
FLAT_DIRS = ("pid", "intd", "todo", "bounce", "lock")
TRIGGER = "lock/trigger"
SENDMUTEX = "lock/sendmutex"
TCPTO = "lock/tcpto"


def fmtqfn(prefix: str, id_: int, split: bool) -> str:
    """qmail's fmtqfn: `mess/` + `N mod 23/` + `N` (without the trailing NUL)."""
    if split:
        return "%s%d/%d" % (prefix, id_ % SPLIT, id_)
    return "%s%d" % (prefix, id_)


def queue_dir(home: str) -> str:
    return os.path.join(home, "queue")


def read_split_dir(name: str, on_error=None):
    """Message numbers found under NAME/0 .. NAME/22 (readsubdir), directory order.

    Yields int ids. A subdirectory that cannot be opened is skipped, or, given ON_ERROR, is
    passed to ON_ERROR(path, error), readsubdir's pause function: it may raise (qmail-qread's
    die_opendir), or return True to try the same subdirectory again (qmail-send's pausedir,
    after its alert and sleep) or False to skip it.
    """
    for sub in range(SPLIT):
        path = "%s/%d" % (name, sub)
        while True:
            try:
                entries = os.listdir(path)
                break
            except OSError as e:
                if on_error is None or not on_error(path, e):
                    entries = None
                    break
        if entries is None:
            continue
        for entry in entries:
            if entry.isdigit() and entry.isascii():
                yield int(entry)


def read_flat_dir(name: str):
    """Message numbers in a flat directory (todo/, intd/, bounce/)."""
    for entry in os.listdir(name):
        if entry.isdigit() and entry.isascii():
            yield int(entry)


def fsync_dir(path: str) -> None:
    """Make the directory entries made in PATH durable (rename/link/creat)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def trigger_pull(trigger: str = TRIGGER, dir_fd: int | None = None) -> None:
    """Wake qmail-send: one byte, non-blocking, into the FIFO lock/trigger (relative to
    DIR_FD if given); errors ignored (qmail-send also scans todo/ every 25 minutes)."""
    try:
        fd = os.open(trigger, os.O_WRONLY | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return
    try:
        os.write(fd, b"\0")
    except OSError:
        pass
    finally:
        os.close(fd)


def is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False
