"""The qmail-send <-> spawner protocol (qmail-lspawn, qmail-rspawn; qmail's spawn.c), both sides.

On start the spawner writes one byte: how many deliveries it can run at once (conf-spawn,
120). qmail-send then writes commands and the spawner answers each with one report:

    command: DELNUM (1 byte) + "S/N" NUL + sender NUL + recipient NUL   (paths below queue/mess)
    report:  DELNUM (1 byte) + K|Z|D + text + NUL

The byte machines (CommandReader, ReportReader) and the report builders are pure; serve() is
the spawner's select loop around a `spawn(fdmess, fdout, sender, recip, at) -> pid` function,
and a `report(status, output) -> bytes` function (status: the child's exit code, or None
if it was killed by a signal).
"""
import os
import select
import signal
import stat
from dataclasses import dataclass

SPAWN_LIMIT = 120              # conf-spawn
REPORTMAX = 10000              # qmail-send keeps at most this much of a report
TRUNCMESS = b"\nError report too long, sorry.\n"


def command(delnum: int, messid: bytes, sender: bytes, recip: bytes) -> bytes:
    """One delivery command as qmail-send writes it (the sender already VERP-expanded)."""
    return bytes([delnum]) + messid + b"\0" + sender + b"\0" + recip + b"\0"


@dataclass(frozen=True, slots=True)
class Command:
    delnum: int
    messid: bytes
    sender: bytes
    recip: bytes


class CommandReader:
    """The spawner's input: feed() bytes, get the complete commands (spawn.c getcmd)."""

    def __init__(self) -> None:
        self._stage = 0            # 0 delnum, 1 messid, 2 sender, 3 recip
        self._delnum = 0
        self._fields: list[bytes] = []
        self._cur = bytearray()

    def feed(self, data: bytes) -> list[Command]:
        out = []
        pos = 0
        while pos < len(data):
            if self._stage == 0:
                self._delnum = data[pos]
                self._fields = []
                self._stage = 1
                pos += 1
                continue
            nul = data.find(b"\0", pos)
            if nul < 0:
                self._cur += data[pos:]
                break
            self._cur += data[pos:nul]
            self._fields.append(bytes(self._cur))
            self._cur.clear()
            pos = nul + 1
            if self._stage == 3:
                out.append(Command(self._delnum, *self._fields))
                self._stage = 0
            else:
                self._stage += 1
        return out


class ReportReader:
    """qmail-send's side: feed() bytes, get (delnum, report) pairs (qmail-send del_dochan).

    A report is complete at a NUL that is not its first byte; it is cut to REPORTMAX bytes.
    """

    def __init__(self) -> None:
        self._line = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        out = []
        for ch in data:
            if len(self._line) >= REPORTMAX:
                self._line[REPORTMAX - 1] = ch
            else:
                self._line.append(ch)
            if ch == 0 and len(self._line) > 1:
                out.append((self._line[0], bytes(self._line[1:-1])))
                self._line.clear()
        return out


def check_command(cmd: Command, limit: int, in_use) -> bytes | None:
    """spawn.c docmd's checks before opening the message: an error report text or None."""
    if cmd.delnum >= limit:
        return b"ZInternal error: delnum too big. (#4.3.5)\n"
    if in_use(cmd.delnum):
        return b"ZInternal error: delnum in use. (#4.3.5)\n"
    for i, ch in enumerate(cmd.messid):
        if not (i and ch == 0x2F) and not 0x30 <= ch <= 0x39:
            return b"DInternal error: messid has nonnumerics. (#5.3.5)\n"
    if len(cmd.messid) + 1 > 100:
        return b"DInternal error: messid too long. (#5.3.5)\n"
    if not cmd.messid:
        return b"DInternal error: messid too short. (#5.3.5)\n"
    if b"@" not in cmd.recip:
        return b"DSorry, address must include host name. (#5.1.3)\n"
    return None


def truncate(output: bytes, truncreport: int) -> bytes:
    """spawn.c keeps a local delivery's output under TRUNCREPORT bytes."""
    if truncreport > 100 and len(output) > truncreport:
        return output[:truncreport - len(TRUNCMESS) - 3] + TRUNCMESS
    return output


# qmail-lspawn's reports for its own exit codes (qlx.h)
LOCAL_TROUBLE = {
    117: b"ZTrouble reading users/cdb in qmail-lspawn.\n",
    119: b"ZOut of memory in qmail-lspawn.\n",
    118: b"ZTemporary failure in qmail-lspawn.\n",
    116: b"ZUnable to find alias user!\n",
    113: b"ZNot allowed to perform deliveries as root.\n",
    112: b"ZInternal qmail-lspawn bug.\n",
    115: b"ZNFS failure in qmail-local.\n",
    126: b"DUnable to run qmail-local.\n",
    120: b"ZUnable to run qmail-local.\n",
    121: b"ZUnable to run qmail-getpw.\n",
}


def local_report(status: int | None, output: bytes) -> bytes:
    """qmail-lspawn's report(): qmail-local's exit code -> K/Z/D + its output (§9.4)."""
    if status is None:
        return b"Zqmail-local crashed.\n"
    if status in LOCAL_TROUBLE:
        return LOCAL_TROUBLE[status]
    letter = b"K" if status == 0 else b"Z" if status in (111, 71, 74, 75) else b"D"
    return letter + output.split(b"\0", 1)[0]


