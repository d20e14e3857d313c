"""qmail-send's decisions as pure functions (spec/qmail.md §9): no files, clocks or processes.

- rewrite(): preprocessing and the local/remote decision (§9.2);
- senderadd(): the VERP sender given to a delivery;
- next_retry(): the retry schedule (§9.3);
- bounce_paragraph(), bounce_message(): bounces and double bounces (§9.5);
- logsafe() and the log line formats (§9.6);
- Controls: the control files qmail-send reads, as data.
"""
from dataclasses import dataclass, field

from qmail.quote import quote, quote2
from qmail.queue import date822

LOCAL, REMOTE = 0, 1
CHANNEL_NAMES = (b"local", b"remote")
CHANSKIP = (10, 20)            # c in birth + (floor(sqrt(t - birth)) + c)^2
LIFETIME = 604800
REPORTMAX = 10000
TOO_LONG = b"I'm not going to try again; this message has been in the queue too long.\n"


@dataclass(frozen=True, slots=True)
class Controls:
    """qmail-send's control files (spec/qmail.md §13); lists are lowercased for lookups."""
    locals: frozenset = frozenset()
    percenthack: frozenset = frozenset()
    vdoms: dict = field(default_factory=dict)        # lowercased key -> prepend
    envnoathost: bytes = b"envnoathost"
    bouncefrom: bytes = b"MAILER-DAEMON"
    bouncehost: bytes = b"bouncehost"
    doublebounceto: bytes = b"postmaster@doublebouncehost"
    lifetime: int = LIFETIME
    concurrency: tuple = (10, 20)


def make_controls(me: bytes | None, locals_: list | None, percenthack: list | None,
                  vdoms: dict | None, envnoathost: bytes | None = None,
                  bouncefrom: bytes | None = None, bouncehost: bytes | None = None,
                  doublebounceto: bytes | None = None, doublebouncehost: bytes | None = None,
                  lifetime: int = LIFETIME, concurrency: tuple = (10, 20)) -> Controls:
    """Controls from raw control values (None = file missing), with qmail-send's defaults."""
    def me_or(value, literal):
        return value if value is not None else (me if me is not None else literal)
    if locals_ is None:
        locals_ = [me] if me is not None else None
    if locals_ is None:
        raise ValueError("locals")             # qmail-send refuses to run
    return Controls(
        locals=frozenset(x.lower() for x in locals_),
        percenthack=frozenset(x.lower() for x in (percenthack or ())),
        vdoms={k.lower(): v for k, v in (vdoms or {}).items()},
        envnoathost=me_or(envnoathost, b"envnoathost"),
        bouncefrom=bouncefrom if bouncefrom is not None else b"MAILER-DAEMON",
        bouncehost=me_or(bouncehost, b"bouncehost"),
        doublebounceto=(doublebounceto if doublebounceto is not None else b"postmaster")
        + b"@" + me_or(doublebouncehost, b"doublebouncehost"),
        lifetime=lifetime,
        concurrency=concurrency,
    )


def rewrite(recip: bytes, ctl: Controls) -> tuple[int, bytes]:
    """(LOCAL or REMOTE, the address stored in local/N or remote/N) for one recipient (§9.2)."""
    addr = recip
    i = addr.rfind(b"@")
    if i < 0:
        addr = addr + b"@" + ctl.envnoathost
        i = len(recip)
    while addr[i + 1:].lower() in ctl.percenthack:
        j = addr.rfind(b"%", 0, i)
        if j < 0:
            break
        addr = addr[:j] + b"@" + addr[j + 1:i]
        i = j
    at = addr.rfind(b"@")
    if addr[at + 1:].lower() in ctl.locals:
        return LOCAL, addr
    n = len(addr)
    for k in range(n + 1):
        if k == 0 or k == at + 1 or k == n or (k > at and addr[k:k + 1] == b"."):
            prepend = ctl.vdoms.get(addr[k:].lower())
            if prepend is not None:
                if not prepend:
                    break
                return LOCAL, prepend + b"-" + addr
    return REMOTE, addr


def senderadd(sender: bytes, recip: bytes) -> bytes:
    """VERP: a sender `owner-@host-@[]` becomes `owner-box=domain@host` for recipient
    box@domain; any other sender is passed on unchanged."""
    i = len(sender)
    if i >= 4 and sender.endswith(b"-@[]"):
        j = sender.rfind(b"@", 0, i - 4)
        if j < 0:
            j = i - 4
        k = recip.rfind(b"@")
        if k >= 0 and j + 5 <= i:
            return sender[:j] + recip[:k] + b"=" + recip[k + 1:] + b"@" + sender[j + 1:i - 4]
    return sender


def squareroot(x: int) -> int:
    """floor(sqrt(x)) for x >= 0, as qmail-send's bit-by-bit loop (16 bits of result)."""
    y = yy = 0
    for j in range(15, -1, -1):
        y21 = (y << (j + 1)) + (1 << (j + j))
        if y21 <= x - yy:
            y += 1 << j
            yy += y21
    return y


def next_retry(birth: int, recent: int, channel: int) -> int:
    """When the channel tries again after an attempt at RECENT (§9.3)."""
    n = 0 if birth > recent else squareroot(recent - birth)
    n += CHANSKIP[channel]
    return birth + n * n


