"""The SMTP core's test driver (imported by the tests as unit.qmail.smtp.transcript): plays the driver's part in memory (queue program, checkpassword)
and runs every transcript twice, all input at once and one byte at a time."""
from qmail.smtp.connection import SmtpConnection
from qmail.smtp.effects import (Authenticate, Authenticated, CloseQueue, Hangup, OpenQueue,
                                Pause, QueueBytes, Reply, SmtpConfig)

NOW = 1795553416          # 24 Nov 2026 20:50:16 UTC
QP = 6201

CONFIG = SmtpConfig(greeting=b"mx.example.org", local=b"127.0.0.1", remoteip=b"192.0.2.7",
                    pid=6791)


class Transcript:
    def __init__(self) -> None:
        self.replies: list[tuple[bytes, bool]] = []
        self.messages: list[tuple[bytes, bytes | None]] = []   # (queued bytes, envelope)
        self.auths: list[tuple[bytes, bytes, bytes]] = []
        self.effects: list = []
        self.status: int | None = None

    @property
    def out(self) -> bytes:
        return b"".join(data for data, _ in self.replies)

    @property
    def queued(self) -> list[tuple[bytes, bytes]]:
        """The messages the queue program got an envelope for."""
        return [(m, e) for m, e in self.messages if e is not None]

    def _key(self):
        return (self.replies, self.messages, self.auths, self.effects, self.status)


def transcript(data: bytes, bytewise: bool, config: SmtpConfig = CONFIG, *, qp=QP,
               queue_status: int = 0, errtext: bytes = b"", write_error: bool = False,
               auth_status=0, now: int = NOW, eof: bool = True) -> Transcript:
    conn = SmtpConnection(config)
    t = Transcript()
    current = bytearray()

    def drain() -> None:
        for effect in conn.effects():
            match effect:
                case Reply(data=d, flush=f):
                    t.replies.append((d, f))
                case OpenQueue():
                    current.clear()
                    conn.queue_opened(qp, now)
                case QueueBytes(data=d):
                    current.extend(d)
                case CloseQueue(envelope=env):
                    t.messages.append((bytes(current), env))
                    conn.queue_closed(queue_status, errtext, write_error, now)
                case Authenticate(user=u, password=p, challenge=c):
                    t.auths.append((u, p, c))
                    status = auth_status(u, p, c) if callable(auth_status) else auth_status
                    conn.auth_finished(status)
                case Authenticated() | Pause():
                    t.effects.append(effect)
                case Hangup(status=s):
                    t.status = s

    drain()
    pieces = [data[i:i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        if t.status is not None:
            break
        conn.receive_data(piece, now)
        drain()
    if eof and t.status is None:
        conn.receive_data(b"", now)
        drain()
    return t