def remote_report(status: int | None, output: bytes) -> bytes:
    """qmail-rspawn's report(): qmail-remote's r/h/s recipient record and K/Z/D message
    record folded into one report (§9.4)."""
    if status is None:
        return b"Zqmail-remote crashed.\n"
    if status == 111:
        return b"ZUnable to run qmail-remote.\n"
    if status != 0:
        return b"DUnable to run qmail-remote.\n"
    if not output:
        return b"Zqmail-remote produced no output.\n"
    s = output
    result = -1
    j = 0
    for k in range(len(s)):
        if s[k] == 0:
            if s[j:j + 1] == b"K":
                result = 1
                break
            if s[j:j + 1] == b"Z":
                result = 0
                break
            if s[j:j + 1] == b"D":
                break
            j = k + 1
    orr = result
    if s[:1] == b"s":
        orr = 0
    elif s[:1] == b"h":
        orr = -1
    out = {1: b"K", 0: b"Z", -1: b"D"}[orr]
    nul = s.find(b"\0", 1)
    if nul >= 0:
        out += _cstr(s, 1)
        k = nul + 1
        if result <= orr and k < len(s) and s[k:k + 1] in (b"Z", b"D", b"K"):
            out += _cstr(s, k + 1)
    return out


def _cstr(s: bytes, start: int) -> bytes:
    end = s.find(b"\0", start)
    return s[start:] if end < 0 else s[start:end]


@dataclass
class _Delivery:
    fdin: int
    fdout: int                 # held open until the child is reaped: EOF means "reaped"
    pid: int
    status: int | None = None
    output: bytes = b""


def exit_status(wstat: int) -> int | None:
    """The exit code, or None when the child was killed by a signal (wait_crashed)."""
    return os.waitstatus_to_exitcode(wstat) if os.WIFEXITED(wstat) else None


def serve(spawn, report, truncreport: int, fd_in: int = 0, fd_out: int = 1) -> int:
    """spawn.c's main loop; cwd must be queue/mess. Returns when fd_in is at EOF and every
    delivery has been reported."""
    deliveries: dict[int, _Delivery] = {}
    reader = CommandReader()
    writing = [True]

    def put(data: bytes) -> None:
        if not writing[0]:
            return
        try:
            while data:
                data = data[os.write(fd_out, data):]
        except OSError:
            writing[0] = False     # qmail-send is gone: keep reaping, stop reporting

    def err(delnum: int, text: bytes) -> None:
        put(bytes([delnum]) + text + b"\0")

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    put(bytes([SPAWN_LIMIT]))
    reading = True
    while reading or deliveries:
        fds = [wake_r] + ([fd_in] if reading else []) + [d.fdin for d in deliveries.values()]
        try:
            ready, _, _ = select.select(fds, [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        _reap(deliveries)
        if reading and fd_in in ready:
            data = os.read(fd_in, 1024)
            if not data:
                reading = False
            for cmd in reader.feed(data):
                _docmd(cmd, deliveries, spawn, err)
        for delnum, d in list(deliveries.items()):
            if d.fdin not in ready:
                continue
            data = os.read(d.fdin, 4096)
            if data:
                d.output = truncate(d.output + data, truncreport)
                continue
            os.close(d.fdin)
            del deliveries[delnum]
            put(bytes([delnum]) + report(d.status, d.output) + b"\0")
    return 0


def _reap(deliveries: dict[int, _Delivery]) -> None:
    while True:
        try:
            pid, wstat = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        for d in deliveries.values():
            if d.pid == pid:
                d.status = exit_status(wstat)
                os.close(d.fdout)
                d.fdout = -1


def _docmd(cmd: Command, deliveries: dict, spawn, err) -> None:
    problem = check_command(cmd, SPAWN_LIMIT, lambda n: n in deliveries)
    if problem:
        err(cmd.delnum, problem)
        return
    try:
        fdmess = os.open(cmd.messid, os.O_RDONLY)
    except OSError:
        err(cmd.delnum, b"Zqmail-spawn unable to open message. (#4.3.0)\n")
        return
    try:
        st = os.fstat(fdmess)
        if not stat.S_ISREG(st.st_mode):
            err(cmd.delnum, b"ZSorry, message has wrong type. (#4.3.5)\n")
            return
        if st.st_uid != queue_owner():
            err(cmd.delnum, b"ZSorry, message has wrong owner. (#4.3.5)\n")
            return
        try:
            pin, pout = os.pipe()
        except OSError:
            err(cmd.delnum, b"Zqmail-spawn unable to create pipe. (#4.3.0)\n")
            return
        os.set_inheritable(pin, False)
        os.set_inheritable(pout, False)
        try:
            pid = spawn(fdmess, pout, cmd.sender, cmd.recip, cmd.recip.rfind(b"@"))
        except OSError:
            os.close(pin)
            os.close(pout)
            err(cmd.delnum, b"Zqmail-spawn unable to fork. (#4.3.0)\n")
            return
        deliveries[cmd.delnum] = _Delivery(pin, pout, pid)
    finally:
        os.close(fdmess)


_QUEUE_OWNER: list[int] = []


def queue_owner() -> int:
    """qmailq's uid, else (no such account) the owner of the queue directory we are in."""
    if not _QUEUE_OWNER:
        from qmail.users import uid_of
        uid = uid_of("qmailq")
        _QUEUE_OWNER.append(uid if uid is not None else os.stat("..").st_uid)
    return _QUEUE_OWNER[0]


def start(home: str) -> None:
    """chdir to $QMAILHOME/queue/mess as the spawners do; exit 111 if impossible."""
    try:
        os.chdir(home)
        os.chdir("queue/mess")
    except OSError:
        raise SystemExit(111) from None