def is_dying(birth: int, recent: int, lifetime: int) -> bool:
    return recent > birth + lifetime


def logsafe(s: bytes) -> bytes:
    """LF -> `/`; bytes < 33 (space too), > 126 and `%` -> `_` (qsutil.c issafe())."""
    return bytes(0x2F if c == 0x0A else 0x5F if c < 33 or c > 126 or c == 0x25 else c
                 for c in s)


# the activity log (spec/qmail.md §9.6); each function returns one whole line
def log_status(used: tuple, limits: tuple, exitasap: bool) -> bytes:
    return b"status: local %d/%d remote %d/%d%s\n" % (
        used[0], limits[0], used[1], limits[1], b" exitasap" if exitasap else b"")


def log_new(id_: int) -> bytes:
    return b"new msg %d\n" % id_


def log_info(id_: int, size: int, sender: bytes, qp: int, uid: int) -> bytes:
    return b"info msg %d: bytes %d from <%s> qp %d uid %d\n" % (id_, size, logsafe(sender),
                                                                qp, uid)


def log_starting(delid: int, id_: int, channel: int, recip: bytes) -> bytes:
    return b"starting delivery %d: msg %d to %s %s\n" % (delid, id_, CHANNEL_NAMES[channel],
                                                         logsafe(recip))


_RESULTS = {b"K": b"success", b"Z": b"deferral", b"D": b"failure"}


def log_delivery(delid: int, report: bytes) -> bytes:
    """`delivery D: success|deferral|failure: TEXT` or `report mangled, will defer`."""
    word = _RESULTS.get(report[:1])
    if word is None:
        return b"delivery %d: report mangled, will defer\n" % delid
    return b"delivery %d: %s: %s\n" % (delid, word, logsafe(report[1:]))


def log_end(id_: int) -> bytes:
    return b"end msg %d\n" % id_


def log_bounce(id_: int, qp: int) -> bytes:
    return b"bounce msg %d qp %d\n" % (id_, qp)


def dying_report(report: bytes) -> bytes:
    """A temporary failure after queuelifetime becomes permanent (§9.3)."""
    if report[:1] == b"Z":
        return b"D" + report[1:] + TOO_LONG
    return report


def strip_vdom_prepend(recip: bytes, vdoms: dict) -> bytes:
    """The address as the sender wrote it: a virtual domain's `prepend-` removed (§9.5)."""
    i = recip.rfind(b"@")
    if i < 0:
        return recip
    domain = recip[i + 1:]
    n = len(domain)
    for k in range(n + 1):
        if k == 0 or k == n or domain[k:k + 1] == b".":
            prepend = vdoms.get(domain[k:].lower())
            if prepend is not None:
                if not prepend:
                    break
                if recip[:len(prepend)] != prepend or recip[len(prepend):len(prepend) + 1] != b"-":
                    break
                return recip[len(prepend) + 1:]
    return recip


def bounce_paragraph(recip: bytes, report: bytes, vdoms: dict) -> bytes:
    """What addbounce() appends to bounce/N: `<recip>:` LF, the report (blank lines inside
    it become `/`), an empty line. REPORT is the text after the K/Z/D letter."""
    text = bytearray(b"<" + strip_vdom_prepend(recip, vdoms).replace(b"\n", b"_") + b">:\n")
    text += report
    if report and not report.endswith(b"\n"):
        text += b"\n"
    for pos in range(len(text) - 2, 0, -1):
        if text[pos] == 0x0A and text[pos - 1] == 0x0A:
            text[pos] = 0x2F
    return bytes(text + b"\n")


@dataclass(frozen=True, slots=True)
class Bounce:
    sender: bytes              # envelope sender of the bounce: b"" or b"#@[]"
    recipient: bytes
    head: bytes                # header and text up to the paragraphs
    separator: bytes           # `--- Below this line ...` + blank line + Return-Path line


def bounce_sender_of(sender: bytes) -> bytes:
    """The address a bounce goes to: VERP `owner-@host-@[]` -> `owner-@host`."""
    if sender.endswith(b"-@[]"):
        return sender[:-4]
    return sender


def bounce_message(sender: bytes, ctl: Controls, now: float) -> Bounce | None:
    """The bounce (or double bounce) for a message from SENDER; None: triple bounce."""
    sender = bounce_sender_of(sender)
    if sender == b"#@[]":
        return None
    if sender:
        bsender, brecip = b"", sender
        text = (b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
                b"This is a permanent error; I've given up. Sorry it didn't work out.\n\n")
        sep = b"--- Below this line is a copy of the message.\n\n"
    else:
        bsender, brecip = b"#@[]", ctl.doublebounceto
        text = b"I tried to deliver a bounce message to this address, but the bounce bounced!\n\n"
        sep = b"--- Below this line is the original bounce.\n\n"
    head = (b"Date: " + date822(now)
            + b"From: " + quote(ctl.bouncefrom) + b"@" + ctl.bouncehost + b"\n"
            + b"To: " + quote2(brecip) + b"\n"
            + b"Subject: failure notice\n\n"
            + b"Hi. This is the qmail-send program at " + ctl.bouncehost + b".\n" + text)
    return Bounce(bsender, brecip, head, sep + b"Return-Path: <" + quote2(sender) + b">\n")
