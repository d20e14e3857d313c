"""tcpserver: connections per second, ours against Debian's C tcpserver in the same run.

Each server runs `tcpserver -1 -H -R -l 0 127.0.0.1 0 /bin/true` (no DNS or IDENT, as the
C rate is meant); bench/tcpload.c (compiled here with gcc into a temporary directory) keeps
1, 8 and 32 connections in flight (without and with -v, which forks a child that logs then
execs as the C does, and with -v and TCPSERVER_FAST_SPAWN=1, posix_spawn; and `-v -h`, a PTR
query per connection to a local NXDOMAIN-answering DNS server, when root), from 127.0.0.1-8 for a few seconds. Runs alternate C, ours,
C, ours... and the median of each is compared (the machine may be shared: short interleaved
runs), with the CPU time per connection of each server and its programs (utime+stime of the
server plus its reaped children), which other load disturbs less. Also printed: idle RSS of each server, and the
memory each open connection costs (PSS of the server and its children with 20 connections
held open by `cat`, minus idle, per connection).

    python -m bench tcpserver           (TCPSERVER_BENCH_SECONDS, TCPSERVER_BENCH_ROUNDS,
                                         TCPSERVER_BENCH_MODES=plain,v,v-fast,lookups,
                                         TCPSERVER_BENCH_MEMORY=0)
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
C_TCPSERVER = "/usr/bin/tcpserver"
OPTIONS = ["-H", "-R", "-l", "0"]
CONCURRENCY = (1, 8, 32)
HELD = 20


def ours() -> str:
    return str(Path(sys.executable).parent / "tcpserver")


def build_load(tmp: str) -> str:
    exe = os.path.join(tmp, "tcpload")
    subprocess.run(["gcc", "-O2", "-o", exe, str(HERE / "tcpload.c")], check=True)
    return exe


class Server:
    def __init__(self, binary: str, program: list[str], extra: list[str] = ()) -> None:
        env = dict(os.environ, DNSCACHEIP="127.0.0.1")
        self.proc = subprocess.Popen([binary, "-1", *OPTIONS, *extra, "127.0.0.1", "0", *program],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"{binary} did not start: {line!r}")
        self.port = int(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# A DNS server for the "lookups" mode (-h, DNSCACHEIP=127.0.0.1, port 53: root): every query
# answered at once with NXDOMAIN, so both servers pay a real PTR exchange per connection.
NXDOMAIN_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
sys.stdout.write("ready\n"); sys.stdout.flush()
while True:
    q, peer = s.recvfrom(512)
    if len(q) >= 12:
        s.sendto(q[:2] + bytes([0x81 | (q[2] & 0x78), 0x83]) + q[4:6] + b"\0\0\0\0\0\0"
                 + q[12:], peer)
"""


class FakeResolver:
    """The DNS server above, holding the lock tests/fakes.py's FakeDns takes for port 53 (a
    test needing it waits for the bench instead of failing to bind)."""
    LOCK = "/tmp/pyqmail-fake-dns-53.lock"

    def __enter__(self):
        import fcntl
        self.lock = os.open(self.LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + 100
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.lock)
                    raise RuntimeError(f"{self.LOCK} stayed locked") from None
                time.sleep(0.05)
        self.proc = subprocess.Popen([sys.executable, "-c", NXDOMAIN_SERVER],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if self.proc.stdout.readline() != b"ready\n":
            self.__exit__()
            raise RuntimeError("cannot bind 127.0.0.1:53")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        os.close(self.lock)


def cpu_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime: the server and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


def rate(load: str, binary: str, concurrency: int, seconds: float,
         extra: list[str] = ()) -> tuple[float, float]:
    """(connections/s, CPU ms per connection of the server and its programs)."""
    with Server(binary, ["/bin/true"], extra) as server:
        subprocess.run([load, str(server.port), "1", "0.2", "8"], capture_output=True)  # warm
        before = cpu_ticks(server.proc.pid)
        out = subprocess.run([load, str(server.port), str(concurrency), str(seconds), "8"],
                             capture_output=True, text=True, check=True).stdout.split()
        time.sleep(0.1)                                 # the last children reaped
        ticks = cpu_ticks(server.proc.pid) - before
    completed, elapsed, errors = int(out[0]), float(out[1]), int(out[2])
    if errors:
        print(f"  ({binary}: {errors} failed connections)")
    return completed / elapsed, ticks * 1000 / os.sysconf("SC_CLK_TCK") / max(completed, 1)


def pss_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree(pid: int) -> list[int]:
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                pids.append(int(entry))
    return pids


def memory(binary: str) -> tuple[int, float]:
    """(idle RSS kB, kB per held connection by PSS of server + children)."""
    with Server(binary, ["cat"]) as server:
        time.sleep(0.3)
        idle_rss = rss_kb(server.proc.pid)
        idle = sum(pss_kb(p) for p in tree(server.proc.pid))
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(HELD)]
        try:
            deadline = time.monotonic() + 10
            while len(tree(server.proc.pid)) < HELD + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            held = sum(pss_kb(p) for p in tree(server.proc.pid))
        finally:
            for s in socks:
                s.close()
    return idle_rss, (held - idle) / HELD


