"""rblsmtpd [ -b ] [ -B ] [ -c ] [ -C ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]:
block SMTP clients listed in an RBL, else run smtpd (spec/ucspi-tcp.md §5.2).

Runs once per connection under tcpserver, so it imports little; dnspython is loaded only
when a -r/-a lookup is made. Environment: TCPREMOTEIP (the client), RBLSMTPD (set and empty:
accept with no lookups; `-text`: block with 553; other text: block with 451). Options act in
command-line order: -r/-a look up at once, -b/-B/-c/-C affect only later -r/-a. Debian's
build has no default RBL. fds 0/1: the client; fd 2: one log line per blocked client.
Exit: smtpd's status (exec); 0 after a blocked conversation; 100 usage; 111 exec failure.
"""
import os
import sys

from tcpserver.sgetopt import getopt

# spec/ucspi-tcp.md §5.2 (the usage line advertises -R, which getopt rejects)
USAGE = (b"rblsmtpd: usage: rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ]"
         b" smtpd [ arg ... ]\n")
OPTSTRING = b"bBcCt:r:a:"
GREETING = b"220 rblsmtpd.local\r\n"
ACCEPTED = b"250 rblsmtpd.local\r\n"
GOODBYE = b"221 rblsmtpd.local\r\n"
LOOKUP_FAILED = b"temporary RBL lookup error"
DEFAULT_TIMEOUT = 60
MAX_TEXT = 200

# decisions, as the C numbers them
UNDECIDED, ACCEPT, REJECT, BOUNCE = 0, 1, 2, 3


# ---------------------------------------------------------------- pure parts

def reverse_ip(ip: bytes) -> bytes:
    """TCPREMOTEIP's dot-separated parts in reverse order, each followed by a dot (ip_init)."""
    out = b""
    i = len(ip)
    while i:
        j = ip.rfind(b".", 0, i) + 1
        out += ip[j:i] + b"."
        if not j:
            break
        i = j - 1
    return out


def sanitize(message: bytes) -> bytes:
    """Every byte outside 32..126 becomes `?`."""
    return bytes(c if 32 <= c <= 126 else 63 for c in message)


class Verdict:
    """The decision, made in option order: RBLSMTPD first, then each -r/-a (§5.2).

    txt(name) and ip4(name) are the lookups (tcpserver.dns.txt/ip4); a failing one raises
    LookupFailed (any exception class given as `failure`).
    """

    def __init__(self, rblsmtpd: bytes | None, ip: bytes, txt, ip4, failure=Exception) -> None:
        self.decision = UNDECIDED
        self.text = b""
        self.bounce = False             # -b / -B
        self.fail_closed = False        # -c / -C
        self.must_not_bounce = False    # a lookup failed: never 553
        self._reversed = reverse_ip(ip)
        self._txt, self._ip4, self._failure = txt, ip4, failure
        if rblsmtpd is not None:
            if not rblsmtpd:
                self.decision = ACCEPT
            elif rblsmtpd[:1] == b"-":
                self.decision, self.text = BOUNCE, rblsmtpd[1:]
            else:
                self.decision, self.text = REJECT, rblsmtpd

    def rbl(self, base: bytes) -> None:
        """-r base: a TXT answer for d.c.b.a.base blocks with its text."""
        if self.decision:
            return
        try:
            text = self._txt(self._reversed + base)
        except self._failure:
            self.must_not_bounce = True
            if self.fail_closed:
                self.decision, self.text = REJECT, LOOKUP_FAILED
            return
        if text:
            self.decision, self.text = (BOUNCE if self.bounce else REJECT), text

    def antirbl(self, base: bytes) -> None:
        """-a base: an A record for d.c.b.a.base accepts; a failure accepts unless -c."""
        if self.decision:
            return
        try:
            found = self._ip4(self._reversed + base)
        except self._failure:
            self.must_not_bounce = True
            if not self.fail_closed:
                self.decision = ACCEPT
            return
        if found:
            self.decision = ACCEPT

    @property
    def blocked(self) -> bool:
        return self.decision >= REJECT

    def message(self) -> bytes:
        """`451 TEXT` or `553 TEXT`, text cut to 200 bytes, odd bytes as `?` (no CRLF)."""
        code = b"451 " if self.must_not_bounce or self.decision == REJECT else b"553 "
        return sanitize(code + self.text[:MAX_TEXT])


