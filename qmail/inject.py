"""qmail-inject [-nNaAhH] [-fsender] [recip ...]: fix the header of the message on fd 0 and
queue it (spec/qmail.md §8.1).

Recipients: -A (default) the arguments if any, else the header's; -a arguments only; -h the
header only; -H both. -n prints the message (after a Return-Path line) instead of queueing.
Environment: QMAILUSER MAILUSER USER LOGNAME, QMAILHOST MAILHOST, QMAILNAME MAILNAME NAME,
QMAILSUSER QMAILSHOST, QMAILINJECT (c s f i r m), QMAILMFTFILE, QMAILDEFAULTDOMAIN
QMAILDEFAULTHOST QMAILIDHOST QMAILPLUSDOMAIN, QMAILQUEUE. Controls: defaultdomain,
defaulthost, idhost, plusdomain (each: the file, else me, else its own name).
Exit 0; 100 misuse, unparseable sender-type field, invalid field, permanent queue failure;
111 temporary failures. Messages on fd 2 as `qmail-inject: fatal: ...`.
"""
import os
import sys
import time

from qmail import token822 as tk
from qmail.quote import quote2, quote_need

LINELEN = 80

# hfield.c's known fields, in its order (H_SENDER = 1 ...)
FIELDS = (
    b"sender", b"from", b"reply-to", b"to", b"cc", b"bcc", b"date", b"message-id", b"subject",
    b"resent-sender", b"resent-from", b"resent-reply-to", b"resent-to", b"resent-cc",
    b"resent-bcc", b"resent-date", b"resent-message-id", b"return-receipt-to", b"errors-to",
    b"apparently-to", b"received", b"return-path", b"delivered-to", b"content-length",
    b"content-type", b"content-transfer-encoding", b"notice-requested-upon-delivery-to",
    b"mail-followup-to")
(H_SENDER, H_FROM, H_REPLYTO, H_TO, H_CC, H_BCC, H_DATE, H_MESSAGEID, H_SUBJECT, H_R_SENDER,
 H_R_FROM, H_R_REPLYTO, H_R_TO, H_R_CC, H_R_BCC, H_R_DATE, H_R_MESSAGEID, H_RETURNRECEIPTTO,
 H_ERRORSTO, H_APPARENTLYTO, H_RECEIVED, H_RETURNPATH, H_DELIVEREDTO, H_CONTENTLENGTH,
 H_CONTENTTYPE, H_CONTENTTRANSFERENCODING, H_NOTICEREQUESTED, H_MAILFOLLOWUPTO) = range(1, 29)

RESENT = (H_R_SENDER, H_R_FROM, H_R_REPLYTO, H_R_TO, H_R_CC, H_R_BCC, H_R_DATE, H_R_MESSAGEID)
SENDER_TYPE = (H_SENDER, H_FROM, H_REPLYTO, H_RETURNRECEIPTTO, H_ERRORSTO, H_R_SENDER,
               H_R_FROM, H_R_REPLYTO)
DROPPED = (H_BCC, H_R_BCC, H_RETURNPATH, H_CONTENTLENGTH)

# spec/qmail.md §8.1
PARSE_LINE = b"qmail-inject: fatal: unable to parse this line:\n"
INVALID_FIELD = b"qmail-inject: fatal: invalid header field: "
PARSE_ADDRESS = b"qmail-inject: fatal: unable to parse address: "
NO_QUEUE = b"qmail-inject: fatal: unable to run qmail-queue\n"
READ_ERROR = b"qmail-inject: fatal: read error\n"
NO_HOME = b"qmail-inject: fatal: internal bug\n"          # die_chdir(): no qmail home
NOT_SHOWN = b"Cc: recipient list not shown: ;\n"

_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct",
           b"Nov", b"Dec")


