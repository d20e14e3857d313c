"""A Maildir as qmail-pop3d reads it (spec/qmail.md §6.1, §6.4, §11), relative to the cwd.

    clean_tmp(now)          unlink tmp/ entries not accessed for 36 hours
    scan(now) -> [Message]  new/ then cur/, mtime strictly before `now`, oldest first
    commit(messages, deleted) -> unlink failures: delete, and move new/X to cur/X:2,
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
                if now > int(entry.stat().st_atime) + TMP_AGE:
                    os.unlink(entry.path)
            except OSError:
                pass


def scan(now: int) -> list[Message]:
    """Messages whose mtime is strictly before the current second (§6.1 item 4). Entries are
    not checked to be regular files; one that cannot be stat()ed is skipped. OSError when a
    directory cannot be read."""
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
                mtime = int(st.st_mtime)
                if mtime < now:
                    found.append(Message(entry.path, st.st_size, mtime))
    # Order among equal mtimes is unspecified in qmail; by name, so sessions agree.
    found.sort(key=lambda m: (m.mtime, m.path))
    return found


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
