"""POP3: a 20 MB Maildir downloaded with RETR of every message, ours against Dovecot's POP3
server (Debian dovecot-pop3d) in the same run, plus login-to-first-byte latency.

Ours:    tcpserver -1 127.0.0.1 0 qmail-popup HOST vchkpw qmail-pop3d Maildir
Dovecot: /usr/sbin/dovecot -F with a throw-away config on 127.0.0.1 and an unused port,
         passdb/userdb from a passwd-file in a temporary directory.
Both serve their own copy of the same Maildir (200 messages of about 100 KB, with dotted
lines) as the same user (nobody when run as root). Also timed: PASS to the end of LIST
in a Maildir of 10,000 messages. One client (a raw socket, lock-step:
RETR, read to the terminator, next) fetches every message; runs alternate Dovecot, ours, ...
and medians (and bests: the machine may be shared) are compared. Latency: connect -> greeting, and USER/PASS -> the first byte of
the RETR 1 reply (our side: popup, then vchkpw and pop3d in a forked child of popup).

The bench installs nothing: without /usr/sbin/dovecot it says so and exits (apt-get install
dovecot-pop3d).      python -m bench pop3          (POP3_BENCH_ROUNDS, default 9)
"""
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
HOST = "pop.example.org"
MESSAGES = 200
MESSAGE_SIZE = 100_000
USER, SECRET = "bench", "benchpw"


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def ids() -> tuple[int, int]:
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid
    return os.getuid(), os.getgid()


def make_maildir(path: Path, uid: int, gid: int) -> int:
    """MESSAGES messages of about MESSAGE_SIZE bytes; returns the total stored size."""
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True)
    old = int(time.time()) - 3600
    total = 0
    line = b"The quick brown fox jumps over the lazy dog; 0123456789 ABCDEFGHIJKLMNOPQRSTU\n"
    for i in range(MESSAGES):
        body = bytearray(b"Return-Path: <a@example.org>\nSubject: message %d\n\n" % i)
        n = 0
        while len(body) < MESSAGE_SIZE:
            body += (b"." if n % 20 == 0 else b"") + line
            n += 1
        name = path / "new" / f"{old}.{i:04d}.{HOST}"
        name.write_bytes(body)
        os.utime(name, (old, old))
        total += len(body)
    for root, dirs, files in os.walk(path.parent):
        for p in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(p, uid, gid)
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = bytearray(1 << 20)
        self.view = memoryview(self.buf)

    def reply(self, terminator: bytes = b"\r\n") -> int:
        """Read until the data read ends with terminator; returns bytes read."""
        got = 0
        tail = b""
        while True:
            n = self.sock.recv_into(self.buf)
            if not n:
                raise RuntimeError("connection closed")
            got += n
            tail = (tail + bytes(self.view[max(0, n - 8):n]))[-8:]
            if tail.endswith(terminator):
                return got

    def command(self, line: bytes, terminator: bytes = b"\r\n") -> int:
        self.sock.sendall(line)
        return self.reply(terminator)

    def close(self) -> None:
        self.sock.close()


def session(port: int) -> tuple[float, float, float, int]:
    """(connect->greeting, USER/PASS->first byte of RETR 1, seconds for all RETRs, bytes)."""
    t0 = time.perf_counter()
    c = Client(port)
    try:
        c.reply()
        t1 = time.perf_counter()
        c.command(b"USER %s\r\n" % USER.encode())
        c.sock.sendall(b"PASS %s\r\nRETR 1\r\n" % SECRET.encode())
        c.sock.recv(1)                      # "+OK" of PASS: the mailbox is open
        t2 = time.perf_counter()
        c.reply(b"\r\n.\r\n")
        total = 0
        t3 = time.perf_counter()
        for i in range(1, MESSAGES + 1):
            total += c.command(b"RETR %d\r\n" % i, b"\r\n.\r\n")
        t4 = time.perf_counter()
        c.command(b"QUIT\r\n")
    finally:
        c.close()
    return t1 - t0, t2 - t1, t4 - t3, total


def make_many(path: Path, uid: int, gid: int, count: int = 10_000) -> None:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True)
    old = int(time.time()) - 3600
    for i in range(count):
        name = path / "cur" / f"{old}.{i:05d}.{HOST}:2,"
        name.write_bytes(b"Subject: %d\n\nx\n" % i)
        os.utime(name, (old, old))
    for root, dirs, files in os.walk(path.parent):
        for p in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(p, uid, gid)


def listing(port: int, user: str) -> float:
    """Seconds from USER/PASS to the end of LIST (the Maildir scan included)."""
    c = Client(port)
    try:
        c.reply()
        c.command(b"USER %s\r\n" % user.encode())
        t0 = time.perf_counter()
        c.command(b"PASS %s\r\nLIST\r\n" % SECRET.encode(), b"\r\n.\r\n")
        t1 = time.perf_counter()
        c.command(b"QUIT\r\n")
    finally:
        c.close()
    return t1 - t0