class Fatal(Exception):
    """Exit CODE after writing TEXT (complete, with LF) to fd 2."""

    def __init__(self, code: int, text: bytes) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def field_type(line: bytes) -> int:
    """hfield_known(): the known field's number, 0 for others (name, blanks, colon)."""
    name, colon, _ = line.partition(b":")
    if not colon:
        return 0
    name = name.rstrip(b" \t").lower()
    for number, known in enumerate(FIELDS, 1):
        if name == known:
            return number
    return 0


def field_valid(line: bytes) -> bool:
    """hfield_valid(): a colon, and a non-empty name of bytes 33..126 before it (blanks allowed
    between name and colon)."""
    colon = line.find(b":")
    if colon == -1:
        return False
    name = line[:colon].rstrip(b" \t")
    return bool(name) and all(33 <= c <= 126 for c in name)


def date_field(now: float) -> bytes:
    """`Date: 26 Sep 1995 04:46:53 -0000` LF."""
    t = time.gmtime(now)
    return b"Date: %d %s %d %02d:%02d:%02d -0000\n" % (
        t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)


def msgid_field(idhost: bytes, now: float, pid: int) -> bytes:
    """`Message-ID: <YYYYMMDDHHMMSS.PID.qmail@idhost>` LF."""
    t = time.gmtime(now)
    return b"Message-ID: <%d%02d%02d%02d%02d%02d.%d.qmail@%s>\n" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, pid, idhost)


def split_header(message: bytes) -> tuple[list[bytes], bytes]:
    """headerbody(): the header fields (continuations joined, each ending in LF; a first
    `From ` line becomes `MBOX-Line: From ...`) and the body (with its separating empty
    line; an invalid line ends the header and gets an empty line before it). A final line
    without LF gets one."""
    if message and not message.endswith(b"\n"):
        message += b"\n"
    fields: list[bytes] = []
    current: bytes | None = None
    pos = 0
    n = len(message)
    while pos < n:
        end = message.index(b"\n", pos) + 1
        line = message[pos:end]
        if current is not None and line[:1] in (b" ", b"\t"):
            current += line
            pos = end
            continue
        if current is not None:
            fields.append(current)
            current = None
        if line == b"\n":
            return fields, message[pos:]
        if line.startswith(b"From "):
            current = b"MBOX-Line: " + line
        elif field_valid(line):
            current = line
        else:
            return fields, b"\n" + message[pos:]
        pos = end
    if current is not None:
        fields.append(current)
    return fields, b""


