"""Delivery: 1,000 local messages from qmail-queue to a Maildir through the whole qmail-send
process structure (qmail-start: qmail-send, qmail-lspawn, qmail-clean, qmail-local).

Figures (messages per second):
- queue-in: 1,000 runs of our qmail-queue, one process per message, sequentially (fsyncs
  included), as qmail-smtpd or qmail-inject run it;
- delivery: qmail-start started on the 1,000 queued messages until all are in new/ and the
  queue is empty; with qmail-local run in-process by qmail-lspawn (the default for ours) and,
  for comparison, exec'd (bin/qmail-local a copy of the console script, as for a foreign one);
- end to end: 1,000 / (queue-in time + delivery time);
- SMTP in to Maildir: SMTP_MESSAGES messages (default 300) sent by 4 concurrent clients, one
  connection per message, through our tcpserver + qmail-smtpd (which runs our qmail-queue)
  while qmail-send runs, until all are in new/.
Ceiling of the same run: connections per second through Debian's C tcpserver running /bin/true
(10 concurrent clients), i.e. what one process per event costs here without Python.
Needs root (deliveries run as uid 65534). python -m bench delivery   (DELIVERY_BENCH_MESSAGES)
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MESSAGES = int(os.environ.get("DELIVERY_BENCH_MESSAGES", "1000"))
SMTP_MESSAGES = int(os.environ.get("DELIVERY_BENCH_SMTP_MESSAGES", "300"))
NOBODY = 65534
BIN = Path(sys.executable).parent


def message(i: int) -> bytes:
    line = b"The quick brown fox jumps over the lazy dog; 0123456789 ABCDEFGHIJKLMNOPQRSTU\n"
    return b"From: a@example.org\nTo: joe@mx.example.org\nSubject: bench %d\n\n" % i + line * 20


ENVELOPE = b"Fa@example.org\0Tjoe@mx.example.org\0\0"


def setup(base: Path) -> tuple[Path, Path, dict]:
    home = base / "qmail"
    env = dict(os.environ, QMAILHOME=str(home))
    subprocess.run([str(BIN / "qmail-install"), "mx.example.org"], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    joe = base / "joe"
    for sub in ("tmp", "new", "cur"):
        (joe / "Maildir" / sub).mkdir(parents=True)
    for path in [joe, *joe.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    (home / "users" / "assign").write_bytes(
        b"=joe:joe:%d:%d:%s:::\n.\n" % (NOBODY, NOBODY, str(joe).encode()))
    subprocess.run([str(BIN / "qmail-newu")], env=env, check=True)
    return home, joe, env


def queue_in(home: Path, env: dict, count: int) -> float:
    envfile = home.parent / "envelope"
    envfile.write_bytes(ENVELOPE)
    started = time.perf_counter()
    for i in range(count):
        with open(envfile, "rb") as ef:
            subprocess.run([str(BIN / "qmail-queue")], input=message(i), stdout=ef, env=env,
                           check=True)
    return time.perf_counter() - started


def deliver(home: Path, joe: Path, env: dict, count: int) -> float:
    log = open(home.parent / "send.log", "ab")
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "qmail-start"), "./Maildir/"], stdout=log, stderr=log,
                            env=env, start_new_session=True)
    try:
        queue = home / "queue"
        deadline = time.monotonic() + 600
        while True:
            if len(os.listdir(joe / "Maildir" / "new")) >= count and not any(
                    os.listdir(queue / "info" / str(i)) for i in range(23)):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("delivery did not finish; see send.log")
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        try:
            stop(proc)
        finally:
            log.close()


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM PROC, wait for it, then SIGKILL what is left of its session."""
    proc.terminate()
    try:
        proc.wait(20)
    finally:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass


