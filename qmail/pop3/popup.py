"""qmail-popup's authorization phase (spec/qmail.md §4), sans I/O.

States: AUTHORIZATION --PASS/APOP--> HANDED_OFF (Authenticate emitted; the driver runs the
subprogram and reports with subprogram_done()) --> Hangup(1).
AUTHORIZATION --QUIT--> "+OK ", Hangup(1).  AUTHORIZATION --EOF/timeout--> Hangup(1), silent.

Lines are taken from the input one at a time, only when the driver asks for effects, so
input after the PASS/APOP line stays unconsumed (`trailing_data`, §4.4 item 6).
"""
from qmail.pop3.commands import CommandSession, Hangup, Reply, Value

# spec/qmail.md §4.3 (and qmail-popup.c's err() texts, §4.4)
OK = b"+OK \r\n"
ERR_SYNTAX = b"-ERR syntax error\r\n"
ERR_WANTUSER = b"-ERR USER first\r\n"
ERR_AUTHORIZ = b"-ERR authorization first\r\n"
ERR_USAGE = b"-ERR usage: popup hostname subprogram\r\n"
ERR_PIPE = b"-ERR unable to open pipe\r\n"
ERR_WRITE = b"-ERR unable to write pipe\r\n"
ERR_FORK = b"-ERR unable to fork\r\n"
ERR_CRASHED = b"-ERR aack, child crashed\r\n"
ERR_BADAUTH = b"-ERR authorization failed\r\n"
ERR_NOMEM = b"-ERR out of memory\r\n"


class Authenticate(Value):
    """Run the subprogram with user NUL password NUL stamp NUL on its fd 3 (§4.4).
    password is a bytearray: the driver wipes it after writing."""
    __slots__ = __match_args__ = ("user", "password", "stamp")
    user: bytes
    password: bytes | bytearray
    stamp: bytes

    def payload(self) -> bytearray:
        return bytearray(self.user) + b"\0" + self.password + b"\0" + self.stamp + b"\0"


Effect = Reply | Authenticate | Hangup


class PopupConnection(CommandSession):
    EXIT = 1                   # qmail-popup always exits 1 (§4.4)

    def __init__(self, hostname: bytes, pid: int, now: int) -> None:
        # "<PID.TIME@HOSTNAME>": the APOP timestamp (§4.2); the hostname is a C string.
        self.stamp = b"<%d.%d@%s>" % (pid, now, hostname.split(b"\0")[0])
        super().__init__(Reply(b"+OK " + self.stamp + b"\r\n"))
        self._user: bytes | None = None
        self._commands = {      # verb: handler          spec/qmail.md §4.3
            b"user": self._user_cmd, b"pass": self._pass, b"apop": self._apop,
            b"quit": self._quit, b"noop": self._noop,
        }

    # -- input ----------------------------------------------------------------------------
    def subprogram_done(self, crashed: bool, exitcode: int) -> None:
        """The subprogram ended (§4.4 item 4); qmail-popup then always exits 1."""
        if crashed:
            self._pending.append(Reply(ERR_CRASHED))
        elif exitcode:
            self._pending.append(Reply(ERR_BADAUTH))
        self._pending.append(Hangup(1))

    @property
    def trailing_data(self) -> bytes:
        """Input received but not consumed: must be empty when Authenticate is emitted."""
        return bytes(self._input.data)

    def wipe(self) -> None:
        self._input.wipe()

    # -- commands -------------------------------------------------------------------------
    def _taken(self, line: bytearray) -> None:
        line[:] = bytes(len(line))         # it may hold the password

    def _user_cmd(self, arg: bytes) -> None:
        if not arg:
            self._pending.append(Reply(ERR_SYNTAX))
            return
        self._pending.append(Reply(OK))
        self._user = bytes(arg)

    def _pass(self, arg: bytes) -> None:
        if self._user is None:
            self._pending.append(Reply(ERR_WANTUSER))
        elif not arg:
            self._pending.append(Reply(ERR_SYNTAX))
        else:
            self._done = True
            self._pending.append(Authenticate(self._user, arg, self.stamp))

    def _apop(self, arg: bytes) -> None:
        space = arg.find(b" ")
        if space < 0:
            self._pending.append(Reply(ERR_SYNTAX))
            return
        self._done = True     # only the first space splits: "bob  x" sends " x" (§4.3)
        self._pending.append(Authenticate(bytes(arg[:space]), arg[space + 1:], self.stamp))
        if isinstance(arg, bytearray):
            arg[:] = bytes(len(arg))

    def _quit(self, arg: bytes) -> None:
        self._pending.append(Reply(OK))
        self._finish(Hangup(1))

    def _noop(self, arg: bytes) -> None:
        self._pending.append(Reply(OK))

    def _unknown(self, arg: bytes) -> None:
        self._pending.append(Reply(ERR_AUTHORIZ))
