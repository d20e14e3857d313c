"""python -m examples.maildrop run|demo: the mail drop on 127.0.0.1 (`make run`, `make demo`).

Lays out $QMAILHOME in ./run/qmail of this checkout (never /var/qmail) with qmail-install,
creates the virtual POP3 user `demo` (password `demo`, vchkpw + qmail-newvpw, and qmail-users
so that demo@localhost is delivered to its Maildir), compiles the rules of examples/tcp.smtp and
examples/tcp.pop3, and starts with qmailctl: qmail-send (through qmail-start), SMTP on
127.0.0.1:2525 (our tcpserver + qmail-smtpd, AUTH through vchkpw) and POP3 on 127.0.0.1:2110
(our tcpserver + qmail-popup + vchkpw + qmail-pop3d), every log into run/qmail/log/current,
shown here as it grows.

run:  prints how to send and fetch, shows the log until Ctrl-C (or SIGTERM), then stops all.
demo: sends a message over SMTP, fetches it back over POP3, printing each step, then stops.
      Exit 0 when the message came back intact, 1 otherwise.
Environment: MAILDROP_SMTP_PORT, MAILDROP_POP3_PORT (default 2525, 2110; 0 = any free port),
MAILDROP_HOME (default ./run/qmail; the tests use a scratch directory).
As root, the demo user is the checkout's owner, or nobody (65534) when root owns the checkout:
qmail-pop3d never runs as root, so that user must be able to reach the checkout (our Python).
"""
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from qmail.ctl import ALL, TITLES, Controller, daemon_env

CHECKOUT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent
HOST = "localhost"
USER, PASSWORD = "demo", "demo"
ADDRESS = f"{USER}@{HOST}"
LOOPBACK = "127.0.0.1"


class DemoFailed(Exception):
    pass


