"""What the SMTP core asks its driver to do, and the settings it is built with.

Small frozen value types. They are hand-rolled rather than `@dataclass(frozen=True, slots=True)`
because importing dataclasses costs about 12 ms (it pulls in inspect), more than the whole
interpreter start-up of an exec'd qmail-smtpd; STYLE.md §4.8: imports are paid per connection.
"""


class Value:
    """Fields from __slots__, set once by __init__; equality, hashing and repr by fields."""

    __slots__ = ()

    def __init__(self, *args, **kwargs) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{type(self).__name__}: bad field {name!r}")
            values[name] = value
        defaults = getattr(type(self), "_defaults", {})
        for name in names:
            if name not in values:
                if name not in defaults:
                    raise TypeError(f"{type(self).__name__}: missing field {name!r}")
                values[name] = defaults[name]
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name, value) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._fields()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"


# --- effects ---------------------------------------------------------------------------------

class Reply(Value):
    """Write DATA to the client; flush the output buffer afterwards when FLUSH (§2.11)."""
    __slots__ = ("data", "flush")
    _defaults = {"flush": False}


class OpenQueue(Value):
    """Start the queue program (§2.10.6); answer with SmtpConnection.queue_opened()."""
    __slots__ = ()


class QueueBytes(Value):
    """Write DATA to the queue program's fd 0."""
    __slots__ = ("data",)


class CloseQueue(Value):
    """Close fd 0, write ENVELOPE to fd 1 (None: write nothing, the message is refused), close
    fd 1, read fd 6, wait; answer with SmtpConnection.queue_closed()."""
    __slots__ = ("envelope",)


class Authenticate(Value):
    """Run the checkpassword program with `user NUL password NUL challenge NUL` on its fd 3
    (§2.14); answer with SmtpConnection.auth_finished()."""
    __slots__ = ("user", "password", "challenge")


class Authenticated(Value):
    """AUTH succeeded: the environment of later children gets TCPREMOTEINFO=USER and
    RELAYCLIENT="" (as the patch's env_put2 calls do)."""
    __slots__ = ("user",)


class Pause(Value):
    """Sleep SECONDS (the 5-second pause before `535`, §2.14)."""
    __slots__ = ("seconds",)


class Hangup(Value):
    """Flush and exit with STATUS (§2.12); an open queue program is abandoned."""
    __slots__ = ("status",)


# --- settings --------------------------------------------------------------------------------

def _always(addr: bytes) -> bool:
    return True


def _never(ip: bytes) -> bool:
    return False


class SmtpConfig(Value):
    """Everything qmail-smtpd's setup() reads, as data (§2.1, §2.2).

    greeting     smtpgreeting's first line, else me
    local        TCPLOCALHOST, else TCPLOCALIP, else b"unknown"
    remoteip     TCPREMOTEIP or b"unknown"; remotehost: TCPREMOTEHOST or b"unknown"
    remoteinfo   TCPREMOTEINFO (None when unset)
    relayclient  RELAYCLIENT (None when unset)
    databytes    the limit after §2.10.4's adjustments; 0 = unlimited
    badmailfrom  lowercased badmailfrom lines (empty: file missing)
    rcpt_allowed addr -> True/False, or None when morercpthosts.cdb cannot be read (§2.9)
    localiphost  localiphost, else me, else None; is_local_ip: 4 bytes -> one of my IPs?
    auth         the `qmail-smtpd CHECKPASSWORD SUBPROGRAM` form (§2.14)
    pid          this process's id, for the CRAM-MD5 challenge
    """
    __slots__ = ("greeting", "local", "remoteip", "remotehost", "remoteinfo", "relayclient",
                 "databytes", "badmailfrom", "rcpt_allowed", "localiphost", "is_local_ip",
                 "auth", "pid")
    _defaults = {"local": b"unknown", "remoteip": b"unknown", "remotehost": b"unknown",
                 "remoteinfo": None, "relayclient": None, "databytes": 0,
                 "badmailfrom": frozenset(), "rcpt_allowed": _always, "localiphost": None,
                 "is_local_ip": _never, "auth": False, "pid": 0}