class Injector:
    """The header rewriting of qmail-inject for one message (pure but for its inputs)."""

    def __init__(self, *, env: dict[bytes, bytes], controls: dict[str, bytes], now: float,
                 pid: int, mft: set[bytes] | None = None) -> None:
        self.now, self.pid = now, pid
        opts = env.get(b"QMAILINJECT", b"")
        self.namecomment = b"c" in opts
        self.deletesender = b"s" in opts
        self.deletefrom = b"f" in opts
        self.deletemessid = b"i" in opts
        self.hackrecip = b"r" in opts
        self.hackmess = b"m" in opts
        self.mailhost = env.get(b"QMAILHOST", env.get(b"MAILHOST"))
        self.mailrhost = env.get(b"QMAILSHOST", self.mailhost)
        user = None
        for name in (b"QMAILUSER", b"MAILUSER", b"USER", b"LOGNAME"):
            user = env.get(name)
            if user is not None:
                break
        self.mailuser = b"anonymous" if user is None else user
        self.mailruser = env.get(b"QMAILSUSER", self.mailuser)
        self.fullname = env.get(b"QMAILNAME", env.get(b"MAILNAME", env.get(b"NAME")))
        self.mft = mft
        self.idhost = controls["idhost"]
        self.defaultdomain = self._control_tokens(b"." + controls["defaultdomain"])
        self.defaulthost = self._control_tokens(b"@" + controls["defaulthost"])
        self.plusdomain = self._control_tokens(b"." + controls["plusdomain"])
        self.sender: bytes | None = None
        self.seen: set[int] = set()
        self.saved: list[bytes] = []
        self.recips: list[bytes] = []         # from the arguments
        self.hr: list[bytes] = []             # To Cc Bcc Apparently-To
        self.hrr: list[bytes] = []            # Resent-To -Cc -Bcc
        self.tocc: list[bytes] = []
        self.resent = False

    @staticmethod
    def _control_tokens(text: bytes) -> list[tk.Token]:
        tokens = tk.parse(text)
        if tokens is None:
            raise Fatal(100, PARSE_LINE + text)
        return tokens

    # -- address rewriting (tokens in reverse order, as token822_addrlist hands them over)

    def rwgeneric(self, addr: list[tk.Token]) -> None:
        if not addr:
            return                                             # don't rewrite <>
        if len(addr) >= 2 and addr[1][0] == tk.AT and addr[0] == (tk.LITERAL, b""):
            return                                             # nor <foo@[]>
        if addr[-1][0] == tk.AT:                               # source route: drop to the colon
            while addr:
                if addr.pop()[0] == tk.COLON:
                    break
        if not addr:
            return
        if addr[0][0] == tk.DOT:
            del addr[0]
        if not addr:
            return
        if addr[0][0] == tk.AT:
            del addr[0]
        if not addr:
            return
        if not any(kind == tk.AT for kind, _ in addr):
            addr[0:0] = self.defaulthost[::-1]
        kind, text = addr[0]
        if kind == tk.ATOM and text.endswith(b"+"):
            addr[0] = (tk.ATOM, text[:-1])
            addr[0:0] = self.plusdomain[::-1]
        for kind, _ in addr:
            if kind == tk.DOT:
                return
            if kind == tk.AT:
                break
        for kind, _ in addr:
            if kind == tk.LITERAL:
                return
            if kind == tk.AT:
                break
        addr[0:0] = self.defaultdomain[::-1]

    def _setreturn(self, addr: list[tk.Token]) -> None:
        if self.sender is None:
            self.sender = tk.unquote(addr[::-1]) + (b"-@[]" if self.hackrecip else b"")

    def _rw(self, addr: list[tk.Token], lists: tuple[list[bytes], ...] = (), ret: bool = False):
        self.rwgeneric(addr)
        if ret:
            self._setreturn(addr)
        for target in lists:
            target.append(tk.unquote(addr[::-1]))

    # -- the message

    def set_sender(self, sender: bytes) -> None:
        """-f: the envelope sender, rewritten like any address."""
        text = quote2(sender)
        tokens = tk.parse(text)
        if tokens is None:
            raise Fatal(100, PARSE_LINE + text)
        tokens.reverse()
        self.rwgeneric(tokens)
        tokens.reverse()
        self.sender = tk.unquote(tokens)

    def add_recipient(self, recipient: bytes) -> None:
        tokens = tk.parse(quote2(recipient))
        if tokens is None:
            raise Fatal(100, PARSE_ADDRESS + recipient + b"\n")
        tokens.reverse()
        self.rwgeneric(tokens)
        self.recips.append(tk.unquote(tokens[::-1]))

    def header_field(self, field: bytes) -> None:
        htype = field_type(field)
        if (self.deletefrom and htype == H_FROM or self.deletemessid and htype == H_MESSAGEID
                or self.deletesender and htype == H_RETURNPATH):
            return
        if htype:
            self.seen.add(htype)
        elif not field_valid(field):
            raise Fatal(100, INVALID_FIELD + field)
        callback = None
        mayfail = True
        if htype in (H_TO, H_CC):
            callback = lambda a: self._rw(a, (self.hr, self.tocc))   # noqa: E731
        elif htype in (H_BCC, H_APPARENTLYTO):
            callback = lambda a: self._rw(a, (self.hr,))             # noqa: E731
        elif htype in (H_R_TO, H_R_CC, H_R_BCC):
            callback = lambda a: self._rw(a, (self.hrr,))            # noqa: E731
        elif htype == H_RETURNPATH:
            callback, mayfail = (lambda a: self._rw(a, ret=True)), False  # noqa: E731
        elif htype in SENDER_TYPE:
            callback, mayfail = self._rw, False
        if callback is not None:
            tokens = tk.parse(field)
            rewritten = tk.addrlist(tokens, callback) if tokens is not None else None
            if rewritten is None:
                if not mayfail:
                    raise Fatal(100, PARSE_LINE + field)
            else:
                field = tk.unparse(rewritten, LINELEN)
        if htype not in DROPPED:
            self.saved.append(field)

    def _rewrite_new(self, tokens: list[tk.Token], callback) -> bytes:
        text = tk.unparse(tokens, LINELEN)
        parsed = tk.parse(text)
        rewritten = tk.addrlist(parsed, callback) if parsed is not None else None
        if rewritten is None:
            raise Fatal(100, PARSE_LINE + text)
        return tk.unparse(rewritten, LINELEN)

    def default_from(self) -> bytes:
        tokens: list[tk.Token] = [(tk.ATOM, b"From"), (tk.COLON, b"")]
        named = self.fullname is not None and not self.namecomment
        if named:
            tokens += [(tk.QUOTE, self.fullname), (tk.LEFT, b"")]
        tokens.append((tk.QUOTE if quote_need(self.mailuser) else tk.ATOM, self.mailuser))
        if self.mailhost is not None:
            tokens += [(tk.AT, b""), (tk.ATOM, self.mailhost)]
        if named:
            tokens.append((tk.RIGHT, b""))
        if self.fullname is not None and self.namecomment:
            tokens.append((tk.COMMENT, self.fullname))
        return self._rewrite_new(tokens, self._rw)

    def default_return_path(self) -> None:
        user = self.mailruser
        if self.hackmess:
            user += b"-%d.%d" % (int(self.now), self.pid)
        if self.hackrecip:
            user += b"-"
        tokens: list[tk.Token] = [(tk.ATOM, b"Return-Path"), (tk.COLON, b""), (tk.QUOTE, user)]
        if self.mailrhost is not None:
            tokens += [(tk.AT, b""), (tk.ATOM, self.mailrhost)]
        self._rewrite_new(tokens, lambda a: self._rw(a, ret=True))

    def finish_header(self, show_return_path: bool) -> bytes:
        """Everything before the saved fields: Return-Path (with -n) and the added fields."""
        seen = self.seen
        self.resent = any(h in seen for h in RESENT)
        if self.sender is None:
            self.default_return_path()
        out = bytearray()
        if show_return_path:
            out += b"Return-Path: <" + quote2(self.sender or b"") + b">\n"
        prefix = b"Resent-" if self.resent else b""
        if (H_R_DATE if self.resent else H_DATE) not in seen:
            out += prefix + date_field(self.now)
        if (H_R_MESSAGEID if self.resent else H_MESSAGEID) not in seen:
            out += prefix + msgid_field(self.idhost, self.now, self.pid)
        if (H_R_FROM if self.resent else H_FROM) not in seen:
            out += prefix + self.default_from()
        if self.resent:
            if H_R_TO not in seen and H_R_CC not in seen:
                out += b"Resent-" + NOT_SHOWN
        else:
            if H_TO not in seen and H_CC not in seen:
                out += NOT_SHOWN
            out += self.followup_to()
        return bytes(out)

    def followup_to(self) -> bytes:
        if not self.mft or H_MAILFOLLOWUPTO in self.seen:
            return b""
        if not any(r.lower() in self.mft for r in self.tocc):
            return b""
        return b"Mail-Followup-To: " + b",\n  ".join(quote2(r) for r in reversed(self.tocc)) + b"\n"

    def envelope(self, header_recipients: bool) -> tuple[bytes, list[bytes]]:
        recipients = list(self.recips)
        if header_recipients:
            recipients += self.hrr if self.resent else self.hr
        return self.sender or b"", recipients