class Maildrop:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.log = home / "log" / "current"
        self.ctl = Controller(str(home))
        self.env = {**os.environ, **daemon_env(str(home))}
        self.log_offset = 0
        self.ports: dict[str, int] = {}

    # -- output -------------------------------------------------------------------------

    def step(self, text: str) -> None:
        self.show_log()
        print(f"\n== {text}", flush=True)

    def wait_log(self, pattern: str, timeout: float = 5.0) -> None:
        """Give a log line matching PATTERN up to TIMEOUT to arrive (for the display only)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log.read_bytes()[self.log_offset:].decode("ascii", "replace"), re.M):
                break
            time.sleep(0.02)
        self.show_log()

    def show_log(self) -> None:
        """Print what the loggers appended since last time (whole lines only)."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self.log_offset)
                data = f.read()
        except FileNotFoundError:
            return
        data = data[: data.rfind(b"\n") + 1]
        self.log_offset += len(data)
        for line in data.decode("ascii", "replace").splitlines():
            if not re.fullmatch(r"(smtpd|pop3d): \d+\.\d+ \d+", line):   # tcpserver -1's port
                print(f"   log| {line}", flush=True)

    def tool(self, *argv: str, quiet: bool = False) -> str:
        proc = subprocess.run(argv, env=self.env, cwd=self.home, capture_output=True, text=True)
        out = (proc.stdout + proc.stderr).rstrip()
        if out and not quiet:
            print("   " + out.replace("\n", "\n   "), flush=True)
        if proc.returncode != 0:
            raise DemoFailed(f"{' '.join(argv)} failed with status {proc.returncode}: {out}")
        return proc.stdout

    # -- set-up -------------------------------------------------------------------------

    def install(self) -> None:
        self.step(f"Laying out $QMAILHOME={self.home} (qmail-install {HOST})")
        self.home.mkdir(parents=True, exist_ok=True)
        self.tool("qmail-install", HOST, quiet=True)
        for name in ("control/me", "control/locals", "control/rcpthosts"):
            text = (self.home / name).read_text().split()
            print(f"   {name}: {' '.join(text)}")

    def demo_user(self) -> tuple[int, int, Path]:
        uid, gid = demo_ids()
        self.step(f"Virtual user {USER} (password {PASSWORD}), uid {uid} gid {gid}")
        make_reachable(uid, gid)
        mailbox = self.home / "mailboxes" / USER
        if not (mailbox / "Maildir").is_dir():
            mailbox.mkdir(parents=True, exist_ok=True)
            self.tool("maildirmake", str(mailbox / "Maildir"))
        for path in [mailbox, *mailbox.rglob("*")]:
            os.lchown(path, uid, gid)
        users = self.home / "users"
        (users / "vpasswd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}:{mailbox}\n")
        self.tool("qmail-newvpw")
        print(f"   users/vpasswd -> users/vpasswd.cdb: {USER} -> {mailbox}")
        (users / "assign").write_text(f"={USER}:{USER}:{uid}:{gid}:{mailbox}:::\n.\n")
        self.tool("qmail-newu")
        print(f"   users/assign -> users/cdb: {ADDRESS} delivered to {mailbox}/Maildir/")
        return uid, gid, mailbox

    def configure(self, smtp_port: int, pop3_port: int) -> None:
        self.step("Rules and services (qmailctl's files in $QMAILHOME/etc)")
        etc = self.home / "etc"
        etc.mkdir(exist_ok=True)
        (self.home / "log").mkdir(exist_ok=True)
        for rules in ("tcp.smtp", "tcp.pop3"):
            shutil.copyfile(EXAMPLES / rules, etc / rules)
        logger = f"qmailctl log {self.log}"
        files = {
            "services": "send smtpd pop3d",
            "send.delivery": "./Maildir/",
            "send.log": f"{logger} qmail",
            "smtpd.tcpserver": "tcpserver",
            "smtpd.listen": f"{LOOPBACK} {smtp_port}",
            "smtpd.options": f"-1 -v -R -H -l {HOST} -c 20",
            "smtpd.command": "qmail-smtpd vchkpw /bin/true",
            "smtpd.log": f"{logger} smtpd",
            "pop3d.tcpserver": "tcpserver",
            "pop3d.listen": f"{LOOPBACK} {pop3_port}",
            "pop3d.options": f"-1 -v -R -H -l {HOST} -c 20",
            "pop3d.command": f"qmail-popup {HOST} vchkpw qmail-pop3d Maildir",
            "pop3d.log": f"{logger} pop3d",
        }
        for name, text in files.items():
            (etc / name).write_text(text + "\n")
        for name in ("smtpd", "pop3d"):
            print(f"   etc/{name}.listen: {files[name + '.listen']}; "
                  f"command: {files[name + '.command']}")
        self.ctl.out = Indented(sys.stdout)
        if self.ctl.cdb(["smtpd", "pop3d"]) != 0:
            raise DemoFailed("tcprules failed")

    def start(self) -> None:
        self.step("Starting qmail-send, SMTP and POP3 (qmailctl start)")
        self.log.touch()
        self.log_offset = self.log.stat().st_size
        self.ctl.out = Indented(sys.stdout)
        for name in ALL:
            self.ctl.start(name)
        deadline = time.monotonic() + 30
        while len(self.ports) < 2 and time.monotonic() < deadline:
            text = self.log.read_bytes()[self.log_offset:].decode("ascii", "replace")
            for name in ("smtpd", "pop3d"):
                m = re.search(rf"^{name}: \d+\.\d+ (\d+)$", text, re.M)
                if m:
                    self.ports[name] = int(m.group(1))
            dead = [n for n in ALL if self.ctl.running(n) is None]
            if dead:
                self.show_log()
                raise DemoFailed(f"{' '.join(dead)} stopped right after starting; see the log above"
                                 " (a port in use? MAILDROP_SMTP_PORT and MAILDROP_POP3_PORT"
                                 " choose others)")
            time.sleep(0.05)
        if len(self.ports) < 2:
            raise DemoFailed("the servers did not report their ports within 30 s")
        self.show_log()

    def stop(self) -> None:
        self.step("Stopping (qmailctl stop)")
        for name in reversed(ALL):
            self.ctl.stop(name, quiet=True)
        self.show_log()
        left = [TITLES[n] for n in ALL if self.ctl.running(n) or self.ctl.running(n, True)]
        print("   stopped" + (f"; still running: {' '.join(left)}" if left else
                              ": nothing left running"), flush=True)

    # -- run and demo -------------------------------------------------------------------

    def instructions(self) -> None:
        smtp, pop3 = self.ports["smtpd"], self.ports["pop3d"]
        print(f"""
== The mail drop is up: SMTP {LOOPBACK}:{smtp}, POP3 {LOOPBACK}:{pop3}, mailbox {ADDRESS}
   (POP3 user {USER}, password {PASSWORD}; SMTP AUTH LOGIN/PLAIN with the same).
   Send:
     swaks --server {LOOPBACK}:{smtp} --from you@example.org --to {ADDRESS}
     python3 -c "import smtplib; smtplib.SMTP('{LOOPBACK}', {smtp}).sendmail('you@example.org', ['{ADDRESS}'], 'Subject: hi\\n\\nhello\\n')"
   Fetch (a message shows up about a second after delivery):
     mpop --host={LOOPBACK} --port={pop3} --tls=off --auth=user --user={USER} --passwordeval='echo {PASSWORD}' --keep=on --deliver=mbox,demo.mbox
     python3 -c "import poplib; p = poplib.POP3('{LOOPBACK}', {pop3}); p.user('{USER}'); p.pass_('{PASSWORD}'); print(p.list()); print(*p.retr(1)[1], sep='\\n'); p.quit()"
   Also: QMAILHOME={self.home} {Path(sys.executable).parent / "qmailctl"} stat|queue|doqueue
   Log lines follow. Ctrl-C stops everything.
""", flush=True)

    def serve_forever(self) -> None:
        while True:
            self.show_log()
            time.sleep(0.2)

    def demo(self, mailbox: Path) -> None:
        import poplib
        import smtplib
        token = secrets.token_hex(8)
        message = (f"From: you@example.org\r\nTo: {ADDRESS}\r\nSubject: maildrop demo {token}\r\n"
                   f"\r\nHello from make demo.\r\n.leading dot, kept\r\nToken: {token}\r\n")
        smtp_port, pop3_port = self.ports["smtpd"], self.ports["pop3d"]

        self.step(f"SMTP: sending a message to {ADDRESS} via {LOOPBACK}:{smtp_port}")
        with smtplib.SMTP(local_hostname="demo.example.org", timeout=30) as s:
            code, text = s.connect(LOOPBACK, smtp_port)
            print(f"   S: {code} {text.decode(errors='replace')}", flush=True)
            for command, call in (
                ("EHLO demo.example.org", lambda: s.ehlo("demo.example.org")),
                ("MAIL FROM:<you@example.org>", lambda: s.mail("you@example.org")),
                (f"RCPT TO:<{ADDRESS}>", lambda: s.rcpt(ADDRESS)),
                ("DATA ... .", lambda: s.data(message.encode())),
            ):
                code, text = call()
                print(f"   C: {command}", flush=True)
                for line in text.decode(errors="replace").split("\n"):
                    print(f"   S: {code} {line}", flush=True)
                if code >= 400:
                    raise DemoFailed(f"SMTP refused {command!r}: {code}")
            code, text = s.docmd("QUIT")
            print(f"   C: QUIT\n   S: {code} {text.decode(errors='replace')}", flush=True)
            s.close()

        self.step("Delivery: qmail-send -> qmail-lspawn -> qmail-local -> Maildir")
        new = mailbox / "Maildir" / "new"
        deadline = time.monotonic() + 60
        files: list[Path] = []
        while time.monotonic() < deadline:
            self.show_log()
            files = [p for p in new.iterdir() if token.encode() in p.read_bytes()]
            if files:
                break
            time.sleep(0.1)
        if not files:
            raise DemoFailed(f"the message did not reach {new} within 60 s")
        print(f"   delivered: {files[0]}", flush=True)
        # qmail-pop3d hides messages modified in the current second (spec/qmail.md §15).
        while time.time() < files[0].stat().st_mtime + 1.05:
            time.sleep(0.05)

        self.step(f"POP3: fetching it back from {LOOPBACK}:{pop3_port}")
        pop = poplib.POP3(LOOPBACK, pop3_port, timeout=30)
        try:
            print(f"   S: {pop.getwelcome().decode(errors='replace')}")
            print(f"   C: USER {USER}\n   S: {pop.user(USER).decode(errors='replace')}")
            print(f"   C: PASS {PASSWORD}\n   S: {pop.pass_(PASSWORD).decode(errors='replace')}")
            count, size = pop.stat()
            print(f"   C: STAT\n   S: +OK {count} {size}")
            found = None
            for n in range(1, count + 1):
                lines = pop.retr(n)[1]
                if any(token.encode() in line for line in lines):
                    found = n, lines
                    break
            if found is None:
                raise DemoFailed("the message is not in the POP3 listing")
            n, lines = found
            print(f"   C: RETR {n}\n   S: +OK, {len(lines)} lines:")
            for line in lines:
                print(f"      {line.decode(errors='replace')}")
            print(f"   C: DELE {n}\n   S: {pop.dele(n).decode(errors='replace')}")
        finally:
            print(f"   C: QUIT\n   S: {pop.quit().decode(errors='replace')}", flush=True)
        # qmail-local adds Return-Path, Delivered-To; qmail-smtpd and qmail-queue a Received
        # line each; qmail-pop3d ends with an empty line (spec/qmail.md §6.3).
        sent = [line.encode() for line in message.split("\r\n")[:-1]]
        if lines[-len(sent) - 1:] != sent + [b""]:
            raise DemoFailed("the fetched message differs from the one sent")
        self.wait_log(rf"^pop3d: \d+\.\d+ tcpserver: end \d+ status \d+$")
        self.step("OK: the message sent over SMTP came back over POP3 intact")


