"""qmail-pop3d's core (spec/qmail.md §6) as transcripts: the driver's part is played by the
pure stuffing.blast() over in-memory messages; every input fed whole and byte by byte."""
import pytest

from qmail.pop3.commands import Hangup, Reply
from qmail.pop3.pop3d import Commit, Pop3Connection, SendMessage
from qmail.pop3.stuffing import blast

MESSAGES = [   # (uid, stored bytes)
    (b"1000000000.1.host", b"Subject: one\n\nbody 1\n"),
    (b"1000000001.2.host", b"Subject: two\nX: y\n\nline a\n.dot\nline c\n"),
    (b"1000000002.3.host", b"no newline at end"),
]


def run(data: bytes, bytewise: bool, messages=MESSAGES, unreadable=(), unlink_failures=0):
    conn = Pop3Connection([len(m) for _, m in messages], [u for u, _ in messages])
    out, other = [], []

    def drain() -> bool:
        for effect in conn.effects():
            match effect:
                case Reply(data):
                    out.append(data)
                case SendMessage(index, body_lines):
                    other.append(effect)
                    if index in unreadable:
                        conn.open_failed()
                    else:
                        out.append(b"+OK \r\n")
                        out.extend(blast([messages[index][1]], body_lines))
                case Commit():
                    other.append(effect)
                    conn.committed(unlink_failures)
                case Hangup():
                    other.append(effect)
                    return True
        return False

    pieces = [data[i:i + 1] for i in range(len(data))] if bytewise else [data]
    done = drain()
    for piece in pieces:
        if done:
            break
        conn.receive_data(piece)
        done = drain()
    if not done:
        conn.receive_data(b"")
        drain()
    return b"".join(out), other


FEED = pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
OK = b"+OK \r\n"