RECIP_DEFAULT, RECIP_ARGS, RECIP_HEADER, RECIP_AH = 1, 2, 3, 4


def parse_options(injector: Injector, argv: list[str]) -> tuple[int, bool, list[str]]:
    """(recipient strategy, queue it?, arguments); -f sets the injector's sender."""
    from qmail.sgetopt import getopt

    options, args, errors = getopt("qmail-inject", argv, "aAhHnNf:")
    strategy, queue = RECIP_DEFAULT, True
    for letter, value in options:
        if letter == "?":
            raise Fatal(100, b"".join(e.encode() + b"\n" for e in errors))
        if letter in "aAhH":
            strategy = {"a": RECIP_ARGS, "A": RECIP_DEFAULT, "h": RECIP_HEADER,
                        "H": RECIP_AH}[letter]
        elif letter in "nN":
            queue = letter == "N"
        else:
            injector.set_sender(os.fsencode(value))
    if strategy == RECIP_DEFAULT:
        strategy = RECIP_ARGS if args else RECIP_HEADER
    return strategy, queue, args


def inject(injector: Injector, message: bytes, strategy: int, queue: bool, args: list[str]
           ) -> tuple[bytes, bytes, list[bytes]]:
    """The message as sent (header fixed), the envelope sender and the recipients."""
    if strategy != RECIP_HEADER:
        for arg in args:
            injector.add_recipient(os.fsencode(arg))
    fields, body = split_header(message)
    for field in fields:
        injector.header_field(field)
    head = injector.finish_header(show_return_path=not queue)
    sender, recipients = injector.envelope(strategy != RECIP_ARGS)
    return head + b"".join(injector.saved) + body, sender, recipients


