"""qmailctl COMMAND [SERVICE...]: start and stop qmail's long-running parts, like the qmailctl
script of most qmail installations, without daemontools.

Commands: start, stop, restart, stat, pause, cont, reload|hup (SIGHUP to qmail-send),
doqueue|alrm|flush (SIGALRM to qmail-send), queue (qmail-qstat, qmail-qread), cdb (tcprules for
every rules file), help; and `log FILE [TAG]`, a logger for machines without syslog. SERVICEs:
send, smtpd, pop3d (default: those named in etc/services).

Each service is a server and its logger, both detached with python-daemon, with pid files in
$QMAILHOME/run/ (NAME.pid, NAME.log.pid, each with a .start file telling a reused pid apart),
the server's fds 1 and 2 piped to the logger:
  send    qmail-start DELIVERY                      (qmail-send's log on qmail-start's fd 1)
  smtpd   tcpserver OPTIONS [-x CDB] HOST PORT COMMAND 2>&1
  pop3d   tcpserver OPTIONS [-x CDB] HOST PORT COMMAND 2>&1
Configuration: files under $QMAILHOME/etc/, each read as one shell-quoted line (# comments);
a missing file means the default (ME is the first line of control/me, else `localhost`):
  services          send smtpd pop3d
  send.delivery     ./Maildir/
  NAME.tcpserver    tcpserver                           (e.g. /usr/bin/tcpserver, the C one)
  NAME.listen       0 smtp  |  0 pop3                   (tcpserver's HOST PORT)
  NAME.options      -v -R -H -l ME -c 100               (tcpserver's options)
  NAME.command      qmail-smtpd  |  qmail-popup ME checkpassword qmail-pop3d Maildir
  NAME.rules        etc/tcp.smtp  |  etc/tcp.pop3       (relative to $QMAILHOME; `-x RULES.cdb`
                                                      is added when that cdb exists)
  NAME.log          splogger qmail  |  splogger smtpd  |  splogger pop3d
The daemons run in $QMAILHOME with umask 022 and the environment QMAILHOME=$QMAILHOME,
PATH=<our scripts>:$QMAILHOME/bin:/usr/local/bin:/usr/bin:/bin.
Exit: 0; 1 for a usage error, for `stat` when an enabled service is down, or when a command
failed for some service (111 when a program could not be started).
"""
import os
import shlex
import signal
import sys
import sysconfig
import time
from dataclasses import dataclass

from qmail import daemonize as dz
from qmail.die import Fatal, djb_error, write_all

USAGE = ("Usage: qmailctl {start|stop|restart|doqueue|flush|reload|stat|pause|cont|cdb|queue"
         "|help} [send|smtpd|pop3d...]\n")

HELP = """\
   stop -- stops mail service (smtp connections refused, nothing goes out)
  start -- starts mail service (smtp connection accepted, mail can go out)
  pause -- temporarily stops mail service (connections accepted, nothing leaves)
   cont -- continues paused mail service
   stat -- displays status of mail service
    cdb -- rebuild the tcpserver cdb files for smtp and pop3
restart -- stops and restarts smtp, sends qmail-send a TERM & restarts it
doqueue -- schedules queued messages for immediate delivery
 reload -- sends qmail-send HUP, rereading locals and virtualdomains
  queue -- shows status of queue
   alrm -- same as doqueue
  flush -- same as doqueue
    hup -- same as reload
    log -- log FILE [TAG]: append stdin to FILE as TAG: <stamp> <line> (no syslog needed)
"""

ALL = ("send", "smtpd", "pop3d")
TITLES = {"send": "qmail-send", "smtpd": "qmail-smtpd", "pop3d": "qmail-pop3d"}
STOP_GRACE = {"send": 60.0, "smtpd": 10.0, "pop3d": 10.0}   # seconds before TERM, then KILL
LOGGER_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class Service:
    name: str                   # send, smtpd, pop3d
    argv: tuple[str, ...]       # the server
    logger: tuple[str, ...]     # reads the server's fds 1 and 2
    rules: str | None           # rules source for `cdb` (absolute)


