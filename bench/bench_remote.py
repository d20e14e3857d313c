"""Remote delivery: one SMTP client process per message to a sink on 127.0.0.1, as
qmail-rspawn runs qmail-remote.

Ours:  qmail-remote example.test SENDER RECIPIENT   (smtproutes: example.test:127.0.0.1:PORT)
Peers: msmtp --host=127.0.0.1 --port=PORT -f SENDER RECIPIENT   (Debian msmtp, C)
       swaks --server 127.0.0.1:PORT ...                        (Debian swaks, Perl)
The sink is a threaded socket server in this process answering 220/250/354/250/221 at once.
Each client sends MESSAGES messages of about 10 KB sequentially; rounds alternate the clients
and medians are compared (messages per second). The Python start-up floor is printed too.
The bench installs nothing: a missing peer is skipped with the package to install.
python -m bench remote         (REMOTE_BENCH_MESSAGES, default 100; REMOTE_BENCH_ROUNDS, default 3)
"""
import os
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MESSAGES = int(os.environ.get("REMOTE_BENCH_MESSAGES", "100"))
ROUNDS = int(os.environ.get("REMOTE_BENCH_ROUNDS", "3"))


class Sink(socketserver.StreamRequestHandler):
    received = 0

    def handle(self) -> None:
        self.wfile.write(b"220 sink ESMTP\r\n")
        in_data = False
        for line in self.rfile:
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    Sink.received += 1
                    self.wfile.write(b"250 ok\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                in_data = True
                self.wfile.write(b"354 go\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def message() -> bytes:
    line = b"The quick brown fox jumps over the lazy dog; 0123456789 ABCDEFGHIJKLMNOPQRSTU\n"
    return b"From: a@example.org\nTo: b@example.test\nSubject: bench\n\n" + line * 125


def rate(argv: list[str], stdin_path: Path, env: dict, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        with open(stdin_path, "rb") as f:
            r = subprocess.run(argv, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env)
        if r.returncode != 0 or (b"K127.0.0.1" not in r.stdout and "qmail-remote" in argv[0]):
            raise RuntimeError(f"{argv[0]} failed: {r.stdout!r} {r.stderr!r}")
    return count / (time.perf_counter() - started)


def main() -> int:
    import compileall
    import qmail
    compileall.compile_dir(os.path.dirname(qmail.__file__), quiet=1)   # as an install does
    server = Server(("127.0.0.1", 0), Sink)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "qmail"
            (home / "control").mkdir(parents=True)
            (home / "control" / "me").write_text("bench.example\n")
            (home / "control" / "smtproutes").write_text(f"example.test:127.0.0.1:{port}\n")
            msg = Path(tmp) / "message"
            msg.write_bytes(message())
            env = dict(os.environ, QMAILHOME=str(home), HOME=tmp)
            ours = str(Path(sys.executable).parent / "qmail-remote")
            clients = {"qmail-remote (ours)": [ours, "example.test", "a@example.org",
                                               "b@example.test"]}
            if shutil.which("msmtp"):
                clients["msmtp"] = ["msmtp", "--host=127.0.0.1", f"--port={port}",
                                    "--domain=bench.example", "-f", "a@example.org",
                                    "b@example.test"]
            else:
                print("msmtp: skipped (apt-get install msmtp)")
            if shutil.which("swaks"):
                clients["swaks"] = ["swaks", "--server", f"127.0.0.1:{port}", "--helo",
                                    "bench.example", "--from", "a@example.org", "--to",
                                    "b@example.test", "--data", "-", "--silent", "2"]
            else:
                print("swaks: skipped (apt-get install swaks)")
            results: dict[str, list[float]] = {n: [] for n in [*clients, "python -c pass"]}
            for _ in range(ROUNDS):
                for name, argv in clients.items():
                    before = Sink.received
                    results[name].append(rate(argv, msg, env, MESSAGES))
                    if Sink.received - before != MESSAGES:
                        raise RuntimeError(f"{name}: {Sink.received - before} of {MESSAGES}")
                results["python -c pass"].append(
                    rate([sys.executable, "-c", "pass"], msg, env, MESSAGES))
    finally:
        server.shutdown()
        server.server_close()
    ours_rate = statistics.median(results["qmail-remote (ours)"])
    print(f"{MESSAGES} messages x {ROUNDS} rounds, one client process each, "
          "messages/second (median):")
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"  {name:22s} {median:8.1f}/s   ours/this = {ours_rate / median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