TRANSCRIPTS = [
    (b"STAT\r\n", b"+OK 3 76\r\n"),
    (b"LIST\r\n", b"+OK \r\n1 21\r\n2 38\r\n3 17\r\n.\r\n"),
    (b"LIST 2\r\n", b"+OK 2 38\r\n"),
    (b"list 2abc\r\n", b"+OK 2 38\r\n"),                      # leading digits are enough
    (b"LIST x\r\n", b"-ERR syntax error\r\n"),
    (b"LIST 0\r\n", b"-ERR messages are counted from 1\r\n"),
    (b"LIST 4\r\n", b"-ERR not that many messages\r\n"),
    (b"LIST 18446744073709551617\r\n", b"+OK 1 21\r\n"),       # unsigned long wraps
    (b"LIST 18446744073709551616\r\n", b"-ERR messages are counted from 1\r\n"),
    (b"UIDL\r\n", b"+OK \r\n1 1000000000.1.host\r\n2 1000000001.2.host\r\n"
                  b"3 1000000002.3.host\r\n.\r\n"),
    (b"UIDL 3\r\n", b"+OK 3 1000000002.3.host\r\n"),
    (b"DELE 2\r\nSTAT\r\nLIST\r\nUIDL\r\nLIST 2\r\nRETR 2\r\nDELE 2\r\nLAST\r\n",
     OK + b"+OK 3 38\r\n" + b"+OK \r\n1 21\r\n3 17\r\n.\r\n"
     + b"+OK \r\n1 1000000000.1.host\r\n3 1000000002.3.host\r\n.\r\n"
     + b"-ERR already deleted\r\n" * 3 + b"+OK 2\r\n"),
    (b"DELE 3\r\nDELE 1\r\nLAST\r\nRSET\r\nLAST\r\nSTAT\r\n",
     OK + OK + b"+OK 3\r\n" + OK + b"+OK 0\r\n" + b"+OK 3 76\r\n"),
    (b"RETR 1\r\nTOP 2 1\r\nLAST\r\n",                         # RETR/TOP leave LAST alone
     OK + b"Subject: one\r\n\r\nbody 1\r\n\r\n.\r\n"
     + OK + b"Subject: two\r\nX: y\r\n\r\nline a\r\n\r\n.\r\n" + b"+OK 0\r\n"),
    (b"RETR 2\r\n", OK + b"Subject: two\r\nX: y\r\n\r\nline a\r\n..dot\r\nline c\r\n\r\n.\r\n"),
    (b"RETR 3\r\n", OK + b"no newline at end\r\n\r\n.\r\n"),
    (b"RETR 2 0\r\n", OK + b"Subject: two\r\nX: y\r\n\r\n\r\n.\r\n"),   # RETR i k is TOP
    (b"TOP 2\r\n", OK + b"Subject: two\r\nX: y\r\n\r\nline a\r\n..dot\r\nline c\r\n\r\n.\r\n"),
    (b"TOP 2   2\r\n", OK + b"Subject: two\r\nX: y\r\n\r\nline a\r\n..dot\r\n\r\n.\r\n"),
    (b"TOP 2 x\r\n", OK + b"Subject: two\r\nX: y\r\n\r\nline a\r\n..dot\r\nline c\r\n\r\n.\r\n"),
    (b"TOP 2 18446744073709551615\r\n",                          # k + 1 wraps to "no limit"
     OK + b"Subject: two\r\nX: y\r\n\r\nline a\r\n..dot\r\nline c\r\n\r\n.\r\n"),
    (b"TOP\r\n", b"-ERR syntax error\r\n"),
    (b"RETR 9\r\n", b"-ERR not that many messages\r\n"),
    (b"NOOP\r\nnoop\0x\r\n", OK + OK),
    (b"USER bob\r\nPASS x\r\nCAPA\r\nAPOP a b\r\n\r\nNO\0OP\r\n", b"-ERR unimplemented\r\n" * 6),
    (b"STAT\nSTAT\r\r\n", b"+OK 3 76\r\n" + b"-ERR unimplemented\r\n"),   # one CR removed
    (b"STAT\t\r\n STAT\r\nSTAT x\r\n",                         # TAB in the verb; leading
     b"-ERR unimplemented\r\n" * 2 + b"+OK 3 76\r\n"),           # space: empty verb (§1.2)
    (b"LIST \r\n", b"+OK \r\n1 21\r\n2 38\r\n3 17\r\n.\r\n"),  # spaces only: no argument
    (b"LIST  2 \r\nUIDL\t1\r\n", b"+OK 2 38\r\n-ERR unimplemented\r\n"),
    (b"LIST \t1\r\nLIST -1\r\nLIST +1\r\n", b"-ERR syntax error\r\n" * 3),
    (b"LIST 4x\r\nLIST 00\r\nLIST 003\r\n",
     b"-ERR not that many messages\r\n-ERR messages are counted from 1\r\n+OK 3 17\r\n"),
    (b"DELE\r\nDELE 0\r\nDELE 4\r\nDELE 1\r\nDELE 1\r\nDELE 1x\r\nUIDL 1\r\nTOP 1 0\r\n",
     b"-ERR syntax error\r\n-ERR messages are counted from 1\r\n"
     b"-ERR not that many messages\r\n" + OK + b"-ERR already deleted\r\n" * 4),
    (b"DELE 4\r\nDELE 0\r\nLAST\r\nDELE 2\r\nLAST\r\nRETR 3\r\nLAST\r\n",  # failed DELEs
     b"-ERR not that many messages\r\n-ERR messages are counted from 1\r\n+OK 0\r\n"
     + OK + b"+OK 2\r\n" + OK + b"no newline at end\r\n\r\n.\r\n" + b"+OK 2\r\n"),
    (b"DELE 1\r\nDELE 2\r\nDELE 3\r\nSTAT\r\nLIST\r\nUIDL\r\nRSET\r\nLIST 1\r\n",
     OK * 3 + b"+OK 3 0\r\n" + b"+OK \r\n.\r\n" * 2 + OK + b"+OK 1 21\r\n"),
    (b"TOP 2 0\r\nTOP 2 1\r\nTOP 1 0 9\r\n",
     OK + b"Subject: two\r\nX: y\r\n\r\n\r\n.\r\n"
     + OK + b"Subject: two\r\nX: y\r\n\r\nline a\r\n\r\n.\r\n"
     + OK + b"Subject: one\r\n\r\n\r\n.\r\n"),
    (b"TOP 2 18446744073709551616\r\n",                            # k + 1 wraps to 1: TOP 0
     OK + b"Subject: two\r\nX: y\r\n\r\n\r\n.\r\n"),
    (b"TOP 3 0\r\nRETR 3 5\r\n", (OK + b"no newline at end\r\n\r\n.\r\n") * 2),
    (b"NOOP x\r\nLAST 5\r\nRSET 1\r\nSTAT 1\r\n", OK + b"+OK 0\r\n" + OK + b"+OK 3 76\r\n"),
    (b"NOOP", b""),                                     # a partial line at EOF: no answer
    (b"NOOP\r\nQUIT", OK),
]


