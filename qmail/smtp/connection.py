"""qmail-smtpd's protocol as a sans-I/O core (spec/qmail.md §1.2, §2.3-§2.14).

Feed client bytes with receive_data() (b"" = the client closed), then drain effects(). When an
effect needs an answer from the outside world (OpenQueue, CloseQueue, Authenticate) the core
stops consuming input until the driver calls queue_opened(), queue_closed() or
auth_finished(); effects() keeps yielding what those calls add. Time and PIDs only arrive as
arguments.

States and transitions:
    COMMAND --DATA accepted--> WAIT (OpenQueue) --queue_opened(qp)--> BODY
    BODY --end of data--> WAIT (CloseQueue) --queue_closed()--> COMMAND
    COMMAND --AUTH--> AUTH_LINE (334 sent) ... --> WAIT (Authenticate) --auth_finished()--> COMMAND
    any --EOF, timeout, bare LF in BODY, QUIT--> DONE (Hangup)
Session fields (§2.4): seenmail, mailfrom, rcptto, helohost (as fakehelo), seenauth.
"""
from qmail.qq import close_text
from qmail.smtp import replies as R
from qmail.smtp.address import (MAX_ADDRESS, badmailfrom, parse_address, replace_local_ip)
from qmail.smtp.auth import (MECHANISMS, b64decode, b64encode, cram_challenge, cram_credentials,
                             cstr, is_cancel, plain_credentials)
from qmail.smtp.body import END, MORE, Body
from qmail.smtp.effects import (Authenticate, Authenticated, CloseQueue, Hangup, OpenQueue,
                                Pause, QueueBytes, Reply, SmtpConfig)
from qmail.smtp.received import received_line

COMMAND, BODY, AUTH_LINE, WAIT, DONE = "command", "body", "auth-line", "wait", "done"
MAXHOPS = 100

# auth_finished() results other than a wait status (the patch's local-trouble replies)
AUTH_NO_PIPE, AUTH_NO_CHILD, AUTH_WRITE_FAILED, AUTH_WAIT_FAILED = -1, -2, -3, -4
_AUTH_TROUBLE = {AUTH_NO_PIPE: R.AUTH_NO_PIPE, AUTH_NO_CHILD: R.AUTH_NO_CHILD,
                 AUTH_WRITE_FAILED: R.AUTH_WRITE_FAILED, AUTH_WAIT_FAILED: R.AUTH_CHILD_PROBLEM}


class SmtpError(Exception):
    """A driver called the core out of turn (a bug in the driver, never the client's doing)."""


qq_text = close_text      # qmail_close(), shared with the delivery programs (qmail/qq.py)


def size_refused(arg: bytes, databytes: int) -> bool:
    """The AUTH patch's `MAIL ... SIZE=n` check (§2.14): a space-separated parameter after the
    address, starting `SIZE=` (any case), whose leading digits exceed databytes."""
    if not databytes:
        return False
    gt = arg.find(b">")
    if gt <= 4:
        return False
    for param in arg[1:].split(b" "):
        if param[:5].upper() == b"SIZE=":
            digits = param[5:]
            n = len(digits) - len(digits.lstrip(b"0123456789"))
            if n and int(digits[:n]) % (1 << 64) > databytes:
                return True
    return False