def start_ours(base: Path, uid: int, gid: int) -> tuple[subprocess.Popen, int]:
    qmail = base / "qmail"
    (qmail / "users").mkdir(parents=True)
    (qmail / "users" / "vpasswd").write_text(
        f"{USER}:{{PLAIN}}{SECRET}:{uid}:{gid}:{base / 'ours'}\n"
        f"many:{{PLAIN}}{SECRET}:{uid}:{gid}:{base / 'ours-many'}\n")
    env = dict(os.environ, QMAILHOME=str(qmail))
    subprocess.run([bin_path("qmail-newvpw")], check=True, env=env)
    tcpserver = os.environ.get("POP3_BENCH_TCPSERVER") or bin_path("tcpserver")
    proc = subprocess.Popen(
        [tcpserver, "-1", "-R", "-H", "-l", "0", "127.0.0.1", "0", bin_path("qmail-popup"),
         HOST, bin_path("vchkpw"), bin_path("qmail-pop3d"), "Maildir"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        stop(proc)
        raise RuntimeError(f"tcpserver did not start: {line!r}")
    return proc, int(line)


DOVECOT_CONF = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~/Maildir
first_valid_uid = 1
first_valid_gid = 1
pop3_uidl_format = %f
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/users
}}
userdb {{
  driver = passwd-file
  args = {base}/users
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def start_dovecot(base: Path, uid: int, gid: int) -> tuple[subprocess.Popen, int]:
    conf = base / "dovecot"
    for sub in ("run", "state"):
        (conf / sub).mkdir(parents=True)
    (conf / "users").write_text(
        f"{USER}:{{PLAIN}}{SECRET}:{uid}:{gid}::{base / 'dovecot-home'}::\n"
        f"many:{{PLAIN}}{SECRET}:{uid}:{gid}::{base / 'dovecot-many'}::\n")
    port = free_port()
    (conf / "dovecot.conf").write_text(DOVECOT_CONF.format(base=conf, port=port))
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf / "dovecot.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("dovecot exited: " + proc.stderr.read().decode(errors="replace"))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError("dovecot did not listen")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    if not os.path.exists(DOVECOT):
        print(f"bench_pop3: {DOVECOT} is missing (apt-get install dovecot-pop3d); skipped")
        return 0
    rounds = int(os.environ.get("POP3_BENCH_ROUNDS", "9"))
    uid, gid = ids()
    base = Path(tempfile.mkdtemp(prefix="bench-pop3-"))
    base.chmod(0o755)
    procs = []
    try:
        size = make_maildir(base / "ours" / "Maildir", uid, gid)
        make_maildir(base / "dovecot-home" / "Maildir", uid, gid)
        make_many(base / "ours-many" / "Maildir", uid, gid)
        make_many(base / "dovecot-many" / "Maildir", uid, gid)
        ours_proc, ours_port = start_ours(base, uid, gid)
        procs.append(ours_proc)
        dc_proc, dc_port = start_dovecot(base, uid, gid)
        procs.append(dc_proc)
        print(f"maildir: {MESSAGES} messages, {size / 1e6:.1f} MB stored; {rounds} rounds")
        session(dc_port)                    # warm-up: Dovecot builds its index
        session(ours_port)
        results = {"dovecot": [], "ours": []}
        for _ in range(rounds):
            results["dovecot"].append(session(dc_port))
            results["ours"].append(session(ours_port))
        summary = {}
        for name, runs in results.items():
            greet = statistics.median(r[0] for r in runs) * 1000
            login = statistics.median(r[1] for r in runs) * 1000
            rate = statistics.median(r[3] / r[2] for r in runs) / 1e6
            best = max(r[3] / r[2] for r in runs) / 1e6
            summary[name] = (greet, login, rate, best)
            print(f"{name:8} RETR all: {rate:7.1f} MB/s on the wire (best {best:6.1f})   "
                  f"connect->greeting {greet:6.2f} ms   USER/PASS->first byte {login:6.2f} ms")
        (og, ol, orate, obest), (dg, dl, drate, dbest) = summary["ours"], summary["dovecot"]
        print(f"ratio ours/dovecot: throughput {orate / drate:.2f}x median, {obest / dbest:.2f}x "
              f"best (target >= 0.8x); greeting latency {og / dg:.2f}x, login-to-first-byte "
              f"latency {ol / dl:.2f}x")
        listing(dc_port, "many")            # warm-up: Dovecot indexes 10,000 messages
        ours_list = statistics.median(listing(ours_port, "many") for _ in range(3)) * 1000
        dc_list = statistics.median(listing(dc_port, "many") for _ in range(3)) * 1000
        print(f"10,000 messages, PASS -> end of LIST: ours {ours_list:.0f} ms, dovecot "
              f"{dc_list:.0f} ms (indexed); ratio {ours_list / dc_list:.2f}x")
        return 0
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
