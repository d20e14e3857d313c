"""A Maildir as qmail-pop3d reads it (spec/qmail.md §6.1, §6.4, §11), relative to the cwd.

    clean_tmp(now)          unlink tmp/ entries not accessed for 36 hours
    scan(now) -> [Message]  new/ then cur/, mtime strictly before `now`, oldest first
    commit(messages, deleted) -> unlink failures: delete, and move new/X to cur/X:2,
    prioq_order(keys) -> indexes in the order qmail's prioq (a binary heap) yields them

Times are compared as the C compares them: maildir.c's `time` is a signed long, so an mtime
before 1970 is listed and sorts first; tmp/ cleaning compares `time > st_atime + 129600`.
"""
import os

from qmail.pop3.commands import Value

TMP_AGE = 129600        # 36 hours (§6.1 item 3)


class Message(Value):
    __slots__ = __match_args__ = ("path", "size", "mtime")
    path: bytes         # b"new/NAME" or b"cur/NAME:INFO", relative to the Maildir
    size: int           # on disk, LF line ends (§6.1 item 5)
    mtime: int

    @property
    def uid(self) -> bytes:
        """The name without new/ or cur/ and without anything from the first ":" (§6.2)."""
        return self.path[4:].split(b":", 1)[0]


def clean_tmp(now: int) -> None:
    try:
        entries = os.scandir(b"tmp")
    except OSError:
        return
    with entries:
        for entry in entries:
            if entry.name.startswith(b"."):
                continue
            try:
                if now > entry.stat()[7] + TMP_AGE:        # st_atime in whole seconds
                    os.unlink(entry.path)
            except OSError:
                pass


def scan(now: int) -> list[Message]:
    """Messages whose mtime is strictly before the current second (§6.1 item 4). Entries are
    not checked to be regular files; one that cannot be stat()ed is skipped. OSError when a
    directory cannot be read. The order is the C's: by mtime through prioq, which puts
    equal mtimes in an order fixed by readdir()'s (os.scandir() reads with readdir())."""
    found: list[Message] = []
    for subdir in (b"new", b"cur"):
        with os.scandir(subdir) as entries:
            for entry in entries:
                if entry.name.startswith(b"."):
                    continue
                try:
                    st = entry.stat()
                except OSError:
                    continue
                mtime = st[8]                   # st_mtime in whole seconds, as time_t
                if mtime < now:
                    found.append(Message(entry.path, st.st_size, mtime))
    return [found[i] for i in prioq_order([m.mtime for m in found])]


def prioq_order(keys: list[int]) -> list[int]:
    """Indexes of keys, smallest key first, as qmail's prioq_insert()/prioq_delmin() (a
    binary heap) give them; equal keys come out in the heap's order, not by index (keys
    5, 5, 5 inserted as 0, 1, 2 come out 0, 2, 1). Distinct keys: a plain sort."""
    n = len(keys)
    if len(set(keys)) == n:
        return sorted(range(n), key=keys.__getitem__)
    heap: list[int] = []
    for pos in range(n):                        # prioq_insert: sift up while parent > key
        dt = keys[pos]
        heap.append(pos)
        j = len(heap) - 1
        while j:
            i = (j - 1) // 2
            if keys[heap[i]] <= dt:
                break
            heap[j] = heap[i]
            j = i
        heap[j] = pos
    order = []
    while heap:                                 # prioq_min, prioq_delmin
        order.append(heap[0])
        last = len(heap) - 1
        moved = heap[last]
        i = 0
        while True:
            j = i + i + 2
            if j > last:
                break
            if keys[heap[j - 1]] <= keys[heap[j]]:
                j -= 1
            if keys[moved] <= keys[heap[j]]:
                break
            heap[i] = heap[j]
            i = j
        heap[i] = moved
        heap.pop()
    return order


def commit(messages: "list[Message]", deleted: "frozenset[int] | set[int]") -> int:
    """Unlink the deleted messages, rename every other one listed from new/ to cur/NAME:2,
    (no flags, not even S; rename failures are ignored) (§6.4). Returns the unlink failures."""
    failures = 0
    for i, message in enumerate(messages):
        if i in deleted:
            try:
                os.unlink(message.path)
            except OSError:
                failures += 1
        elif message.path.startswith(b"new/"):
            try:
                os.rename(message.path, b"cur/" + message.path[4:] + b":2,")
            except OSError:
                pass
    return failures