class SmtpConnection:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._effects: list = []
        self._buffer = bytearray()             # unconsumed input (grows amortized, no limit)
        self._scanned = 0                      # its first bytes known to hold no LF
        self._eof = False
        self._now = 0.0
        self._waiting = ""
        self.state = COMMAND
        self.seenmail = False
        self.mailfrom = b""
        self.rcptto: list[bytes] = []
        self.flagbarf = False
        self.fakehelo: bytes | None = None
        self.seenauth = False
        self.protocol = b"SMTP"
        self.relayclient = config.relayclient
        self.remoteinfo = config.remoteinfo
        self._body: Body | None = None
        self._room: int | None = None          # stored bytes still allowed (databytes)
        self._overflow = False
        self._qfail = False
        self._qp = 0
        self._auth_step = None                 # the method that takes the next AUTH line
        self._auth = (b"", b"", b"")
        self._commands = {      # verb: (handler, flush after reply)    spec/qmail.md §2.11
            b"rcpt": (self._rcpt, False), b"mail": (self._mail, False),
            b"data": (self._data, True), b"quit": (self._quit, True),
            b"helo": (self._helo, True), b"ehlo": (self._ehlo, True),
            b"rset": (self._rset, False), b"help": (self._help, True),
            b"noop": (self._noop, True), b"vrfy": (self._vrfy, True),
        }
        if config.auth:
            self._commands[b"auth"] = (self._auth_command, True)
        self._reply(R.greeting(config.greeting))

    # --- the driver's side ---------------------------------------------------------------

    def receive_data(self, data: bytes, now: float = 0.0) -> None:
        """Client bytes; b"" means end of input. NOW is used only by a CRAM-MD5 challenge."""
        if self.state in (WAIT, DONE):
            raise SmtpError(f"receive_data in state {self.state}")
        self._now = now
        if data:
            self._buffer += data
        else:
            self._eof = True
        self._process()

    def effects(self):
        """Yield pending effects, including those the driver's answers add meanwhile."""
        while self._effects:
            yield self._effects.pop(0)

    def wants_input(self) -> bool:
        return self.state not in (WAIT, DONE)

    def timed_out(self) -> None:
        """No input within timeoutsmtpd (§1.3): `451 timeout`, exit 1."""
        self._hangup(R.TIMEOUT, 1)

    def queue_opened(self, qp: int | None, now: float) -> None:
        """The queue program's pid, or None when pipe/fork failed (`451 qqt failure`)."""
        self._expect(self._await_open)
        if qp is None:
            self.state = COMMAND
            self._reply(R.QQT_FAILURE, flush=True)
        else:
            self._qp = qp
            self._reply(R.GO_AHEAD)
            self._effects.append(QueueBytes(received_line(
                self.protocol, self.config.local, self.config.remoteip, self.config.remotehost,
                self.remoteinfo, self.fakehelo, now)))
            self._body = Body()
            self.state = BODY
        self._process()

    def queue_closed(self, wstatus: int | None, errtext: bytes = b"", write_error: bool = False,
                     now: float = 0.0) -> None:
        """The queue program's wait status (None: waitpid failed), its fd 6 text, and whether
        writing to it failed; sends the end-of-data reply (§2.10.6)."""
        self._expect(self._await_close)
        qqx = qq_text(wstatus, self._qfail or write_error, errtext)
        if not qqx:
            reply = R.accepted(int(now), self._qp)
        elif self._body is not None and self._body.hops >= MAXHOPS:
            reply = R.TOO_MANY_HOPS
        elif self._overflow:
            reply = R.DATABYTES
        else:
            reply = R.queue_failed(qqx)
        self._body = None
        self.state = COMMAND
        self._reply(reply, flush=True)
        self._process()

    def auth_finished(self, result: int) -> None:
        """checkpassword's wait status, or one of the AUTH_* troubles (§2.14)."""
        self._expect(self._await_auth)
        self.state = COMMAND
        if result < 0:
            self._reply(_AUTH_TROUBLE[result], flush=True)
        elif result & 127:
            self._reply(R.AUTH_CHILD_PROBLEM, flush=True)
        elif result >> 8 & 255:
            self._effects.append(Pause(R.AUTH_PAUSE))
            self._reply(R.AUTH_FAILED, flush=True)
        else:
            user = cstr(self._auth[0])
            self.seenauth = True
            self.protocol = b"ESMTPA"
            self.relayclient = b""
            self.remoteinfo = user
            self._effects.append(Authenticated(user))
            self._reply(R.AUTH_OK, flush=True)
        self._process()

    # --- input ---------------------------------------------------------------------------

    def _process(self) -> None:
        while self.state in (COMMAND, BODY, AUTH_LINE):
            if self.state == BODY:
                if not self._buffer:
                    break
                self._feed_body()
                continue
            lf = self._buffer.find(b"\n", self._scanned)
            if lf < 0:
                self._scanned = len(self._buffer)      # a long line costs no rescans
                break
            line = bytes(self._buffer[:lf])
            del self._buffer[:lf + 1]
            self._scanned = 0
            if line[-1:] == b"\r":
                line = line[:-1]
            if self.state == AUTH_LINE:
                self._auth_line(line)
            else:
                self._command(line)
        if self._eof and self.state in (COMMAND, BODY, AUTH_LINE):
            self._hangup(b"", 1)         # end of input: exit 1, no reply (§1.2, §2.10.2)

    def _command(self, line: bytes) -> None:
        line = cstr(line)                 # the line is a C string (§1.2 step 5)
        space = line.find(b" ")
        if space < 0:
            verb, arg = line, b""
        else:
            verb, arg = line[:space], line[space + 1:].lstrip(b" ")
        handler, flush = self._commands.get(verb.lower(), (self._unimplemented, True))
        reply = handler(arg)
        if reply is not None:
            self._reply(reply, flush)

    def _reply(self, data: bytes, flush: bool = False) -> None:
        if data:
            self._effects.append(Reply(data, flush))

    def _hangup(self, data: bytes, status: int) -> None:
        if data:
            self._effects.append(Reply(data, True))
        self._effects.append(Hangup(status))
        self.state = DONE
        self._buffer.clear()

    def _expect(self, waiting) -> None:
        if self.state != WAIT or self._waiting != waiting:
            raise SmtpError(f"unexpected answer in state {self.state}")

    def _wait(self, effect, waiting) -> None:
        self.state = WAIT
        self._waiting = waiting
        self._effects.append(effect)

    # the names the WAIT state is keyed by
    _await_open, _await_close, _await_auth = "open", "close", "auth"

    # --- commands (§2.3) ------------------------------------------------------------------

    def _helo(self, arg: bytes) -> bytes:
        self.seenmail = False
        self._dohelo(arg)
        return R.helo(self.config.greeting)

    def _ehlo(self, arg: bytes) -> bytes:
        self.seenmail = False
        self._dohelo(arg)
        return R.ehlo(self.config.greeting, self.config.databytes if self.config.auth else None)

    def _dohelo(self, arg: bytes) -> None:
        same = arg.lower() == self.config.remotehost.lower()
        self.fakehelo = None if same else arg

    def _rset(self, arg: bytes) -> bytes:
        self.seenmail = False
        return R.FLUSHED

    def _quit(self, arg: bytes) -> None:
        self._hangup(R.quit_(self.config.greeting), 0)

    def _help(self, arg: bytes) -> bytes:
        return R.HELP

    def _noop(self, arg: bytes) -> bytes:
        return R.OK

    def _vrfy(self, arg: bytes) -> bytes:
        return R.VRFY

    def _unimplemented(self, arg: bytes) -> bytes:
        return R.UNIMPLEMENTED

    def _address(self, arg: bytes) -> bytes | None:
        """addrparse(): the address, the local IP literal replaced; None if too long."""
        addr = parse_address(arg)
        if self.config.localiphost is not None:
            addr = replace_local_ip(addr, self.config.localiphost, self.config.is_local_ip)
        return addr if len(addr) <= MAX_ADDRESS else None

    def _mail(self, arg: bytes) -> bytes:
        addr = self._address(arg)
        if addr is None:
            return R.SYNTAX
        if self.config.auth and size_refused(arg, self.config.databytes):
            return R.DATABYTES
        self.flagbarf = badmailfrom(addr, self.config.badmailfrom)
        self.seenmail = True
        self.rcptto = []
        self.mailfrom = addr
        return R.OK

    def _rcpt(self, arg: bytes) -> bytes | None:
        if not self.seenmail:
            return R.WANT_MAIL
        addr = self._address(arg)
        if addr is None:
            return R.SYNTAX
        if self.flagbarf:
            return R.BADMAILFROM
        if self.relayclient is not None:
            addr += self.relayclient
        else:
            allowed = self.config.rcpt_allowed(addr)
            if allowed is None:                   # morercpthosts.cdb unreadable mid-session
                self._hangup(R.CONTROLS_UNREADABLE, 1)
                return None
            if not allowed:
                return R.NO_GATEWAY
        self.rcptto.append(addr)
        return R.OK

    def _data(self, arg: bytes) -> bytes | None:
        if not self.seenmail:
            return R.WANT_MAIL
        if not self.rcptto:
            return R.WANT_RCPT
        self.seenmail = False
        databytes = self.config.databytes
        self._room = databytes if databytes else None
        self._overflow = self._qfail = False
        self._wait(OpenQueue(), self._await_open)
        return None

    # --- DATA (§2.10) ---------------------------------------------------------------------

    def _feed_body(self) -> None:
        data = bytes(self._buffer)
        self._buffer.clear()
        outcome, stored, rest = self._body.feed(data)
        if stored and not self._qfail:
            room = self._room
            if room is not None:
                if len(stored) > room:
                    stored = stored[:room]
                    self._overflow = self._qfail = True     # qmail_fail: nothing more is sent
                else:
                    self._room = room - len(stored)
            if stored:
                self._effects.append(QueueBytes(stored))
        if outcome == MORE:
            return
        if outcome != END:
            self._hangup(R.STRAY_NEWLINE, 1)
            return
        self._buffer[:] = rest
        self._scanned = 0
        if self._body.hops >= MAXHOPS:
            self._qfail = True
        envelope = None
        if not self._qfail:
            envelope = (b"F" + self.mailfrom + b"\0"
                        + b"".join(b"T" + r + b"\0" for r in self.rcptto) + b"\0")
        self._wait(CloseQueue(envelope), self._await_close)

    # --- AUTH (§2.14) ---------------------------------------------------------------------

    def _auth_command(self, arg: bytes) -> bytes | None:
        if self.seenauth:
            return R.AUTH_ALREADY
        if self.seenmail:
            return R.AUTH_IN_MAIL
        space = arg.find(b" ")
        mech, initial = (arg, b"") if space < 0 else (arg[:space], arg[space + 1:].lstrip(b" "))
        mech = mech.lower()
        if mech not in MECHANISMS:
            return R.AUTH_UNKNOWN_TYPE
        self._auth = (b"", b"", b"")
        if mech == b"login":
            if initial:
                user = b64decode(initial)
                if user is None:
                    return R.AUTH_MALFORMED
                self._auth = (user, b"", b"")
                return self._ask(R.AUTH_PASSWORD, self._login_password)
            return self._ask(R.AUTH_USERNAME, self._login_user)
        if mech == b"plain":
            if initial:
                return self._plain_response(initial)
            return self._ask(R.AUTH_PLAIN_CHALLENGE, self._plain_response)
        challenge = cram_challenge(self.config.pid, self._now, self.config.local)
        self._auth = (b"", b"", challenge)
        return self._ask(R.auth_challenge(b64encode(challenge)), self._cram_response)

    def _ask(self, prompt: bytes, step) -> None:
        self._reply(prompt, flush=True)
        self._auth_step = step
        self.state = AUTH_LINE
        return None

    def _auth_line(self, line: bytes) -> None:
        """authgetl(): `*` cancels, an empty line is malformed, else the step's own checks."""
        self.state = COMMAND
        step, self._auth_step = self._auth_step, None
        if is_cancel(line):
            reply = R.AUTH_CANCELED
        elif not line:
            reply = R.AUTH_MALFORMED
        else:
            reply = step(line)
        if reply is not None:
            self._reply(reply, flush=True)

    def _login_user(self, line: bytes) -> bytes | None:
        user = b64decode(line)
        if user is None:
            return R.AUTH_MALFORMED
        self._auth = (user, b"", b"")
        return self._ask(R.AUTH_PASSWORD, self._login_password)

    def _login_password(self, line: bytes) -> bytes | None:
        password = b64decode(line)
        if password is None:
            return R.AUTH_MALFORMED
        return self._verify(self._auth[0], password, b"")

    def _plain_response(self, line: bytes) -> bytes | None:
        decoded = b64decode(line)
        if decoded is None:
            return R.AUTH_MALFORMED
        return self._verify(*plain_credentials(decoded), b"")

    def _cram_response(self, line: bytes) -> bytes | None:
        decoded = b64decode(line)
        if decoded is None:
            return R.AUTH_MALFORMED
        return self._verify(*cram_credentials(decoded), self._auth[2])

    def _verify(self, user: bytes, password: bytes, challenge: bytes) -> bytes | None:
        if not user or not password:
            return R.AUTH_MALFORMED
        self._auth = (user, password, challenge)
        self._wait(Authenticate(user, password, challenge), self._await_auth)
        return None