@FEED
@pytest.mark.parametrize("data, replies", TRANSCRIPTS)
def test_transcript(data, replies, bytewise):
    out, other = run(data, bytewise)
    assert out == OK + replies
    assert other[-1] == Hangup(0)
    assert not [e for e in other if isinstance(e, Commit)]      # no QUIT: nothing committed


@FEED
def test_quit_commits_the_deletions(bytewise):
    out, other = run(b"DELE 1\r\nDELE 3\r\nQUIT\r\nSTAT\r\n", bytewise)
    assert out == OK + OK + OK + OK
    assert other == [Commit((0, 2)), Hangup(0)]


@FEED
def test_quit_with_an_argument_commits_and_ignores_the_rest(bytewise):
    out, other = run(b"DELE 2\r\nquit now\r\nDELE 1\r\n", bytewise)
    assert out == OK + OK + OK
    assert other == [Commit((1,)), Hangup(0)]


@FEED
def test_quit_without_deletions_commits_nothing_deleted(bytewise):
    out, other = run(b"RETR 1\r\nQUIT\r\n", bytewise)
    assert out.endswith(b"\r\n.\r\n" + OK)
    assert other == [SendMessage(0, None), Commit(()), Hangup(0)]


@FEED
def test_rset_undoes_deletions_before_commit(bytewise):
    _, other = run(b"DELE 1\r\nRSET\r\nDELE 2\r\nQUIT\r\n", bytewise)
    assert other == [Commit((1,)), Hangup(0)]


@FEED
def test_unlink_failures_are_reported_before_ok(bytewise):
    out, other = run(b"DELE 1\r\nDELE 2\r\nQUIT\r\n", bytewise, unlink_failures=2)
    assert out == OK + OK + OK + b"-ERR unable to unlink all deleted messages\r\n" * 2 + OK
    assert other[-1] == Hangup(0)


@FEED
def test_unopenable_message_in_order(bytewise):
    out, other = run(b"RETR 1\r\nRETR 2\r\nNOOP\r\n", bytewise, unreadable={0})
    assert out == (OK + b"-ERR unable to open that message\r\n"
                   + OK + b"Subject: two\r\nX: y\r\n\r\nline a\r\n..dot\r\nline c\r\n\r\n.\r\n"
                   + OK)
    assert other[:2] == [SendMessage(0, None), SendMessage(1, None)]


@FEED
def test_empty_maildir(bytewise):
    out, _ = run(b"STAT\r\nLIST\r\nUIDL\r\nLAST\r\nRETR 1\r\n", bytewise, messages=[])
    assert out == (OK + b"+OK 0 0\r\n" + b"+OK \r\n.\r\n" + b"+OK \r\n.\r\n" + b"+OK 0\r\n"
                   + b"-ERR not that many messages\r\n")


def test_top_arguments():
    conn = Pop3Connection([1, 1], [b"a", b"b"])
    list(conn.effects())
    conn.receive_data(b"TOP 2 5\r\nRETR 1\r\nTOP 1 0\r\nRETR 1x 3\r\nTOP 1 +3\r\n")
    sends = [e for e in conn.effects() if isinstance(e, SendMessage)]
    assert sends == [SendMessage(1, 5), SendMessage(0, None), SendMessage(0, 0),
                     SendMessage(0, None), SendMessage(0, None)]


def test_timeout_ends_without_commit():
    conn = Pop3Connection([1], [b"a"])
    conn.receive_data(b"DELE 1\r\n")
    list(conn.effects())
    conn.timed_out()
    assert list(conn.effects()) == [Hangup(0)]


def test_ten_thousand_messages_list():
    n = 10_000
    conn = Pop3Connection([100 + i for i in range(n)], [b"%d.x" % i for i in range(n)])
    list(conn.effects())
    conn.receive_data(b"LIST\r\nUIDL\r\n")
    listing, uidl = [e.data for e in conn.effects()]
    assert listing.count(b"\r\n") == n + 2 and listing.endswith(b"10000 10099\r\n.\r\n")
    assert uidl.endswith(b"10000 9999.x\r\n.\r\n")