class RblSession:
    """The conversation with a blocked client, sans I/O: feed bytes, get the reply bytes.

    Lines end at LF, one CR before it is dropped; the verb is the text before the first
    space (a NUL does not end it), compared ignoring case. QUIT ends the session (`done`).
    """

    def __init__(self, message: bytes) -> None:
        self.reject = message + b"\r\n"
        self.done = False
        self._buffer = b""
        self._commands = {      # verb: reply      spec/ucspi-tcp.md §5.2
            b"quit": GOODBYE, b"helo": ACCEPTED, b"ehlo": ACCEPTED, b"mail": ACCEPTED,
            b"rset": ACCEPTED, b"noop": ACCEPTED,
        }

    def receive_data(self, data: bytes) -> bytes:
        """Replies for the complete lines in DATA (a partial line waits for more)."""
        out = []
        self._buffer += data
        while not self.done:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line, self._buffer = self._buffer[:end], self._buffer[end + 1:]
            if line.endswith(b"\r"):
                line = line[:-1]
            verb = line.split(b" ", 1)[0]       # a NUL is just another byte (commands.c)
            out.append(self._commands.get(verb.lower(), self.reject))
            if verb.lower() == b"quit":
                self.done = True
        return b"".join(out)


def _scan_ulong(s: bytes) -> int:
    digits = len(s) - len(s.lstrip(b"0123456789"))
    return int(s[:digits]) % (1 << 64) if digits else 0


# ---------------------------------------------------------------- driver

def _write2(data: bytes) -> None:
    # not tcpserver.die.write2: importing die (and rules.errors) costs ~1.3 ms per start
    try:
        os.write(2, data)
    except OSError:
        pass


def _write1(data: bytes) -> None:
    while data:
        try:
            data = data[os.write(1, data):]
        except OSError:
            return


def converse(message: bytes, timeout: int) -> None:
    """Greet, answer until QUIT, EOF or the overall timeout, then exit 0 (SIGALRM as in the C)."""
    import _signal      # not `signal`: its enums cost ~6 ms per connection
    if not timeout:
        _write1(message + b"\r\n")
        return
    _signal.signal(_signal.SIGALRM, lambda *_: os._exit(0))
    _signal.alarm(timeout & 0xFFFFFFFF)
    session = RblSession(message)
    _write1(GREETING)
    while not session.done:
        try:
            data = os.read(0, 1024)
        except OSError:
            return
        if not data:
            return
        reply = session.receive_data(data)
        if reply:
            _write1(reply)


def prepare() -> None:
    """Warm-up for a server that runs main() in forked children (tcpserver's warm handler):
    import what a lookup and an exec need once, so no connection pays for dnspython."""
    from rules.errors import djb_error  # noqa: F401
    from tcpserver import argv0, dns, environ  # noqa: F401
    dns.preload()


def main(argv=None) -> int:
    import _signal
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)   # a write to a gone client ends us, as in C
    if argv is None:
        argv = [os.fsencode(a) for a in sys.argv]
    environ = os.environb
    ip = environ.get(b"TCPREMOTEIP", b"")

    def txt(name):
        from tcpserver import dns
        return dns.txt(name)

    def ip4(name):
        from tcpserver import dns
        return dns.ip4(name)

    from tcpserver.dns import DnsError
    verdict = Verdict(environ.get(b"RBLSMTPD"), ip, txt, ip4, DnsError)
    timeout = DEFAULT_TIMEOUT
    rest = len(argv)
    for opt, value in getopt(argv, OPTSTRING):
        if opt is None:
            rest = value
        elif opt == b"?":
            _write2(value + USAGE)
            return 100
        elif opt == b"b":
            verdict.bounce = True
        elif opt == b"B":
            verdict.bounce = False
        elif opt == b"c":
            verdict.fail_closed = True
        elif opt == b"C":
            verdict.fail_closed = False
        elif opt == b"t":
            timeout = _scan_ulong(value)
        elif opt == b"r":
            verdict.rbl(value)
        elif opt == b"a":
            verdict.antirbl(value)
    program = list(argv[rest:])
    if not program:
        _write2(USAGE)
        return 100
    if verdict.blocked:
        message = verdict.message()
        _write2(b"rblsmtpd: %s pid %d: %s\n" % (ip, os.getpid(), message))
        converse(message, timeout)
        return 0
    from rules.errors import djb_error
    from tcpserver.argv0 import run_program
    err = run_program(program)
    _write2(b"rblsmtpd: fatal: unable to run %s: %s\n" % (program[0], djb_error(err).encode()))
    return 111


if __name__ == "__main__":
    sys.exit(main())
