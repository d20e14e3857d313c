""".qmail files: which file controls an address, what its lines mean, the lines qmail-local
adds (spec/qmail.md §10.2, §10.3). Pure: no I/O; qmail/local.py does the delivering.
"""
import time

from qmail.quote import quote2


# spec/qmail.md §10.2, §10.3 (texts as qmail-local prints them)
NO_MAILBOX = b"Sorry, no mailbox here by that name. (#5.1.1)"
BLANK_FIRST_LINE = b"Uh-oh: first line of .qmail file is blank. (#4.2.1)"
FILE_WITH_X_BIT = b"Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)"
PROG_WITH_X_BIT = b"Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)"
LOOPING = b"This message is looping: it already has my Delivered-To line. (#5.4.6)"
HOME_WRITABLE = b"Uh-oh: home directory is writable. (#4.7.0)"
HOME_STICKY = b"Home directory is sticky: user is editing his .qmail file. (#4.2.1)"
HOME_STICKY_WARNING = b"Warning: home directory is sticky."
DOTQMAIL_WRITABLE = b"Uh-oh: .qmail file is writable. (#4.7.0)"

PATERNALISM = 0o002    # conf-patrn: others may not write the home directory or the .qmail


def safe_ext(ext: bytes) -> bytes:
    """ext lowercased, every `.` turned into `:` (`John.Doe` -> `john:doe`)."""
    return ext.lower().replace(b".", b":")


def candidates(dash: bytes, ext: bytes) -> list[tuple[bytes, bytes | None]]:
    """The .qmail files qmail-local tries, in order, each with the DEFAULT it sets (§10.2).

    dash "-", ext "a-b-c": .qmail-a-b-c, .qmail-a-b-default, .qmail-a-default, .qmail-default.
    dash "", ext "": .qmail, then (a quirk of the same loop) .qmaildefault.
    """
    safe = safe_ext(ext)
    first_default = None
    if len(safe) >= 7 and safe.endswith(b"default"):
        first_default = ext[len(safe) - 7:]
    found = [(b".qmail" + dash + safe, first_default)]
    for i in range(len(safe), -1, -1):
        if i == 0 or safe[i - 1: i] == b"-":
            found.append((b".qmail" + dash + safe[:i] + b"default", ext[i:]))
    return found


# Line kinds. A line is a plain (kind, value) tuple, not a dataclass: qmail-local runs once per
# delivery and dataclasses/enum would double its start-up time.
COMMENT = b"comment"
MAILDIR = b"maildir"
MBOX = b"mbox"
PROGRAM = b"program"
FORWARD = b"forward"
IGNORED = b"ignored"      # blank lines after the first, `+` lines
ERROR = b"error"          # a temporary failure at this point of the file (value: its text)

Line = tuple[bytes, bytes]   # (kind, path | command | address | error text)


def parse(cmds: bytes, forward_only: bool) -> list[Line]:
    """The instructions of a .qmail file (or of defaultdelivery), in order (§10.3).

    forward_only: the file has the owner-execute bit. A file or program line in forward-only
    mode, or a blank first line, ends the list with an ERROR line (checked when reached, as the
    C does: earlier lines are executed first).
    """
    if not cmds.endswith(b"\n"):
        cmds += b"\n"
    lines = []
    for number, raw in enumerate(cmds.split(b"\n")[:-1]):
        line = raw.rstrip(b" \t")
        text = line.split(b"\0", 1)[0]      # C strings
        first = text[:1]
        if not first:
            if number == 0:
                lines.append((ERROR, BLANK_FIRST_LINE))
                return lines
            lines.append((IGNORED, text))
        elif first == b"#":
            lines.append((COMMENT, text))
        elif first in (b".", b"/"):
            if forward_only:
                lines.append((ERROR, FILE_WITH_X_BIT))
                return lines
            kind = MAILDIR if line.endswith(b"/") else MBOX
            lines.append((kind, text))
        elif first == b"|":
            if forward_only:
                lines.append((ERROR, PROG_WITH_X_BIT))
                return lines
            lines.append((PROGRAM, text[1:]))
        elif first == b"+":
            if text == b"+list":
                forward_only = True
            lines.append((IGNORED, text))
        elif first == b"&":
            lines.append((FORWARD, text[1:]))
        else:
            lines.append((FORWARD, text))
    return lines


def delivered_to_line(local: bytes, host: bytes) -> bytes:
    """`Delivered-To: local@host` LF, newlines inside turned into `_` (DTLINE)."""
    return b"Delivered-To: " + (local + b"@" + host).replace(b"\n", b"_") + b"\n"


def return_path_line(sender: bytes) -> bytes:
    """`Return-Path: <sender>` LF with the box quoted as needed (RPLINE)."""
    return b"Return-Path: <" + quote2(sender).replace(b"\n", b"_") + b">\n"


_DAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct",
           b"Nov", b"Dec")


def myctime(now: float) -> bytes:
    """asctime-style GMT date with LF: `Wed Nov 25 15:35:22 2026` LF (qmail's myctime)."""
    t = time.gmtime(now)
    return b"%s %s %02d %02d:%02d:%02d %d\n" % (
        _DAYS[t.tm_wday], _MONTHS[t.tm_mon - 1], t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
        t.tm_year)


def from_line(sender: bytes, now: float) -> bytes:
    """The mbox `From ` line (UFLINE): blanks in the sender become `-`, empty -> MAILER-DAEMON."""
    who = sender.replace(b" ", b"-").replace(b"\t", b"-").replace(b"\n", b"-") if sender \
        else b"MAILER-DAEMON"
    return b"From " + who + b" " + myctime(now)


def is_from_line(line: bytes) -> bool:
    """qmail's gfrom(): `>*From ` lines get one more `>` in an mbox."""
    return line.lstrip(b">").startswith(b"From ")


def ext_parts(ext: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """EXT, EXT2, EXT3, EXT4: ext and what follows its first, second, third dash."""
    parts = [ext]
    x = ext
    for _ in range(3):
        dash = x.find(b"-")
        x = x[dash + 1:] if dash != -1 else b""
        parts.append(x)
    return parts[0], parts[1], parts[2], parts[3]


def host_parts(host: bytes) -> tuple[bytes, bytes, bytes]:
    """HOST2, HOST3, HOST4: host without its last one, two, three dot-components."""
    parts = []
    i = len(host)
    for _ in range(3):
        dot = host.rfind(b".", 0, i)
        if dot != -1:
            i = dot
        parts.append(host[:i])
    return parts[0], parts[1], parts[2]


def new_sender(sender: bytes, local: bytes, host: bytes, owner: bool, owner_default: bool) -> bytes:
    """NEWSENDER, the envelope sender of forwards (§10.3): bounces keep theirs; a
    .qmail...-owner file makes it local-owner@host, with -owner-default the VERP form."""
    if sender in (b"", b"#@[]") or not owner:
        return sender
    if owner_default:
        return local + b"-owner-@" + host + b"-@[]"
    return local + b"-owner@" + host


def program_exit(code: int) -> tuple[str, bool]:
    """A |program's exit code -> ("ok"|"perm"|"temp", stop after this line) (§10.3)."""
    if code == 0:
        return "ok", False
    if code == 99:
        return "ok", True
    if code in (100, 64, 65, 70, 76, 77, 78, 112):
        return "perm", False
    return "temp", False


def did_line(files: int, forwards: int, programs: int, qp: int | None) -> bytes:
    """qmail-local's success report: `did F+W+P` LF, `qp N` LF after a forward."""
    text = b"did %d+%d+%d\n" % (files, forwards, programs)
    if qp:
        text += b"qp %d\n" % qp
    return text
