"""qmail-smtpd's replies, byte for byte (spec/qmail.md §2.3, §2.10, §2.14; notqmail 1.09).

Every constant is a whole reply line with its CR LF. The few replies that carry a value
(greeting, `250 ok <time> qp <pid>`, the queue program's own text) are built by the functions
at the bottom, each from a fixed prefix and suffix copied from the spec.
"""

# spec/qmail.md §2.2, §1.1: start-up and fatal conditions (each followed by exit 1)
CONTROLS_UNREADABLE = b"421 unable to read controls (#4.3.0)\r\n"
IPME_FAILED = b"421 unable to figure out my IP addresses (#4.3.0)\r\n"
OUT_OF_MEMORY = b"421 out of memory (#4.3.0)\r\n"
TIMEOUT = b"451 timeout (#4.4.2)\r\n"                                         # §1.3
STRAY_NEWLINE = b"451 See https://cr.yp.to/docs/smtplf.html.\r\n"           # §2.10.2

# spec/qmail.md §2.3: commands
OK = b"250 ok\r\n"
FLUSHED = b"250 flushed\r\n"
VRFY = b"252 send some mail, i'll try my best\r\n"
HELP = b"214 notqmail home page: https://notqmail.org\r\n"
UNIMPLEMENTED = b"502 unimplemented (#5.5.1)\r\n"
SYNTAX = b"555 syntax error (#5.5.4)\r\n"
WANT_MAIL = b"503 MAIL first (#5.5.1)\r\n"
WANT_RCPT = b"503 RCPT first (#5.5.1)\r\n"
BADMAILFROM = b"553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n"
NO_GATEWAY = b"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"
QQT_FAILURE = b"451 qqt failure (#4.3.0)\r\n"
GO_AHEAD = b"354 go ahead\r\n"
TOO_MANY_HOPS = b"554 too many hops, this message is looping (#5.4.6)\r\n"    # §2.10.3
DATABYTES = b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"  # §2.10.4
EHLO_STOCK = b"250-PIPELINING\r\n250 8BITMIME\r\n"                            # after 250-<greeting>

# spec/qmail.md §2.10.6: the queue program's exit status (qmail_close's texts; D = 554, Z = 451)
from qmail.qq import CRASHED as QQ_CRASHED  # noqa: E402,F401  (one table for every qq caller)
from qmail.qq import PERMANENT as QQ_PERMANENT  # noqa: E402,F401
from qmail.qq import READ_ERROR as QQ_READ_ERROR  # noqa: E402,F401
from qmail.qq import TEMPORARY as QQ_TEMPORARY  # noqa: E402,F401
from qmail.qq import TEXTS as QQ_TEXTS  # noqa: E402,F401
from qmail.qq import WAITPID_SURPRISE as QQ_WAITPID_SURPRISE  # noqa: E402,F401

# spec/qmail.md §2.14: SMTP AUTH (the seed's `qmail-smtpd CHECKPASSWORD SUBPROGRAM` form)
EHLO_AUTH_TAIL = b"250 AUTH LOGIN PLAIN CRAM-MD5\r\n"
AUTH_USERNAME = b"334 VXNlcm5hbWU6\r\n"          # base64 "Username:"
AUTH_PASSWORD = b"334 UGFzc3dvcmQ6\r\n"          # base64 "Password:"
AUTH_PLAIN_CHALLENGE = b"334 \r\n"
AUTH_OK = b"235 ok, go ahead (#2.0.0)\r\n"
AUTH_FAILED = b"535 authentication failed (#5.7.1)\r\n"
AUTH_CANCELED = b"501 auth exchange canceled (#5.0.0)\r\n"
AUTH_MALFORMED = b"501 malformed auth input (#5.5.4)\r\n"
AUTH_UNKNOWN_TYPE = b"504 auth type unimplemented (#5.5.1)\r\n"
AUTH_ALREADY = b"503 you're already authenticated (#5.5.0)\r\n"
AUTH_IN_MAIL = b"503 no auth during mail transaction (#5.5.0)\r\n"
AUTH_NO_PIPE = b"454 oops, unable to open pipe and I can't auth (#4.3.0)\r\n"
AUTH_NO_CHILD = b"454 oops, child won't start and I can't auth (#4.3.0)\r\n"
AUTH_WRITE_FAILED = b"454 oops, unable to write pipe and I can't auth (#4.3.0)\r\n"
AUTH_CHILD_PROBLEM = b"454 oops, problem with child and I can't auth (#4.3.0)\r\n"
AUTH_PAUSE = 5                                    # seconds before 535 (AUTHSLEEP)


def greeting(greet: bytes) -> bytes:
    """`220 <greeting> ESMTP` (§2.2 step 7)."""
    return b"220 " + greet + b" ESMTP\r\n"


def helo(greet: bytes) -> bytes:
    return b"250 " + greet + b"\r\n"


def ehlo(greet: bytes, databytes: int | None) -> bytes:
    """Stock: three lines (§2.3). With AUTH (databytes given): five lines in §2.14's order."""
    if databytes is None:
        return b"250-" + greet + b"\r\n" + EHLO_STOCK
    return (b"250-" + greet + b"\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE %d\r\n"
            % databytes + EHLO_AUTH_TAIL)


def quit_(greet: bytes) -> bytes:
    return b"221 " + greet + b"\r\n"


def accepted(when: int, qp: int) -> bytes:
    """`250 ok <unix-seconds> qp <pid>` (§2.3)."""
    return b"250 ok %d qp %d\r\n" % (when, qp)


def queue_failed(qqx: bytes) -> bytes:
    """A qmail_close text: `D...` -> `554 ...`, anything else -> `451 ...` (§2.10.6)."""
    return (b"554 " if qqx[:1] == b"D" else b"451 ") + qqx[1:] + b"\r\n"


def auth_challenge(encoded: bytes) -> bytes:
    return b"334 " + encoded + b"\r\n"