class Indented:
    """qmailctl's messages, indented like the rest of the steps."""

    def __init__(self, out) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.write("".join("   " + line for line in text.splitlines(keepends=True)))

    def flush(self) -> None:
        self.out.flush()

    def fileno(self) -> int:           # subprocess output (tcprules) goes straight through
        return self.out.fileno()


def demo_ids() -> tuple[int, int]:
    """Ours when not root; as root the checkout's owner, else nobody (65534)."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    owner = CHECKOUT.stat()
    if owner.st_uid != 0:
        return owner.st_uid, owner.st_gid
    try:
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return 65534, 65534


def make_reachable(uid: int, gid: int) -> None:
    """Give UID search permission on the directories above the checkout and our Python.

    qmail-local and qmail-pop3d run as the demo user and are Python programs of this checkout.
    Only the x bit for others is added, and only where UID would be refused; each is printed.
    """
    if os.geteuid() != 0:
        return
    needed = {CHECKOUT, *CHECKOUT.parents, Path(sys.prefix).resolve(), *Path(sys.prefix).resolve().parents}
    for directory in sorted(needed):
        st = directory.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            print(f"   chmod o+x {directory} (uid {uid} must reach our programs)", flush=True)
            os.chmod(directory, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["run"], ["demo"]):
        print("usage: python -m examples.maildrop run|demo", file=sys.stderr)
        return 100
    mode = args[0]
    home = Path(os.environ.get("MAILDROP_HOME") or CHECKOUT / "run" / "qmail").resolve()
    os.environ["QMAILHOME"] = str(home)
    smtp_port = int(os.environ.get("MAILDROP_SMTP_PORT", "2525"))
    pop3_port = int(os.environ.get("MAILDROP_POP3_PORT", "2110"))
    try:
        import setproctitle
        setproctitle.setproctitle(f"maildrop {mode}: {home}")
    except ImportError:
        pass

    def terminate(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even if started with it ignored

    drop = Maildrop(home)
    started = False
    try:
        for name in reversed(ALL):          # what a killed earlier run left behind
            drop.ctl.stop(name, quiet=True)
        drop.install()
        _, _, mailbox = drop.demo_user()
        drop.configure(smtp_port, pop3_port)
        started = True
        drop.start()
        if mode == "run":
            drop.instructions()
            drop.serve_forever()
        else:
            drop.demo(mailbox)
        return 0
    except KeyboardInterrupt:
        print("\n== Interrupted", flush=True)
        return 0 if mode == "run" else 1
    except (DemoFailed, OSError) as e:
        print(f"\nmaildrop: {mode} failed: {e}", file=sys.stderr, flush=True)
        return 1
    except Exception as e:                  # a Fatal from qmailctl, an SMTP/POP3 error
        print(f"\nmaildrop: {mode} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        if started:
            signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second Ctrl-C must not cut stop short
            drop.stop()


if __name__ == "__main__":
    sys.exit(main())
