"""POP3 end to end through tcpserver on 127.0.0.1 (spec/qmail.md §4, §6):
`tcpserver ... qmail-popup HOST vchkpw qmail-pop3d Maildir`, with Python's poplib, Debian's
mpop and raw sockets. Virtual users (vchkpw) run as `nobody` when we are root (qmail-pop3d
refuses uid 0), else as ourselves."""
import contextlib
import hashlib
import os
import poplib
import pwd
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from support import ours, reachable_by, run_tcpserver, system_tool

HOST = "pop.example.org"
OLD = int(time.time()) - 100          # mtimes before the current second (§6.1 item 4)


class Drop:
    """A mail drop: $QMAILHOME/users/vpasswd.cdb and one Maildir per user, owned by uid."""

    def __init__(self, base: Path, uid: int, gid: int) -> None:
        self.base, self.uid, self.gid = base, uid, gid
        self.qmail = base / "qmail"
        (self.qmail / "users").mkdir(parents=True)
        self.lines: list[str] = []
        self.serial = 0

    def user(self, name: str, secret: str) -> Path:
        home = self.base / "home" / name
        home.mkdir(parents=True)
        subprocess.run([ours("maildirmake"), str(home / "Maildir")], check=True)
        self.lines.append(f"{name}:{secret}:{self.uid}:{self.gid}:{home}\n")
        (self.qmail / "users" / "vpasswd").write_text("".join(self.lines))
        subprocess.run([ours("qmail-newvpw")], check=True,
                       env=dict(os.environ, QMAILHOME=str(self.qmail)))
        self.chown(home)
        return home / "Maildir"

    def deliver(self, maildir: Path, data: bytes, mtime: int | None = None) -> str:
        """A message in new/; by default one second after the previous one, so the listing
        order is the delivery order (equal mtimes come in prioq's order over readdir's)."""
        self.serial += 1
        if mtime is None:
            mtime = OLD - 10_000 + self.serial
        name = f"{mtime}.{self.serial}.{HOST}"
        path = maildir / "new" / name
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        os.chown(path, self.uid, self.gid)
        return name

    def chown(self, top: Path) -> None:
        for root, dirs, files in os.walk(top):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, self.uid, self.gid)

    def env(self, **extra: str) -> dict:
        return dict(os.environ, QMAILHOME=str(self.qmail), CHECKPASSWORD_FAIL_DELAY="0",
                    **extra)


def mailbox_ids() -> tuple[int, int]:
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


@pytest.fixture
def drop():
    uid, gid = mailbox_ids()
    base = Path(tempfile.mkdtemp(prefix="pop3-e2e-"))   # /tmp: reachable by that uid
    base.chmod(0o755)
    try:
        with reachable_by(uid, gid):
            yield Drop(base, uid, gid)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def pop3_server(drop: Drop, tmp_path: Path, checker: str = "vchkpw", **env):
    program = [ours("qmail-popup"), HOST, ours(checker), ours("qmail-pop3d"), "Maildir"]
    with run_tcpserver(["-v", "-R", "-H"], program, env=drop.env(**env),
                       log=tmp_path / "tcpserver.log") as server:
        yield server


def wait_for_ends(server, count: int, timeout: float = 20.0) -> None:
    """Until tcpserver logged COUNT `end` lines: every session process has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.log_text().count(" end ") >= count:
            return
        time.sleep(0.02)
    raise AssertionError("sessions did not end: " + server.log_text())


def wire_form(stored: bytes) -> bytes:
    """What poplib's retr() hands back, joined with LF: qmail's extra empty line included."""
    lines = stored.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return b"\n".join(lines + [b""])


class Raw:
    """A socket client for exact transcripts."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until(self, marker: bytes, count: int = 1) -> bytes:
        while self.buf.count(marker) < count:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                break
            self.buf += chunk
        return self.buf

    def rest(self) -> bytes:
        while chunk := self.sock.recv(1 << 16):
            self.buf += chunk
        return self.buf

    def close(self) -> None:
        self.sock.close()