def main() -> int:
    if not os.path.exists(C_TCPSERVER):
        print(f"bench_tcpserver: {C_TCPSERVER} is absent (apt-get install ucspi-tcp): skipped")
        return 0
    if not shutil.which("gcc"):
        print("bench_tcpserver: gcc is absent: skipped")
        return 0
    seconds = float(os.environ.get("TCPSERVER_BENCH_SECONDS", "1"))
    rounds = int(os.environ.get("TCPSERVER_BENCH_ROUNDS", "5"))
    with tempfile.TemporaryDirectory() as tmp:
        load = build_load(tmp)
        print(f"tcpserver {' '.join(OPTIONS)} 127.0.0.1 0 /bin/true; {seconds:g} s x {rounds} "
              f"rounds, median connections/s")
        worst = None
        modes = os.environ.get("TCPSERVER_BENCH_MODES", "plain,v,v-fast,lookups").split(",")
        resolver = None
        exact = None
        for mode in modes:      # -v as the real start-up lines use it (log to /dev/null)
            extra = {"plain": [], "v": ["-v"], "v-fast": ["-v"], "lookups": ["-v", "-h"]}[mode]
            # v: the default, exact order (a forked child logs, then execs); v-fast: the same
            # with TCPSERVER_FAST_SPAWN=1 (posix_spawn, the order not guaranteed)
            os.environ.pop("TCPSERVER_FAST_SPAWN", None)
            if mode == "v-fast":
                os.environ["TCPSERVER_FAST_SPAWN"] = "1"
            if mode == "lookups":
                try:
                    resolver = FakeResolver().__enter__()
                except (OSError, RuntimeError):
                    print("  -h: cannot serve DNS on 127.0.0.1:53 (needs root): skipped")
                    continue
            for concurrency in CONCURRENCY:
                c_runs, our_runs = [], []
                for _ in range(rounds):
                    c_runs.append(rate(load, C_TCPSERVER, concurrency, seconds, extra))
                    our_runs.append(rate(load, ours(), concurrency, seconds, extra))
                c = statistics.median(r for r, _ in c_runs)
                py = statistics.median(r for r, _ in our_runs)
                c_cpu = statistics.median(t for _, t in c_runs)
                py_cpu = statistics.median(t for _, t in our_runs)
                ratio = py / c
                if mode in ("plain", "v-fast"):
                    worst = ratio if worst is None else min(worst, ratio)
                elif mode == "v":
                    exact = ratio if exact is None else min(exact, ratio)
                label = " ".join(extra) + (" fast" if mode == "v-fast" else "")
                print(f"  {label:9s} {concurrency:3d} concurrent: C {c:7.0f}/s  "
                      f"ours {py:7.0f}/s  ratio {ratio:.2f}x   CPU/connection C {c_cpu:.2f} ms,"
                      f" ours {py_cpu:.2f} ms")
        os.environ.pop("TCPSERVER_FAST_SPAWN", None)
        if resolver is not None:
            resolver.__exit__()
        if worst is not None:
            print(f"  worst ratio without lookups, spawned programs {worst:.2f}x (target >= 0.90x)")
        if exact is not None:
            print(f"  worst ratio with -v, the C's log order (fork, log, exec) {exact:.2f}x")
    if os.environ.get("TCPSERVER_BENCH_MEMORY", "1") == "0":
        return 0
    c_idle, c_per = memory(C_TCPSERVER)
    py_idle, py_per = memory(ours())
    print(f"  idle RSS: C {c_idle} kB, ours {py_idle} kB ({py_idle / max(c_idle, 1):.1f}x)")
    print(f"  per open connection (PSS, program cat): C {c_per:.0f} kB, ours {py_per:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
