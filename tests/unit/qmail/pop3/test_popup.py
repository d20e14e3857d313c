"""qmail-popup's core (spec/qmail.md §4) as transcripts: bytes in, exact bytes and effects
out, every input fed whole and one byte at a time."""
import pytest

from qmail.pop3.commands import Hangup, Reply
from qmail.pop3.popup import Authenticate, PopupConnection

STAMP = b"<6791.1795553487@pop.example.org>"
GREETING = b"+OK " + STAMP + b"\r\n"


def run(data: bytes, bytewise: bool, child=(False, 0), eof: bool = True):
    """(all reply bytes, the other effects, trailing data). Authenticate is answered with
    child = (crashed, exit code)."""
    conn = PopupConnection(b"pop.example.org", 6791, 1795553487)
    out, other = [], []

    def drain() -> bool:
        for effect in conn.effects():
            if isinstance(effect, Reply):
                out.append(effect.data)
            else:
                other.append(effect)
                if isinstance(effect, Authenticate):
                    conn.subprogram_done(*child)
                if isinstance(effect, Hangup):
                    return True
        return False

    pieces = [data[i:i + 1] for i in range(len(data))] if bytewise else [data]
    if drain():
        return b"".join(out), other, conn.trailing_data
    for piece in pieces:
        conn.receive_data(piece)
        if drain():
            return b"".join(out), other, conn.trailing_data
    if eof:
        conn.receive_data(b"")
        drain()
    return b"".join(out), other, conn.trailing_data


FEED = pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])

TRANSCRIPTS = [
    # (input, replies after the greeting, effects)
    (b"QUIT\r\n", b"+OK \r\n", [Hangup(1)]),
    (b"quit\n", b"+OK \r\n", [Hangup(1)]),
    (b"NOOP\r\n", b"+OK \r\n", [Hangup(1)]),                        # then EOF: silent exit 1
    (b"NOOP\0junk\r\n", b"+OK \r\n", [Hangup(1)]),                  # cut at NUL (§1.2)
    (b"NO\0OP\r\n", b"-ERR authorization first\r\n", [Hangup(1)]),
    (b"USER\r\n", b"-ERR syntax error\r\n", [Hangup(1)]),
    (b"USER   \r\n", b"-ERR syntax error\r\n", [Hangup(1)]),
    (b"USER bob\r\n", b"+OK \r\n", [Hangup(1)]),
    (b"PASS x\r\n", b"-ERR USER first\r\n", [Hangup(1)]),
    (b"USER bob\r\nPASS\r\n", b"+OK \r\n-ERR syntax error\r\n", [Hangup(1)]),
    (b"STAT\r\nCAPA\r\n\r\nSTLS\r\nAUTH\r\n", b"-ERR authorization first\r\n" * 5, [Hangup(1)]),
    (b"USER\tbob\r\n", b"-ERR authorization first\r\n", [Hangup(1)]),  # TAB is part of the verb
    (b"APOP bob\r\n", b"-ERR syntax error\r\n", [Hangup(1)]),
    (b"USER bob\r\nPASS good\r\n", b"+OK \r\n",
     [Authenticate(b"bob", b"good", STAMP), Hangup(1)]),
    (b"user bob \r\npass  a b \r\n", b"+OK \r\n",                   # trailing spaces kept
     [Authenticate(b"bob ", b"a b ", STAMP), Hangup(1)]),
    (b"USER al\r\nUSER bob\r\nPASS pw\r\n", b"+OK \r\n+OK \r\n",      # a later USER replaces
     [Authenticate(b"bob", b"pw", STAMP), Hangup(1)]),
    (b"APOP bob c4c9334bac560ecc979e58001b3e22fb\r\n", b"",
     [Authenticate(b"bob", b"c4c9334bac560ecc979e58001b3e22fb", STAMP), Hangup(1)]),
    (b"APOP bob  x\r\n", b"", [Authenticate(b"bob", b" x", STAMP), Hangup(1)]),
    (b"APOP bob \r\n", b"", [Authenticate(b"bob", b"", STAMP), Hangup(1)]),
    (b"USER bob\nPASS pw\r\r\n", b"+OK \r\n", [Authenticate(b"bob", b"pw\r", STAMP), Hangup(1)]),
    (b"USER al\r\nUSER\r\nPASS  pw\r\n", b"+OK \r\n-ERR syntax error\r\n",  # USER kept
     [Authenticate(b"al", b"pw", STAMP), Hangup(1)]),
    (b"PASS x\r\nUSER bob\r\nPASS \r\nPASS y\r\n",                  # refusals are no attempt
     b"-ERR USER first\r\n+OK \r\n-ERR syntax error\r\n",
     [Authenticate(b"bob", b"y", STAMP), Hangup(1)]),
    (b"APOP  bob x\r\n", b"", [Authenticate(b"bob", b"x", STAMP), Hangup(1)]),
    (b"APOP bob\tx\r\nAPOP\r\nAPOP \r\n", b"-ERR syntax error\r\n" * 3, [Hangup(1)]),
    (b"USER al\r\nAPOP bob d\r\n", b"+OK \r\n", [Authenticate(b"bob", b"d", STAMP), Hangup(1)]),
    (b"user\0 bob\r\nUSER bob\0junk\r\nPASS p\0q\r\n", b"-ERR syntax error\r\n+OK \r\n",
     [Authenticate(b"bob", b"p", STAMP), Hangup(1)]),
    (b"USER a\rb\r\nPASS p\r\n", b"+OK \r\n", [Authenticate(b"a\rb", b"p", STAMP), Hangup(1)]),
    (b"QUIT now\r\nNOOP\r\n", b"+OK \r\n", [Hangup(1)]),
    (b"NOOP", b"", [Hangup(1)]),                         # a partial line at EOF: no answer
    (b"USER bob\r\nPASS pw", b"+OK \r\n", [Hangup(1)]),  # nor a partial PASS
    (b"RETR 1\r\nLAST\r\nRSET\r\nDELE 1\r\nTOP 1 1\r\nUIDL\r\nLIST\r\n",
     b"-ERR authorization first\r\n" * 7, [Hangup(1)]),
]