MSG1 = b"Return-Path: <a@b>\nSubject: one\n\nHello\n.dot line\n..two\n\nend\n"
MSG2 = b"Subject: two\n\r\nCR kept\r\nno final newline"


def test_poplib_session_and_commit(drop, tmp_path):
    md = drop.user("bob@example.org", "{PLAIN}secret")
    n1 = drop.deliver(md, MSG1)
    n2 = drop.deliver(md, MSG2)
    n3 = drop.deliver(md, b"Subject: three\n\nbody\n")
    (md / "tmp" / "stale").write_bytes(b"x")
    os.utime(md / "tmp" / "stale", (OLD - 200000, OLD - 200000))
    with pop3_server(drop, tmp_path) as server:
        pop = poplib.POP3("127.0.0.1", server.port, timeout=20)
        try:
            assert pop.getwelcome().startswith(b"+OK <") and pop.getwelcome().endswith(
                b"@" + HOST.encode() + b">")
            assert pop.user("bob@example.org") == b"+OK "
            assert pop.pass_("secret") == b"+OK "
            assert pop.stat() == (3, len(MSG1) + len(MSG2) + 21)
            assert pop.list()[1] == [b"1 %d" % len(MSG1), b"2 %d" % len(MSG2), b"3 21"]
            assert pop.uidl()[1] == [b"1 " + n1.encode(), b"2 " + n2.encode(),
                                     b"3 " + n3.encode()]
            resp, lines, octets = pop.retr(1)
            assert resp == b"+OK " and b"\n".join(lines) == wire_form(MSG1)
            assert b"\n".join(pop.retr(2)[1]) == wire_form(MSG2 + b"\n")
            assert pop.top(1, 1)[1] == [b"Return-Path: <a@b>", b"Subject: one", b"", b"Hello",
                                        b""]
            assert pop.dele(3) == b"+OK "
            with pytest.raises(poplib.error_proto, match="already deleted"):
                pop.retr(3)
            assert pop._shortcmd("LAST") == b"+OK 3"
            assert pop.quit() == b"+OK "
        finally:
            pop.close()
        wait_for_ends(server, 1)
    assert os.listdir(md / "new") == []
    assert sorted(os.listdir(md / "cur")) == sorted([n1 + ":2,", n2 + ":2,"])
    assert os.listdir(md / "tmp") == []              # cleaned: not accessed for 36 hours
    assert (md / "cur" / (n1 + ":2,")).read_bytes() == MSG1


def test_apop_and_wrong_passwords(drop, tmp_path):
    md = drop.user("al", "{PLAIN}tanstaaf")
    drop.user("hashed", subprocess.run(
        [sys.executable, "-c", "from passlib.handlers.sha2_crypt import sha512_crypt as s;"
         "print(s.using(rounds=5000).hash('pw'))"], capture_output=True, text=True,
        check=True).stdout.strip())
    drop.deliver(md, MSG1)
    with pop3_server(drop, tmp_path) as server:
        pop = poplib.POP3("127.0.0.1", server.port, timeout=20)
        try:
            assert pop.apop("al", "tanstaaf") == b"+OK "
            assert pop.stat()[0] == 1
        finally:
            pop.close()
        for user, password, apop in [("al", "wrong", False), ("nobody-here", "x", False),
                                     ("hashed", "pw", True), ("al", "", True)]:
            raw = Raw(server.port)
            try:
                stamp = raw.until(b"\r\n")[4:-2]
                if user == "hashed":     # a right digest, but a hash cannot check it
                    password = hashlib.md5(stamp + b"pw").hexdigest()
                # one attempt per connection: the NOOP is never answered
                if apop:
                    raw.send(b"APOP %s %s\r\nNOOP\r\n" % (user.encode(), password.encode()))
                else:
                    raw.send(b"USER %s\r\nPASS %s\r\nNOOP\r\n"
                             % (user.encode(), password.encode()))
                out = raw.rest()
            finally:
                raw.close()
            assert out.split(b"\r\n", 1)[1] == (b"" if apop else b"+OK \r\n") + \
                b"-ERR authorization failed\r\n", (user, out)
        hashed = poplib.POP3("127.0.0.1", server.port, timeout=20)
        try:
            hashed.user("hashed")
            assert hashed.pass_("pw") == b"+OK "
        finally:
            hashed.close()