def smtp_in(count: int, clients: int = 4) -> float:
    """Seconds from the first SMTP connection until COUNT messages are in the Maildir."""
    import smtplib
    base = Path(tempfile.mkdtemp(prefix="pyqmail-bench-", dir="/tmp"))
    try:
        base.chmod(0o755)
        home, joe, env = setup(base)
        log = open(base / "send.log", "ab")
        send = subprocess.Popen([str(BIN / "qmail-start"), "./Maildir/"], stdout=log,
                                stderr=log, env=env, start_new_session=True)
        server = subprocess.Popen([str(BIN / "tcpserver"), "-1", "-H", "-R", "-l",
                                   "mx.example.org", "-c", "40", "127.0.0.1", "0",
                                   str(BIN / "qmail-smtpd")], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            port = int(server.stdout.readline())
            errors = []

            def client(k: int) -> None:
                try:
                    for i in range(k, count, clients):
                        with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
                            c.sendmail("a@example.org", ["joe@mx.example.org"],
                                       message(i).replace(b"\n", b"\r\n"))
                except Exception as e:          # reported below, not swallowed
                    errors.append(e)
            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise RuntimeError(f"SMTP client failed: {errors[0]!r}")
            deadline = time.monotonic() + 600
            while len(os.listdir(joe / "Maildir" / "new")) < count:
                if time.monotonic() > deadline:
                    raise RuntimeError("SMTP messages not delivered in time")
                time.sleep(0.01)
            return time.perf_counter() - started
        finally:
            try:
                stop(server)
                stop(send)
            finally:
                log.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def tcpserver_ceiling(seconds: float = 3.0, clients: int = 10) -> float | None:
    tcpserver = shutil.which("tcpserver", path="/usr/bin")
    if not tcpserver:
        print("tcpserver + /bin/true: skipped (apt-get install ucspi-tcp)")
        return None
    proc = subprocess.Popen([tcpserver, "-1", "-H", "-R", "-l", "0", "-c", "100", "127.0.0.1",
                             "0", "/bin/true"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline())
        done = [0] * clients
        stop = time.monotonic() + seconds

        def client(k: int) -> None:
            while time.monotonic() < stop:
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.recv(16)
                done[k] += 1
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(done) / (time.perf_counter() - started)
    finally:
        proc.kill()
        proc.wait()


def run(count: int, exec_local: bool) -> tuple[float, float]:
    base = Path(tempfile.mkdtemp(prefix="pyqmail-bench-", dir="/tmp"))
    try:
        base.chmod(0o755)
        home, joe, env = setup(base)
        if exec_local:                      # not our console script: exec'd per delivery
            target = home / "bin" / "qmail-local"
            target.unlink()
            shutil.copy(BIN / "qmail-local", target)
        t_in = queue_in(home, env, count)
        t_out = deliver(home, joe, env, count)
        delivered = len(os.listdir(joe / "Maildir" / "new"))
        if delivered != count:
            raise RuntimeError(f"{delivered} delivered, {count} queued")
        return t_in, t_out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    if os.getuid() != 0:
        print("delivery bench: skipped (needs root: deliveries run as uid 65534)")
        return 0
    t_in, t_out = run(MESSAGES, exec_local=False)
    _x_in, t_exec = run(MESSAGES, exec_local=True)
    t_smtp = smtp_in(SMTP_MESSAGES)
    ceiling = tcpserver_ceiling()
    n = MESSAGES
    print(f"messages: {n} local, {len(message(0))} bytes each")
    print(f"queue-in (qmail-queue per message):        {n / t_in:8.1f} msg/s")
    print(f"delivery, qmail-local in-process (default): {n / t_out:8.1f} msg/s")
    print(f"delivery, qmail-local exec'd:               {n / t_exec:8.1f} msg/s")
    print(f"end to end (queue-in + delivery):           {n / (t_in + t_out):8.1f} msg/s")
    print(f"SMTP in to Maildir ({SMTP_MESSAGES} msgs, 4 clients):   "
          f"{SMTP_MESSAGES / t_smtp:8.1f} msg/s")
    if ceiling:
        print(f"ceiling: C tcpserver + /bin/true:           {ceiling:8.1f} conn/s")
        print(f"ratios to the ceiling: queue-in {n / t_in / ceiling:.3f}, delivery "
              f"{n / t_out / ceiling:.3f} (exec'd {n / t_exec / ceiling:.3f}), end to end "
              f"{n / (t_in + t_out) / ceiling:.3f}, SMTP in to Maildir "
              f"{SMTP_MESSAGES / t_smtp / ceiling:.3f}")
    print(f"in-process / exec'd qmail-local delivery: {t_exec / t_out:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
