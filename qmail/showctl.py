"""qmail-showctl: describe qmail's compiled-in settings and every control file (spec/qmail.md
§12.3, §13). Reads $QMAILHOME/control; prints on fd 1; exit 0, or 111 when control/ cannot be
read. qmail's accounts missing from passwd show the current uid/gid, as qmail-install uses
(the C stops with `fatal: unable to find user`)."""
import os

from qmail.control import qmail_home

BREAK, PATERNALISM, SPAWN, SPLIT = b"-", 2, 120, 23
USERS = ("alias", "qmaild", "qmaill", "root", "qmailp", "qmailq", "qmailr", "qmails")
GROUPS = ("nofiles", "qmail")

# (kind, name, default, prefix, suffix[, default is me]) in qmail-showctl.c's order
INTS = {
    "concurrencylocal": (b"10", b"Local concurrency is ", b""),
    "concurrencyremote": (b"20", b"Remote concurrency is ", b""),
    "databytes": (b"0", b"SMTP DATA limit is ", b" bytes"),
    "queuelifetime": (b"604800", b"Message lifetime in the queue is ", b" seconds"),
    "timeoutconnect": (b"60", b"SMTP client connection timeout is ", b" seconds"),
    "timeoutremote": (b"1200", b"SMTP client data timeout is ", b" seconds"),
    "timeoutsmtpd": (b"1200", b"SMTP server data timeout is ", b" seconds"),
}
STRS = {    # name: (default is me, default, prefix)
    "bouncefrom": (False, b"MAILER-DAEMON", b"Bounce user name is "),
    "bouncehost": (True, b"bouncehost", b"Bounce host name is "),
    "defaultdomain": (True, b"defaultdomain", b"Default domain name is "),
    "defaulthost": (True, b"defaulthost", b"Default host name is "),
    "doublebouncehost": (True, b"doublebouncehost", b"2B recipient host: "),
    "doublebounceto": (False, b"postmaster", b"2B recipient user: "),
    "envnoathost": (True, b"envnoathost", b"Presumed domain name is "),
    "helohost": (True, b"helohost", b"SMTP client HELO host name is "),
    "idhost": (True, b"idhost", b"Message-ID host name is "),
    "localiphost": (True, b"localiphost", b"Local IP address becomes "),
    "me": (False, b"undefined! Uh-oh", b"My name is "),
    "plusdomain": (True, b"plusdomain", b"Plus domain name is "),
    "smtpgreeting": (True, b"smtpgreeting", b"SMTP greeting: 220 "),
}
LISTS = {   # name: (default text, prefix, suffix)
    "badmailfrom": (b"Any MAIL FROM is allowed.", b"", b" not accepted in MAIL FROM."),
    "locals": (b"Messages for me are delivered locally.", b"Messages for ",
               b" are delivered locally."),
    "percenthack": (b"The percent hack is not allowed.",
                    b"The percent hack is allowed for user%host@", b"."),
    "qmqpservers": (b"No QMQP servers.", b"QMQP server: ", b"."),
    "rcpthosts": (b"SMTP clients may send messages to any recipient.",
                  b"SMTP clients may send messages to recipients at ", b"."),
    "smtproutes": (b"No artificial SMTP routes.", b"SMTP route: ", b""),
    "virtualdomains": (b"No virtual domains.", b"Virtual domain: ", b""),
}
MORERCPTHOSTS_WITH = (b"No effect.", b"SMTP clients may send messages to recipients at ", b".")
MORERCPTHOSTS_WITHOUT = (b"No rcpthosts; morercpthosts is irrelevant.",
                         b"No rcpthosts; doesn't matter that morercpthosts has ", b".")
ORDER = ("badmailfrom", "bouncefrom", "bouncehost", "concurrencylocal", "concurrencyremote",
         "databytes", "defaultdomain", "defaulthost", "doublebouncehost", "doublebounceto",
         "envnoathost", "helohost", "idhost", "localiphost", "locals", "me", "percenthack",
         "plusdomain", "qmqpservers", "queuelifetime", "rcpthosts", "morercpthosts",
         "morercpthosts.cdb", "smtpgreeting", "smtproutes", "timeoutconnect", "timeoutremote",
         "timeoutsmtpd", "virtualdomains")
TROUBLE = b"Oops! Trouble reading this file.\n"


def safe(text: bytes) -> bytes:
    return bytes(c if 32 <= c <= 126 else 63 for c in text)


class Reader:
    """control_readline/readfile over the current directory: (1, value) / (0, None) / (-1, None)."""

    @staticmethod
    def data(name: str) -> tuple[int, bytes | None]:
        try:
            with open(name, "rb") as f:
                return 1, f.read()
        except FileNotFoundError:
            return 0, None
        except OSError:
            return -1, None

    def line(self, name: str) -> tuple[int, bytes | None]:
        status, data = self.data(name)
        if status != 1:
            return status, None
        return 1, data.split(b"\n", 1)[0].rstrip(b" \t")

    def lines(self, name: str) -> tuple[int, list[bytes] | None]:
        status, data = self.data(name)
        if status != 1:
            return status, None
        stripped = (line.rstrip(b" \t") for line in data.split(b"\n"))
        return 1, [line for line in stripped if line and not line.startswith(b"#")]