def test_pipelined_commands_reach_qmail_pop3d(drop, tmp_path):
    md = drop.user("bob", "{PLAIN}secret")
    name = drop.deliver(md, MSG1)
    with pop3_server(drop, tmp_path) as server:
        raw = Raw(server.port)
        try:
            raw.send(b"USER bob\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\n"
                     b"TOP 1 0\r\nDELE 1\r\nRSET\r\nQUIT\r\n")
            out = raw.rest()
        finally:
            raw.close()
    greeting, rest = out.split(b"\r\n", 1)
    body = (b"Return-Path: <a@b>\r\nSubject: one\r\n\r\nHello\r\n..dot line\r\n...two\r\n\r\n"
            b"end\r\n\r\n.\r\n")
    assert rest == (b"+OK \r\n+OK \r\n+OK 1 %d\r\n" % len(MSG1)
                    + b"+OK \r\n1 %d\r\n.\r\n" % len(MSG1)
                    + b"+OK 1 " + name.encode() + b"\r\n"
                    + b"+OK \r\n" + body
                    + b"+OK \r\nReturn-Path: <a@b>\r\nSubject: one\r\n\r\n\r\n.\r\n"
                    + b"+OK \r\n+OK \r\n+OK \r\n")
    assert os.listdir(md / "cur") == [name + ":2,"]


def test_no_maildir_and_current_second(drop, tmp_path):
    md = drop.user("bob", "{PLAIN}secret")
    shutil.rmtree(md)
    with pop3_server(drop, tmp_path) as server:
        raw = Raw(server.port)
        try:
            raw.send(b"USER bob\r\nPASS secret\r\n")
            out = raw.rest()
        finally:
            raw.close()
        assert out.split(b"\r\n", 1)[1] == b"+OK \r\n-ERR this user has no $HOME/Maildir\r\n"
        md = drop.user("al", "{PLAIN}pw")
        drop.deliver(md, MSG1, mtime=int(time.time()) + 30)   # the future: not listed
        pop = poplib.POP3("127.0.0.1", server.port, timeout=20)
        try:
            pop.user("al")
            pop.pass_("pw")
            assert pop.stat() == (0, 0)
            pop.quit()
        finally:
            pop.close()
        assert len(os.listdir(md / "new")) == 1


def test_five_megabyte_message(drop, tmp_path):
    md = drop.user("bob", "{PLAIN}secret")
    line = b"".join(bytes([33 + (i % 90)]) for i in range(75))
    big = b"Subject: big\n\n" + b"".join(
        (b"." if i % 7 == 0 else b"") + line + b"%08d\n" % i for i in range(62000))
    assert len(big) > 5_000_000
    drop.deliver(md, big)
    with pop3_server(drop, tmp_path) as server:
        pop = poplib.POP3("127.0.0.1", server.port, timeout=30)
        try:
            pop.user("bob")
            pop.pass_("secret")
            assert pop.list(1) == b"+OK 1 %d" % len(big)
            assert b"\n".join(pop.retr(1)[1]) == wire_form(big)
            pop.quit()
        finally:
            pop.close()