@FEED
@pytest.mark.parametrize("data, replies, effects", TRANSCRIPTS)
def test_transcript(data, replies, effects, bytewise):
    out, other, _ = run(data, bytewise)
    assert out == GREETING + replies
    assert other == effects


def test_greeting_is_the_stamp():
    conn = PopupConnection(b"pop.example.org", 6791, 1795553487)
    assert list(conn.effects()) == [Reply(b"+OK <6791.1795553487@pop.example.org>\r\n")]


@FEED
@pytest.mark.parametrize("child, reply", [
    ((False, 0), b""),
    ((False, 1), b"-ERR authorization failed\r\n"),
    ((False, 2), b"-ERR authorization failed\r\n"),
    ((False, 111), b"-ERR authorization failed\r\n"),
    ((True, 0), b"-ERR aack, child crashed\r\n"),
])
def test_subprogram_outcome(child, reply, bytewise):
    out, other, _ = run(b"USER bob\r\nPASS x\r\n", bytewise, child)
    assert out == GREETING + b"+OK \r\n" + reply
    assert other[-1] == Hangup(1)          # always exit 1 (§4.4)


@FEED
def test_one_attempt_and_nothing_read_past_pass(bytewise):
    # §4.4 items 5 and 6: after PASS nothing more is parsed; pipelined bytes stay unread
    out, other, trailing = run(b"USER bob\r\nPASS bad\r\nSTAT\r\nPASS again\r\n", bytewise,
                               (False, 1), eof=False)
    assert out == GREETING + b"+OK \r\n-ERR authorization failed\r\n"
    assert other == [Authenticate(b"bob", b"bad", STAMP), Hangup(1)]
    if bytewise:
        assert trailing == b""             # the driver stopped feeding at the hand-off
    else:
        assert trailing == b"STAT\r\nPASS again\r\n"


def test_trailing_data_is_empty_when_fed_line_by_line():
    conn = PopupConnection(b"h", 1, 2)
    list(conn.effects())
    for line in (b"USER bob\r\n", b"PASS pw\r\n"):
        conn.receive_data(line)
        effects = list(conn.effects())
    assert isinstance(effects[0], Authenticate)
    assert conn.trailing_data == b""


def test_password_buffers_can_be_wiped():
    conn = PopupConnection(b"h", 1, 2)
    list(conn.effects())
    conn.receive_data(b"USER bob\r\nPASS hunter2\r\nXYZ")
    auth = [e for e in conn.effects() if isinstance(e, Authenticate)][0]
    assert isinstance(auth.password, bytearray)
    assert auth.payload() == b"bob\0hunter2\0<1.2@h>\0"
    auth.password[:] = bytes(len(auth.password))
    conn.wipe()
    assert conn.trailing_data == b""
    assert b"hunter2" not in bytes(conn._input.data)


@FEED
def test_eof_and_timeout_are_silent(bytewise):
    out, other, _ = run(b"USER bob\r\n", bytewise)
    assert out == GREETING + b"+OK \r\n" and other == [Hangup(1)]
    conn = PopupConnection(b"h", 1, 2)
    list(conn.effects())
    conn.timed_out()
    assert list(conn.effects()) == [Hangup(1)]


def test_hostname_is_a_c_string():
    conn = PopupConnection(b"a\0b", 1, 2)
    assert conn.stamp == b"<1.2@a>"