def do_int(r: Reader, name: str) -> bytes:
    default, pre, post = INTS[name]
    status, line = r.line(name)
    head = b"\n%s: " % name.encode()
    if status == -1:
        return head + TROUBLE
    digits = len(line) - len(line.lstrip(b"0123456789")) if status == 1 else 0
    if not digits:
        return head + b"(Default.) " + pre + default + post + b".\n"
    # control_readint(): scan_ulong into an unsigned long, stored in an int; negative -> 0
    value = int(line[:digits]) % (1 << 64) % (1 << 32)
    return head + pre + b"%d" % (value if value < 1 << 31 else 0) + post + b".\n"


def do_str(r: Reader, name: str, me: bytes | None) -> bytes:
    flagme, default, pre = STRS[name]
    status, line = r.line(name)
    head = b"\n%s: " % name.encode()
    if status == -1:
        return head + TROUBLE
    if status == 0:
        value = me if flagme and me is not None else default
        return head + b"(Default.) " + pre + safe(value) + b".\n"
    return head + pre + safe(line) + b".\n"


def do_lst(r: Reader, name: str, texts: tuple[bytes, bytes, bytes]) -> tuple[int, bytes]:
    default, pre, post = texts
    status, lines = r.lines(name)
    head = b"\n%s: " % name.encode()
    if status == -1:
        return -1, head + TROUBLE
    if status == 0:
        return 0, head + b"(Default.) " + default + b"\n"
    return 1, head + b"\n" + b"".join(pre + safe(line) + post + b"\n" for line in lines)


def morercpthosts_cdb() -> bytes:
    head = b"\nmorercpthosts.cdb: "
    try:
        source = os.stat("morercpthosts")
    except OSError:
        source = None
    try:
        cdb = os.stat("morercpthosts.cdb")
    except OSError:
        cdb = None
    if source is None:
        if cdb is None:
            return head + b"(Default.) No effect.\n"
        return head + b"Oops! morercpthosts.cdb exists but morercpthosts doesn't.\n"
    if cdb is None:
        return head + b"Oops! morercpthosts exists but morercpthosts.cdb doesn't.\n"
    if int(source.st_mtime) > int(cdb.st_mtime):
        return head + b"Oops! morercpthosts.cdb is older than morercpthosts.\n"
    return head + b"Modified recently enough; hopefully up to date.\n"


def settings(home: str) -> bytes:
    from qmail.users import account, gid_of

    uids = b", ".join(b"%d" % account(u).uid for u in USERS)
    gids = b", ".join(b"%d" % gid_of(g) for g in GROUPS)
    return (b"qmail home directory: %s.\nuser-ext delimiter: %s.\npaternalism (in decimal): %d.\n"
            b"silent concurrency limit: %d.\nsubdirectory split: %d.\nuser ids: %s.\n"
            b"group ids: %s.\n" % (os.fsencode(home), BREAK, PATERNALISM, SPAWN, SPLIT, uids, gids))


def show(home: str) -> tuple[int, bytes]:
    out = bytearray(settings(home))
    try:
        os.chdir(home)
    except OSError:
        return 111, bytes(out) + b"Oops! Unable to chdir to %s.\n" % os.fsencode(home)
    try:
        os.chdir("control")
    except OSError:
        return 111, bytes(out) + b"Oops! Unable to chdir to control.\n"
    try:
        names = os.listdir(".")
    except OSError:
        return 111, bytes(out) + b"Oops! Unable to open current directory.\n"
    r = Reader()
    status, me = r.line("me")
    if status == -1:
        return 111, bytes(out) + b"Oops! Trouble reading control/me."
    rcpthosts = 0
    for name in ORDER:
        if name in INTS:
            out += do_int(r, name)
        elif name in STRS:
            out += do_str(r, name, me)
        elif name == "morercpthosts":
            out += do_lst(r, name, MORERCPTHOSTS_WITH if rcpthosts else MORERCPTHOSTS_WITHOUT)[1]
        elif name == "morercpthosts.cdb":
            out += morercpthosts_cdb()
        else:
            status, text = do_lst(r, name, LISTS[name])
            out += text
            if name == "rcpthosts":
                rcpthosts = status
    for name in names:
        if name not in ORDER:
            out += b"\n%s: I have no idea what this file does.\n" % os.fsencode(name)
    return 0, bytes(out)


def main(argv: list[str] | None = None) -> int:
    del argv           # qmail-showctl takes no arguments
    code, text = show(qmail_home())
    view = memoryview(text)
    try:
        while view:
            view = view[os.write(1, view):]
    except OSError:
        pass
    return code