def controls() -> dict[str, bytes]:
    from qmail import control

    if not os.path.isdir(control.qmail_home()):
        raise Fatal(111, NO_HOME)
    values = {}
    for name, variable in (("defaultdomain", "QMAILDEFAULTDOMAIN"),
                           ("defaulthost", "QMAILDEFAULTHOST"),
                           ("plusdomain", "QMAILPLUSDOMAIN"), ("idhost", "QMAILIDHOST")):
        try:
            values[name] = control.read_line_or_me(name, name.encode())
        except control.ControlError:
            raise Fatal(111, READ_ERROR) from None
        if os.environb.get(variable.encode()) is not None:
            values[name] = os.environb[variable.encode()]
    return values


def read_mft() -> set[bytes] | None:
    path = os.environb.get(b"QMAILMFTFILE")
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        raise Fatal(111, READ_ERROR) from None
    lines = (line.rstrip(b" \t") for line in data.split(b"\n"))
    return {line.lower() for line in lines if line and not line.startswith(b"#")}


def run(argv: list[str]) -> int:
    from qmail.delivery import Queue, write_all

    mft = read_mft()
    injector = Injector(env=dict(os.environb), controls=controls(), now=time.time(),
                        pid=os.getpid(), mft=mft)
    strategy, queue_it, args = parse_options(injector, argv)
    chunks = []
    try:
        while data := os.read(0, 65536):
            chunks.append(data)
    except OSError:
        raise Fatal(111, READ_ERROR) from None
    message, sender, recipients = inject(injector, b"".join(chunks), strategy, queue_it, args)
    if not queue_it:
        write_all(1, message)
        return 0
    try:
        queue = Queue()
    except OSError:
        raise Fatal(111, NO_QUEUE) from None
    queue.put(message)
    result = queue.close(sender, recipients)
    if result:
        raise Fatal(100 if result[:1] == b"D" else 111,
                    b"qmail-inject: fatal: " + result[1:] + b"\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except Fatal as e:
        fatal = e
    except Exception:                             # noqa: BLE001  (a bug: temporary)
        fatal = Fatal(111, b"qmail-inject: fatal: internal bug\n")
    try:
        os.write(2, fatal.text)
    except OSError:
        pass
    return fatal.code
