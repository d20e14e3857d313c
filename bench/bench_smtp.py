"""SMTP: full transactions per second (EHLO, MAIL, RCPT, 10 KB DATA, QUIT, each message on disk
with fsync before its 250) at 1 and 16 concurrent clients, all in the same run:

  ours      our tcpserver + qmail-smtpd + qmail-queue (a scratch $QMAILHOME from qmail-install;
            qmail-smtpd runs in a warm fork of tcpserver and writes the queue in its own process
            with qmail-queue's code: mess and intd/N fsynced, mess/N%23 fsynced, todo/N linked,
            todo/ fsynced)
  ours+xqq  the same with QMAILQUEUE=qmail-queue: the queue program exec'd (a second interpreter)
  C+ours    Debian's C tcpserver + our qmail-smtpd + qmail-queue (the exec path, no warm start)
  aiosmtpd  aiosmtpd 1.4 (the Python SMTP server people pick instead), a handler that writes each
            message to its own file and fsyncs it (in the default executor) before `250`
  ceiling   Debian's C tcpserver + /bin/true, connect-to-close only (no SMTP at all)
  ours-421  our tcpserver + qmail-smtpd answering 421 at once (no $QMAILHOME): connect-to-close,
            the per-connection cost of our side before any SMTP

The load generator is a separate process: one selector loop keeping N connections in flight,
lock-step like smtplib; it counts transactions whose DATA got 250. Prints the rates, the
ratios ours/aiosmtpd (target: >= 0.5 at 16 clients) and where the time goes: interpreter
start-up, `import qmail.smtpd`, and qmail-queue's part.

Where our time goes (2 cores, perf stat and getrusage over the server tree, sequential
transactions): about 3.6-4 ms of CPU and some 700 minor faults per transaction, two thirds of
it in the kernel. The server (accept, fork, reaping) ~0.5 ms and 150 faults: after each fork
every page it writes is copied again. The warm child before qmail-smtpd's main() ~0.3 ms and
210 faults (the fork's return, descriptors, signals, environment, stdio), main() ~2.5 ms and
320 faults: Python ~1.2 ms (control files, the session, the queue writer), the kernel ~1.3 ms
(page faults, the socket, creating two inodes per message, 4 fsyncs). Nearly all the faults
are copy-on-write: every page a forked Python process writes (reference counts, allocations,
bytecode being specialised) is copied; the SMTP protocol code itself costs ~0.1 ms. On this
ext4 without a journal, creating a file costs more for minutes after many files were deleted
nearby (the allocator skips recently freed inodes), which moves both sides' numbers.

After one pass over every setup, ours and aiosmtpd run AB_ROUNDS more times alternately at 16
clients; the median of those rounds' ratios is the figure for the target.

    python -m bench smtp        (SMTP_BENCH_SECONDS per measurement, default 4;
                                 SMTP_BENCH_ROUNDS alternated rounds, default 3;
                                 SMTP_BENCH_ONLY=ours,aiosmtpd runs only those setups)
"""
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECONDS = float(os.environ.get("SMTP_BENCH_SECONDS", "4"))
AB_ROUNDS = int(os.environ.get("SMTP_BENCH_ROUNDS", "3"))
LINE = b"The quick brown fox jumps over the lazy dog. 0123456789 ABCDEFGHIJKLMNOPQRST\r\n"
BODY = b"Subject: bench\r\n\r\n" + LINE * (10240 // len(LINE))
C_TCPSERVER = "/usr/bin/tcpserver"


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


# --- the load generator (runs as its own process) -------------------------------------------

STEPS = [b"EHLO bench.client\r\n", b"MAIL FROM:<bench@client.example>\r\n",
         b"RCPT TO:<user@example.org>\r\n", b"DATA\r\n", BODY + b".\r\n", b"QUIT\r\n"]
DATA_STEP = 5                        # the reply to STEPS[4] (the message) is the one counted


class Conn:
    __slots__ = ("sock", "step", "buf", "ok")

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.step = 0                # replies received so far
        self.buf = b""
        self.ok = False


def reply_complete(buf: bytes) -> bool:
    if not buf.endswith(b"\r\n"):
        return False
    last = buf[:-2].rsplit(b"\r\n", 1)[-1]
    return len(last) >= 4 and last[3:4] == b" "


def load(port: int, concurrency: int, seconds: float, mode: str) -> tuple[int, float, int]:
    """(completed transactions, elapsed, errors)."""
    sel = selectors.DefaultSelector()
    done = errors = 0
    started = time.monotonic()
    stop_at = started + seconds
    live = 0

    def start() -> None:
        nonlocal live
        c = Conn(port)
        sel.register(c.sock, selectors.EVENT_READ, c)
        live += 1

    def finish(c: Conn, good: bool) -> None:
        nonlocal live, done, errors
        sel.unregister(c.sock)
        c.sock.close()
        live -= 1
        if good:
            done += 1
        else:
            errors += 1
        if time.monotonic() < stop_at:
            start()

    for _ in range(concurrency):
        start()
    while live and time.monotonic() < stop_at + 30:
        for key, _ in sel.select(timeout=1.0):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except OSError:
                data = b""
            if mode == "connect":
                if not data:
                    finish(c, True)
                continue
            if not data:
                finish(c, c.ok)
                continue
            c.buf += data
            if not reply_complete(c.buf):
                continue
            code, c.buf = c.buf[:3], b""
            c.step += 1
            if c.step == DATA_STEP + 1:
                c.ok = code == b"250"
            if c.step > len(STEPS):
                continue                     # 221: wait for the close
            if code[:1] not in b"23":
                finish(c, False)
                continue
            try:
                c.sock.sendall(STEPS[c.step - 1]) if c.step <= len(STEPS) else None
            except OSError:
                finish(c, False)
    return done, time.monotonic() - started, errors


def cpu_ticks(pid: int) -> int:
    """utime + stime of PID and of its reaped children, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


def run_load(port: int, concurrency: int, mode: str, server_pid: int) -> tuple[float, float]:
    """(transactions per second, server CPU ms per transaction)."""
    before = cpu_ticks(server_pid)
    out = subprocess.run([sys.executable, __file__, "--load", str(port), str(concurrency),
                          str(SECONDS), mode], capture_output=True, text=True, timeout=SECONDS + 120)
    time.sleep(0.3)                          # let the last handlers be reaped
    ticks = cpu_ticks(server_pid) - before
    done, elapsed, errors = out.stdout.split()
    if int(errors):
        print(f"    ({errors} failed transactions)")
    cpu = ticks * 1000 / os.sysconf("SC_CLK_TCK") / max(int(done), 1)
    return int(done) / float(elapsed), cpu


# --- the aiosmtpd peer (runs as its own process) ---------------------------------------------

def aiosmtpd_server(directory: str) -> None:
    import asyncio
    import logging
    from aiosmtpd.controller import Controller
    logging.disable(logging.CRITICAL)
    counter = [0]

    def store(data: bytes) -> None:
        counter[0] += 1
        path = os.path.join(directory, "%d.%d" % (os.getpid(), counter[0]))
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(path + ".tmp", path)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            await asyncio.get_running_loop().run_in_executor(None, store, envelope.original_content)
            return "250 OK"

    with socket.socket() as probe:                 # Controller cannot start on port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    try:
        sys.stdin.read()                     # until the bench closes our stdin
    finally:
        controller.stop()


# --- the bench ---------------------------------------------------------------------------------

class Server:
    def __init__(self, argv: list[str], env: dict) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"{argv[0]} did not start")
        self.port = int(line)

    def stop(self) -> None:
        import signal
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def tcpserver(binary: str, program: list[str], env: dict) -> Server:
    return Server([binary, "-1", "-H", "-R", "-l", "mx.local", "-c", "100", "-b", "100",
                   "127.0.0.1", "0", *program], env)


def count_queued(home: Path) -> int:
    return len(os.listdir(home / "queue" / "todo"))


def startup_costs() -> dict[str, float]:
    """Median wall time of an interpreter start and of `import qmail.smtpd` in a fresh one."""
    def median(args: list[str]) -> float:
        times = []
        for _ in range(15):
            t = time.perf_counter()
            subprocess.run([sys.executable, *args], check=True)
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1000
    return {"python -c pass": median(["-c", "pass"]),
            "python -c 'import qmail.smtpd'": median(["-c", "import qmail.smtpd"]),
            "python -c 'import qmail.smtpd, qmail.queue'":
                median(["-c", "import qmail.smtpd, qmail.queue"])}


def queue_cost(home: Path) -> float:
    """Median ms of one exec'd qmail-queue storing a 10 KB message (for comparison)."""
    times = []
    env = dict(os.environ, QMAILHOME=str(home))
    message = BODY.replace(b"\r\n", b"\n")
    for _ in range(15):
        with tempfile.TemporaryFile() as envelope:
            envelope.write(b"Fa@b\0Tuser@example.org\0\0")
            envelope.seek(0)
            t = time.perf_counter()
            subprocess.run([bin_path("qmail-queue")], input=message, stdout=envelope, env=env,
                           check=True)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> int:
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        print("bench_smtp: aiosmtpd missing (pip install aiosmtpd); skipped")
        return 0
    have_c = os.path.exists(C_TCPSERVER)
    base = Path(tempfile.mkdtemp(prefix="bench-smtp-", dir="/tmp"))
    try:
        home = base / "qmail"
        env = dict(os.environ, QMAILHOME=str(home))
        env.pop("QMAILQUEUE", None)
        # compiled modules are cached as on any installed system (exec'd programs would
        # otherwise compile every module on every start)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([bin_path("qmail-install"), "mx.example.org"], env=env, check=True,
                       stderr=subprocess.DEVNULL)
        (home / "control" / "rcpthosts").write_bytes(b"example.org\n")
        store = base / "aiosmtpd"
        store.mkdir()
        rates: dict[str, dict[int, float]] = {}
        exec_qq = dict(env, QMAILQUEUE=bin_path("qmail-queue"))
        setups = [("ours", lambda: tcpserver(bin_path("tcpserver"), [bin_path("qmail-smtpd")],
                                             env)),
                  ("ours+xqq", lambda: tcpserver(bin_path("tcpserver"),
                                                 [bin_path("qmail-smtpd")], exec_qq))]
        if have_c:
            setups.append(("C+ours", lambda: tcpserver(C_TCPSERVER, [bin_path("qmail-smtpd")],
                                                       env)))
        setups.append(("aiosmtpd", lambda: Server([sys.executable, __file__, "--aiosmtpd",
                                                   str(store)], dict(os.environ))))
        if have_c:
            setups.append(("ceiling", lambda: tcpserver(C_TCPSERVER, ["/bin/true"], env)))
        # our tcpserver's warm fork + a qmail-smtpd that only says 421 (no controls): the
        # per-connection floor of our side, for "where the time goes"
        no_home = dict(env, QMAILHOME=str(base / "nonexistent"))
        setups.append(("ours-421", lambda: tcpserver(bin_path("tcpserver"),
                                                     [bin_path("qmail-smtpd")], no_home)))
        only = os.environ.get("SMTP_BENCH_ONLY")          # e.g. "ours,aiosmtpd" while tuning
        if only:
            setups = [(n, m) for n, m in setups if n in only.split(",")]
        for name, make in setups:
            server = make()
            try:
                for concurrency in (1, 16):
                    before = count_queued(home)
                    mode = "connect" if name in ("ceiling", "ours-421") else "smtp"
                    rate, cpu = run_load(server.port, concurrency, mode, server.proc.pid)
                    rates.setdefault(name, {})[concurrency] = rate
                    extra = ""
                    if name.startswith(("ours", "C+ours")):
                        extra = f"  ({count_queued(home) - before} messages in todo/)"
                    print(f"  {name:9} {concurrency:2} clients: {rate:8.1f} /s"
                          f"  server CPU {cpu:5.2f} ms/transaction{extra}", flush=True)
            finally:
                server.stop()
        print()
        if only:
            return 0
        for concurrency in (1, 16):
            ratio = rates["ours"][concurrency] / rates["aiosmtpd"][concurrency]
            print(f"  ours/aiosmtpd at {concurrency:2} clients: {ratio:.2f}x (the pass above)")
        named = dict(setups)
        ratios = []
        for round_ in range(AB_ROUNDS):        # alternated, so that drifts of the machine
            pair = {}                          # (other jobs, the file system) hit both sides
            for name in ("ours", "aiosmtpd"):
                server = named[name]()
                try:
                    pair[name] = run_load(server.port, 16, "smtp", server.proc.pid)[0]
                finally:
                    server.stop()
            ratios.append(pair["ours"] / pair["aiosmtpd"])
            print(f"  A/B round {round_ + 1}: ours {pair['ours']:6.1f} /s, aiosmtpd "
                  f"{pair['aiosmtpd']:6.1f} /s at 16 clients: {ratios[-1]:.2f}x")
        print(f"  ours/aiosmtpd at 16 clients, median of {AB_ROUNDS} alternated rounds: "
              f"{statistics.median(ratios):.2f}x   (target >= 0.5)")
        if have_c:
            for concurrency in (1, 16):
                ceiling = rates["ours"][concurrency] / rates["ceiling"][concurrency]
                c_ours = rates["C+ours"][concurrency] / rates["aiosmtpd"][concurrency]
                print(f"  ours/ceiling at {concurrency:2}: {ceiling:.2f}x"
                      f"   C+ours/aiosmtpd: {c_ours:.2f}x")
        print("\n  where the time goes (median wall ms):")
        for what, ms in startup_costs().items():
            print(f"    {what:45} {ms:6.1f}")
        print(f"    {'exec qmail-queue, 10 KB message, 4 fsyncs':45} {queue_cost(home):6.1f}")
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        port, concurrency, seconds, mode = sys.argv[2:6]
        done, elapsed, errors = load(int(port), int(concurrency), float(seconds), mode)
        print(done, elapsed, errors)
    elif len(sys.argv) > 1 and sys.argv[1] == "--aiosmtpd":
        aiosmtpd_server(sys.argv[2])
    else:
        sys.exit(main())
