"""Properties of the SMTP core: no input makes it raise, and no input lets a client without
RELAYCLIENT (and without a successful AUTH) queue mail for a domain outside rcpthosts."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmail.smtp.address import rcpthosts_allows
from qmail.smtp.effects import SmtpConfig

from unit.qmail.smtp.transcript import transcript

RCPTHOSTS = frozenset({b"example.org", b".example.net"})
LOCAL_IPS = {b"\x7f\0\0\1", b"\0\0\0\0"}


def config(auth: bool, databytes: int = 0) -> SmtpConfig:
    return SmtpConfig(greeting=b"mx.example.org", remoteip=b"192.0.2.7", auth=auth,
                      databytes=databytes, localiphost=b"example.org",
                      is_local_ip=LOCAL_IPS.__contains__,
                      rcpt_allowed=lambda addr: rcpthosts_allows(addr, RCPTHOSTS, None),
                      badmailfrom=frozenset({b"@bad.org"}))


def allowed(recipient: bytes) -> bool:
    """The oracle: §2.9 stated plainly."""
    if b"@" not in recipient:
        return True
    domain = recipient.rsplit(b"@", 1)[1].lower()
    return domain == b"example.org" or domain.endswith(b".example.net")


ADDRESS_PARTS = [b"<", b">", b"@", b"\"", b"\\", b" ", b":", b",", b"user", b"example.org",
                 b"EXAMPLE.ORG", b"example.net", b".example.net", b"a.example.net", b"other.org",
                 b"[127.0.0.1]", b"[10.0.0.1]", b"example.org.", b"%", b"!", b"\0", b"\r",
                 b"@example.org:", b"TO:", b"FROM:"]
address = st.lists(st.one_of(st.sampled_from(ADDRESS_PARTS), st.binary(max_size=3)),
                   max_size=8).map(b"".join)
END = st.sampled_from([b"\r\n", b"\n"])
mail = st.tuples(st.just(b"MAIL FROM:"), address, END).map(b"".join)
rcpt = st.tuples(st.sampled_from([b"RCPT TO:", b"rcpt to:", b"RCPT "]), address,
                 END).map(b"".join)
transaction = st.tuples(mail, st.lists(rcpt, min_size=1, max_size=3).map(b"".join),
                        st.just(b"DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n")).map(b"".join)
command = st.one_of(
    transaction, mail, rcpt,
    st.sampled_from([b"RSET\r\n", b"HELO x\r\n", b"EHLO x\r\n", b"DATA\r\n", b".\r\n",
                     b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", b"AUTH LOGIN\r\nYm9i\r\nc2VjcmV0\r\n",
                     b"AUTH LOGIN\r\n*\r\n", b"NOOP\r\n"]),
    st.binary(max_size=8))
commands = st.lists(command, max_size=12)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands, st.booleans(), st.sampled_from([0, 20]), st.integers(0, 3))
def test_no_relay_outside_rcpthosts(pieces, auth, databytes, chunking):
    data = b"".join(pieces) + b"\r\n.\r\n"
    for bytewise in (False, True) if chunking == 0 else (False,):
        t = transcript(data, bytewise, config(auth, databytes), auth_status=1 << 8)
        for _, envelope in t.queued:
            records = envelope.split(b"\0")
            recipients = [r[1:] for r in records if r.startswith(b"T")]
            assert recipients and all(allowed(r) for r in recipients), envelope


@settings(max_examples=250, deadline=None)
@given(st.binary(max_size=300), st.booleans(), st.integers(0, 2),
       st.sampled_from([0, 9, 82 << 8, 11 << 8, None]), st.sampled_from([0, 1 << 8, -1, 9]))
def test_core_never_raises(data, auth, databytes, queue_status, auth_status):
    for bytewise in (False, True):
        transcript(data, bytewise, config(auth, databytes), queue_status=queue_status,
                   errtext=b"Dno", auth_status=auth_status)
        transcript(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + data,
                   bytewise, config(auth, databytes), queue_status=queue_status)
