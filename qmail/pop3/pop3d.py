"""qmail-pop3d's transaction phase (spec/qmail.md §6), sans I/O.

The driver lists the Maildir (§6.1) and passes each message's size and UID, in order.
States: TRANSACTION --QUIT--> COMMITTING (Commit emitted; the driver unlinks and renames and
reports with committed()) --> "+OK ", Hangup(0).
TRANSACTION --EOF/timeout--> Hangup(0): nothing committed.
RETR/TOP emit SendMessage; the driver opens the file and either reports open_failed() or
writes OK followed by stuffing.blast() of the file. Lines are taken from the input one at a
time, only when the driver asks for effects, so replies stay in command order.
"""
from collections.abc import Sequence

from qmail.pop3.commands import ULONG, CommandSession, Hangup, Reply, Value, scan_ulong

# spec/qmail.md §6.1, §6.2 (qmail-pop3d.c's err() texts)
OK = b"+OK \r\n"
ERR_NOMAILDIR = b"-ERR this user has no $HOME/Maildir\r\n"
ERR_SCAN = b"-ERR unable to scan $HOME/Maildir\r\n"
ERR_NOMEM = b"-ERR out of memory\r\n"
ERR_SYNTAX = b"-ERR syntax error\r\n"
ERR_UNIMPL = b"-ERR unimplemented\r\n"
ERR_DELETED = b"-ERR already deleted\r\n"
ERR_NOZERO = b"-ERR messages are counted from 1\r\n"
ERR_TOOBIG = b"-ERR not that many messages\r\n"
ERR_NOSUCH = b"-ERR unable to open that message\r\n"
ERR_NOUNLINK = b"-ERR unable to unlink all deleted messages\r\n"
ROOT = b"qmail-pop3d invoked as uid 0, terminating\n"      # to fd 2, exit 1 (§6.1)


class SendMessage(Value):
    """Send message `index` (0-based): "+OK " then stuffing.blast(file, body_lines)."""
    __slots__ = __match_args__ = ("index", "body_lines")
    index: int
    body_lines: int | None


class Commit(Value):
    """QUIT: unlink the messages at these indexes, move the rest listed from new/ to cur/."""
    __slots__ = __match_args__ = ("deleted",)
    deleted: tuple[int, ...]


Effect = Reply | SendMessage | Commit | Hangup


class Pop3Connection(CommandSession):
    EXIT = 0

    def __init__(self, sizes: Sequence[int], uids: Sequence[bytes]) -> None:
        super().__init__(Reply(OK))                    # answers the PASS (§6.1 item 6)
        self._sizes = list(sizes)
        self._uids = list(uids)
        self._deleted = [False] * len(self._sizes)
        self._last = 0
        self._commands = {      # verb: handler            spec/qmail.md §6.2
            b"quit": self._quit, b"stat": self._stat, b"list": self._list,
            b"uidl": self._uidl, b"dele": self._dele, b"retr": self._top,
            b"rset": self._rset, b"last": self._last_cmd, b"top": self._top,
            b"noop": self._noop,
        }

    # -- input ----------------------------------------------------------------------------
    def open_failed(self) -> None:
        """The file of the last SendMessage could not be opened."""
        self._pending.append(Reply(ERR_NOSUCH))

    def committed(self, unlink_failures: int) -> None:
        self._pending.extend([Reply(ERR_NOUNLINK)] * unlink_failures)
        self._pending.append(Reply(OK))
        self._pending.append(Hangup(0))

    @property
    def wants_input(self) -> bool:
        return not self._done and not self._pending

    # -- commands -------------------------------------------------------------------------
    def _reply(self, data: bytes) -> None:
        self._pending.append(Reply(data))

    def _msgno(self, arg: bytes) -> int | None:
        """0-based index for LIST i, UIDL i, RETR, TOP, DELE; an error reply and None (§6.2)."""
        u, digits = scan_ulong(arg)
        if not digits:
            self._reply(ERR_SYNTAX)
        elif not u:
            self._reply(ERR_NOZERO)
        elif u > len(self._sizes):
            self._reply(ERR_TOOBIG)
        elif self._deleted[u - 1]:
            self._reply(ERR_DELETED)
        else:
            return u - 1
        return None

    def _quit(self, arg: bytes) -> None:
        self._done = True
        self._pending.append(Commit(tuple(i for i, d in enumerate(self._deleted) if d)))

    def _stat(self, arg: bytes) -> None:
        # n counts deleted messages too; the byte count does not (§6.2)
        total = sum(s for s, d in zip(self._sizes, self._deleted) if not d) % ULONG
        self._reply(b"+OK %d %d\r\n" % (len(self._sizes), total))

    def _listing(self, arg: bytes, column: Sequence[int] | Sequence[bytes], fmt: bytes) -> None:
        if arg:
            i = self._msgno(arg)
            if i is not None:
                self._reply(b"+OK " + fmt % (i + 1, column[i]))
            return
        deleted = self._deleted
        lines = [fmt % (i + 1, v) for i, v in enumerate(column) if not deleted[i]]
        self._reply(b"".join([OK, *lines, b".\r\n"]))

    def _list(self, arg: bytes) -> None:
        self._listing(arg, self._sizes, b"%d %d\r\n")

    def _uidl(self, arg: bytes) -> None:
        self._listing(arg, self._uids, b"%d %s\r\n")

    def _dele(self, arg: bytes) -> None:
        i = self._msgno(arg)
        if i is None:
            return
        self._deleted[i] = True
        self._last = max(self._last, i + 1)      # LAST tracks DELE only (§6.2)
        self._reply(OK)

    def _top(self, arg: bytes) -> None:
        # RETR and TOP are one command: "RETR i k" is TOP, "TOP i" the whole message (§6.3)
        i = self._msgno(arg)
        if i is None:
            return
        _, digits = scan_ulong(arg)
        rest = arg[digits:].lstrip(b" ")
        k, digits = scan_ulong(rest)
        body_lines = k if digits and (k + 1) % ULONG else None   # limit = k + 1 wraps to 0
        self._pending.append(SendMessage(i, body_lines))

    def _rset(self, arg: bytes) -> None:
        self._deleted = [False] * len(self._sizes)
        self._last = 0
        self._reply(OK)

    def _last_cmd(self, arg: bytes) -> None:
        self._reply(b"+OK %d\r\n" % self._last)

    def _noop(self, arg: bytes) -> None:
        self._reply(OK)

    def _unknown(self, arg: bytes) -> None:
        self._reply(ERR_UNIMPL)