def test_client_dropping_mid_retr_commits_nothing(drop, tmp_path):
    md = drop.user("bob", "{PLAIN}secret")
    small = drop.deliver(md, MSG1)
    big = drop.deliver(md, b"Subject: big\n\n" + b"x" * 100 + b"\n" * 1 + b"y\n" * 3_000_000)
    with pop3_server(drop, tmp_path) as server:
        raw = Raw(server.port)
        try:
            raw.send(b"USER bob\r\nPASS secret\r\nDELE 1\r\nRETR 2\r\n")
            raw.until(b"Subject: big")
            raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            raw.close()                               # a reset in the middle of the message
        wait_for_ends(server, 1)
    assert sorted(os.listdir(md / "new")) == sorted([small, big])
    assert os.listdir(md / "cur") == []


def test_second_login_racing_the_first(drop, tmp_path):
    md = drop.user("bob", "{PLAIN}secret")
    names = [drop.deliver(md, b"Subject: %d\n\nbody\n" % i) for i in range(3)]
    with pop3_server(drop, tmp_path) as server:
        first, second = Raw(server.port), Raw(server.port)
        try:
            for raw in (first, second):
                raw.send(b"USER bob\r\nPASS secret\r\nSTAT\r\n")
                assert raw.until(b"\r\n", 4).endswith(b"+OK 3 51\r\n")
            first.send(b"DELE 1\r\nQUIT\r\n")
            assert first.rest().endswith(b"+OK \r\n+OK \r\n")
            # qmail takes no lock: the second session's listing is now stale
            second.send(b"RETR 2\r\nDELE 1\r\nQUIT\r\n")
            assert second.rest().split(b"+OK 3 51\r\n")[1] == (
                b"-ERR unable to open that message\r\n+OK \r\n"
                b"-ERR unable to unlink all deleted messages\r\n+OK \r\n")
        finally:
            first.close()
            second.close()
    assert os.listdir(md / "new") == []
    assert sorted(os.listdir(md / "cur")) == sorted(n + ":2," for n in names[1:])


def test_ten_thousand_messages(drop, tmp_path):
    md = drop.user("bob", "{PLAIN}secret")
    for i in range(10_000):       # one second apart: equal mtimes come in readdir's order
        path = md / "new" / f"{OLD}.{i:05d}.{HOST}"
        path.write_bytes(b"Subject: %d\n\n" % i)
        os.utime(path, (OLD - 10_000 + i, OLD - 10_000 + i))
    drop.chown(md)
    with pop3_server(drop, tmp_path) as server:
        raw = Raw(server.port)
        try:
            raw.send(b"USER bob\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 10000\r\n")
            out = raw.until(b".\r\n", 3)
            raw.send(b"QUIT\r\n")
            out = raw.rest()
        finally:
            raw.close()
    lines = out.split(b"\r\n")
    assert lines[3] == b"+OK 10000 %d" % sum(len(b"Subject: %d\n\n" % i) for i in range(10_000))
    assert lines[4:6] == [b"+OK ", b"1 12"] and lines[10004:10006] == [b"10000 15", b"."]
    assert lines[10006] == b"+OK " and lines[20007] == b"."
    assert [line.split()[1] for line in lines[10007:20007]] == [
        f"{OLD}.{i:05d}.{HOST}".encode() for i in range(10_000)]
    assert lines[20008:20014] == [b"+OK ", b"Subject: 9999", b"", b"", b".", b"+OK "]
    assert len(os.listdir(md / "cur")) == 10_000