def read_words(home: str, name: str, default: str) -> list[str]:
    """$QMAILHOME/etc/NAME as shell words; DEFAULT when the file is missing."""
    try:
        with open(os.path.join(home, "etc", name), encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except FileNotFoundError:
        text = default
    try:
        return shlex.split(text, comments=True)
    except ValueError as e:
        raise Fatal(f"unable to parse etc/{name}: {e}", 1) from e


def me(home: str) -> str:
    try:
        with open(os.path.join(home, "control", "me"), "rb") as f:
            line = f.readline().rstrip(b" \t\r\n")
    except FileNotFoundError:
        line = b""
    return os.fsdecode(line) or "localhost"


def load_service(home: str, name: str) -> Service:
    """NAME's command lines from $QMAILHOME/etc/ and the defaults (module docstring)."""
    host = me(home)
    if name == "send":
        delivery = read_words(home, "send.delivery", "./Maildir/")
        return Service(name, ("qmail-start", *delivery),
                       tuple(read_words(home, "send.log", "splogger qmail")), None)
    port, command = {"smtpd": ("smtp", "qmail-smtpd"),
                     "pop3d": ("pop3", f"qmail-popup {host} checkpassword qmail-pop3d Maildir")}[name]
    rules = read_words(home, f"{name}.rules", f"etc/tcp.{port}")
    rules_path = os.path.join(home, rules[0]) if rules else None
    options = read_words(home, f"{name}.options", f"-v -R -H -l {shlex.quote(host)} -c 100")
    if rules_path and os.path.exists(rules_path + ".cdb"):
        options += ["-x", rules_path + ".cdb"]
    listen = read_words(home, f"{name}.listen", f"0 {port}")
    argv = (*read_words(home, f"{name}.tcpserver", "tcpserver"), *options, *listen, *read_words(home, f"{name}.command", command))
    return Service(name, argv, tuple(read_words(home, f"{name}.log", f"splogger {name}")),
                   rules_path)


def daemon_env(home: str) -> dict[str, str]:
    scripts = sysconfig.get_path("scripts")
    path = [scripts, os.path.join(home, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]
    return {"QMAILHOME": home, "PATH": ":".join(dict.fromkeys(path))}


class Controller:
    def __init__(self, home: str, out=None) -> None:
        self.home = os.path.abspath(home)
        self.run_dir = os.path.join(self.home, "run")
        self.out = out or sys.stdout

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def enabled(self) -> list[str]:
        names = read_words(self.home, "services", " ".join(ALL))
        bad = [n for n in names if n not in ALL]
        if bad:
            raise Fatal(f"unknown service in etc/services: {' '.join(bad)}", 1)
        return names

    def pidfile(self, name: str, logger: bool = False) -> str:
        return os.path.join(self.run_dir, f"{TITLES[name]}{'.log' if logger else ''}.pid")

    def running(self, name: str, logger: bool = False) -> int | None:
        """The pid of NAME's server (or logger) if it runs, else None."""
        path = self.pidfile(name, logger)
        pid = dz.read_pidfile(path)
        return pid if dz.alive(pid, dz.read_start(path)) else None

    # -- start and stop -------------------------------------------------------------------

    def start(self, name: str) -> None:
        title = TITLES[name]
        if self.running(name):
            self.say(f"{title} is already running")
            return
        self.stop(name, quiet=True)         # a logger left from a crashed server
        service = load_service(self.home, name)
        os.makedirs(self.run_dir, exist_ok=True)
        env = daemon_env(self.home)
        log_r, log_w = os.pipe()
        try:
            logger = dz.spawn_daemon(service.logger, env=env, cwd=self.home,
                                     pidfile=self.pidfile(name, logger=True), stdin=log_r)
            try:
                dz.spawn_daemon(service.argv, env=env, cwd=self.home,
                                pidfile=self.pidfile(name), stdout=log_w, stderr=log_w)
            except Fatal:
                os.close(log_w)
                log_w = -1
                dz.wait_gone([logger], LOGGER_GRACE)
                self.stop(name, quiet=True)
                raise
        finally:
            os.close(log_r)
            if log_w >= 0:
                os.close(log_w)
        self.say(f"Starting {title}")

    def stop(self, name: str, quiet: bool = False) -> None:
        """TERM the server, wait for it and everything in its session (its connections, qmail-
        send's helpers), then for the logger to read to the end; KILL only what outstays."""
        title = TITLES[name]
        server, logger = self.running(name), self.running(name, logger=True)
        if server is None and logger is None:
            if not quiet:
                self.say(f"{title} is not running")
            dz.remove_pidfile(self.pidfile(name))
            dz.remove_pidfile(self.pidfile(name, logger=True))
            return
        if not quiet:
            self.say(f"Stopping {title}")
        for pid, grace in ((server, STOP_GRACE[name]), (logger, LOGGER_GRACE)):
            if pid is None:
                continue
            sid = dz.session_of(pid)
            if pid == server:
                dz.signal_all([pid], signal.SIGTERM)
                dz.signal_all([pid], signal.SIGCONT)
            if dz.wait_gone([pid], grace):
                self.say(f"{title}: pid {pid} did not stop in {grace:g} s; killed")
                dz.signal_all([pid], signal.SIGKILL)
                dz.wait_gone([pid], 5.0)
            if sid:
                left = dz.end_session(sid, grace)
                if left:
                    self.say(f"{title}: killed leftover processes {' '.join(map(str, left))}")
        dz.remove_pidfile(self.pidfile(name), server)
        dz.remove_pidfile(self.pidfile(name, logger=True), logger)

    # -- the commands -------------------------------------------------------------------

    def stat(self, names: list[str]) -> int:
        down = 0
        for name in names:
            for logger in (False, True):
                label = TITLES[name] + ("/log" if logger else "")
                pid = self.running(name, logger)
                if pid is None:
                    self.say(f"{label}: down")
                    down += 1
                else:
                    up = time.time() - os.stat(self.pidfile(name, logger)).st_mtime
                    self.say(f"{label}: up (pid {pid}) {max(0, int(up))} seconds")
        self.run_tool(["qmail-qstat"], quiet=True)
        return 1 if down else 0

    def signal_send(self, sig: int, text: str) -> int:
        pid = self.running("send")
        if pid is None:
            self.say("qmail-send is not running")
            return 1
        self.say(text)
        os.kill(pid, sig)
        return 0

    def pause_or_cont(self, names: list[str], sig: int, verb: str) -> int:
        for name in names:
            pid = self.running(name)
            if pid is None:
                self.say(f"{TITLES[name]} is not running")
                continue
            self.say(f"{verb} {TITLES[name]}")
            os.kill(pid, sig)
        return 0

    def cdb(self, names: list[str]) -> int:
        status = 0
        for name in names:
            service = load_service(self.home, name)
            if service.rules is None:
                continue
            if not os.path.exists(service.rules):
                self.say(f"{service.rules} does not exist; {name} runs without rules")
                continue
            with open(service.rules, "rb") as rules:
                code = self.run_tool(["tcprules", service.rules + ".cdb", service.rules + ".tmp"],
                                     stdin=rules)
            if code == 0:
                os.chmod(service.rules + ".cdb", 0o644)
                self.say(f"Reloaded {service.rules}.")
            else:
                status = 1
        return status

    def run_tool(self, argv: list[str], stdin=None, quiet: bool = False) -> int:
        import subprocess
        env = {**os.environ, **daemon_env(self.home)}
        try:
            return subprocess.run(argv, stdin=stdin, stdout=self.out, env=env, cwd=self.home,
                                  stderr=subprocess.DEVNULL if quiet else None).returncode
        except OSError as e:
            if not quiet:
                self.say(f"qmailctl: unable to run {argv[0]}: {djb_error(e)}")
            return 111


def log_to_file(path: str, tag: str) -> int:
    """`qmailctl log FILE [TAG]`: splogger's lines (stamp, `?`, 799-byte chunks) appended to
    FILE as `TAG: <stamp> <text>`, one write per batch, for machines without syslog."""
    from qmail.splogger import Splogger
    try:
        import setproctitle
        setproctitle.setproctitle(f"qmailctl log {path} {tag}")
    except ImportError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    core, prefix = Splogger(), os.fsencode(tag) + b": "
    while True:
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        if not data:
            return 0
        lines = [prefix + m.text + b"\n" for m in core.receive_data(data, time.time_ns())]
        if lines:
            write_all(fd, b"".join(lines))


def main(argv: list[str] | None = None) -> int:
    from qmail.control import qmail_home
    from qmail.die import run

    args = sys.argv[1:] if argv is None else argv

    def body() -> int:
        if not args:
            sys.stdout.write(USAGE)
            return 1
        command, rest = args[0], args[1:]
        if command == "log":
            if len(rest) not in (1, 2):
                sys.stdout.write("Usage: qmailctl log FILE [TAG]\n")
                return 1
            return log_to_file(rest[0], rest[1] if len(rest) > 1 else "qmailctl")
        ctl = Controller(qmail_home())
        bad = [n for n in rest if n not in ALL]
        if bad:
            sys.stdout.write(USAGE)
            return 1
        names = rest or ctl.enabled()
        ordered = [n for n in ALL if n in names]          # send first, servers after
        if command == "start":
            for name in ordered:
                ctl.start(name)
            return 0
        if command == "stop":
            for name in reversed(ordered):                # stop accepting mail first
                ctl.stop(name)
            return 0
        if command == "restart":
            for name in reversed(ordered):
                ctl.stop(name)
            for name in ordered:
                ctl.start(name)
            return 0
        if command == "stat":
            return ctl.stat(ordered)
        if command in ("reload", "hup"):
            return ctl.signal_send(signal.SIGHUP, "Sending HUP signal to qmail-send.")
        if command in ("doqueue", "alrm", "flush"):
            return ctl.signal_send(signal.SIGALRM, "Sending ALRM signal to qmail-send.")
        if command == "pause":
            return ctl.pause_or_cont(ordered, signal.SIGSTOP, "Pausing")
        if command == "cont":
            return ctl.pause_or_cont(ordered, signal.SIGCONT, "Continuing")
        if command == "queue":
            return max(ctl.run_tool(["qmail-qstat"]), ctl.run_tool(["qmail-qread"]))
        if command == "cdb":
            return ctl.cdb([n for n in ordered if n != "send"] or ["smtpd", "pop3d"])
        if command == "help":
            sys.stdout.write(HELP)
            return 0
        sys.stdout.write(USAGE)
        return 1

    return run("qmailctl", body)


if __name__ == "__main__":
    sys.exit(main())