def test_mpop_fetches_a_hundred_messages(drop, tmp_path):
    mpop = system_tool("mpop", "mpop")
    md = drop.user("bob", "{PLAIN}secret")
    originals = {}
    for i in range(100):
        body = b"".join(b"%s line %d of message %d\n" % (b"." * (j % 3), j, i)
                        for j in range(i * 7))
        data = b"Subject: message %d\nX-Id: %d\n\n" % (i, i) + body
        originals[drop.deliver(md, data)] = data
    target = tmp_path / "fetched"
    for sub in ("tmp", "new", "cur"):
        (target / sub).mkdir(parents=True)
    with pop3_server(drop, tmp_path) as server:
        result = subprocess.run(
            [mpop, "-C", "/dev/null", "--host=127.0.0.1", f"--port={server.port}",
             "--tls=off", "--auth=user", "--user=bob", "--passwordeval=echo secret",
             f"--deliver=maildir,{target}", "--keep=off", "--only-new=off",
             "--received-header=off", f"--uidls-file={tmp_path / 'uidls'}", "--quiet"],
            capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
    fetched = sorted((target / "new").iterdir())
    assert len(fetched) == 100
    got = sorted(p.read_bytes() for p in fetched)
    # qmail-pop3d's extra empty line reaches the client's copy (§6.3)
    assert got == sorted(data + b"\n" for data in originals.values())
    assert os.listdir(md / "new") == [] and os.listdir(md / "cur") == []   # all deleted


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_exact_transcript_with_flagged_cur_messages(drop, tmp_path, bytewise):
    """Exact bytes through tcpserver, the commands pipelined in one write or sent a byte at
    a time: cur/ messages keep their flags and their UID is the name before ":"; hidden
    names and future mtimes are not listed; QUIT commits only the deletion and new/ -> cur/."""
    md = drop.user("bob", "{PLAIN}secret")
    a = drop.deliver(md, b"Subject: a\n\n.x\n")                     # new/, 15 bytes
    (md / "cur" / "200.2.h:2,S").write_bytes(b"H: b\n\nl1\nl2\n")      # 12 bytes
    (md / "cur" / "300.3.h:2,FR").write_bytes(b"H: c\n")              # 5 bytes, no body
    (md / "new" / ".hidden").write_bytes(b"x")
    future = drop.deliver(md, b"later\n", mtime=int(time.time()) + 3600)
    d = drop.deliver(md, b"Subject: d\n\nbody\n")                    # new/, 17 bytes
    os.utime(md / "cur" / "200.2.h:2,S", (OLD - 20_000, OLD - 20_000))
    os.utime(md / "cur" / "300.3.h:2,FR", (OLD - 9_998, OLD - 9_998))
    drop.chown(md)
    # by mtime: cur/200 (OLD-20000), new/a (OLD-9999), cur/300 (OLD-9998), new/d (OLD-9997)
    commands = (b"USER bob\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nTOP 1 1\r\nTOP 3 0\r\n"
                b"RETR 2\r\nDELE 1\r\nDELE 1\r\nLIST 1\r\nLAST\r\nSTAT\r\nQUIT\r\n")
    expected = (b"+OK \r\n+OK \r\n"
                b"+OK 4 49\r\n"
                b"+OK \r\n1 12\r\n2 15\r\n3 5\r\n4 17\r\n.\r\n"
                b"+OK \r\n1 200.2.h\r\n2 %s\r\n3 300.3.h\r\n4 %s\r\n.\r\n"
                b"+OK \r\nH: b\r\n\r\nl1\r\n\r\n.\r\n"
                b"+OK \r\nH: c\r\n\r\n.\r\n"
                b"+OK \r\nSubject: a\r\n\r\n..x\r\n\r\n.\r\n"
                b"+OK \r\n-ERR already deleted\r\n-ERR already deleted\r\n+OK 1\r\n"
                b"+OK 4 37\r\n+OK \r\n") % (a.encode(), d.encode())
    with pop3_server(drop, tmp_path) as server:
        raw = Raw(server.port)
        try:
            greeting = raw.until(b"\r\n")
            assert greeting.startswith(b"+OK <") and greeting.endswith(b"@%s>\r\n" % HOST.encode())
            if bytewise:
                for i in range(len(commands)):
                    raw.send(commands[i:i + 1])
            else:
                raw.send(commands)
            assert raw.rest()[len(greeting):] == expected
        finally:
            raw.close()
        wait_for_ends(server, 1)
    assert sorted(os.listdir(md / "cur")) == sorted(["300.3.h:2,FR", a + ":2,", d + ":2,"])
    assert sorted(os.listdir(md / "new")) == [".hidden", future]
