"""Local delivery: one process per message into a Maildir, as qmail-lspawn runs qmail-local.

Ours:  qmail-local -- USER HOME LOCAL '' '' HOST SENDER ./Maildir/   (no .qmail: defaultdelivery)
Peers: safecat Maildir/tmp Maildir/new   (Debian safecat: djb's Maildir protocol, nothing else)
       maildrop FILTER                   (Debian maildrop, a filter file `to "HOME/Maildir/"`)
Each program delivers MESSAGES messages of about 4 KB, one process per message, sequentially;
rounds alternate the programs and medians are compared (messages per second). The Python
start-up floor (`python -c pass`) of the same run is printed for context.
The bench installs nothing: a missing peer is skipped with the package to install.
python -m bench local          (LOCAL_BENCH_MESSAGES, default 200; LOCAL_BENCH_ROUNDS, default 3)
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MESSAGES = int(os.environ.get("LOCAL_BENCH_MESSAGES", "200"))
ROUNDS = int(os.environ.get("LOCAL_BENCH_ROUNDS", "3"))


def message() -> bytes:
    line = b"The quick brown fox jumps over the lazy dog; 0123456789 ABCDEFGHIJKLMNOPQRSTU\n"
    return b"From: a@example.org\nTo: b@example.org\nSubject: bench\n\n" + line * 50


def maildir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True)
    return path


def rate(argv: list[str], stdin_path: Path, cwd: Path, env: dict, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        with open(stdin_path, "rb") as f:
            subprocess.run(argv, stdin=f, stdout=subprocess.DEVNULL, cwd=cwd, env=env,
                           check=True)
    return count / (time.perf_counter() - started)


def main() -> int:
    import compileall
    import qmail
    compileall.compile_dir(os.path.dirname(qmail.__file__), quiet=1)   # as an install does
    ours = str(Path(sys.executable).parent / "qmail-local")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        home.chmod(0o755)
        msg = Path(tmp) / "message"
        msg.write_bytes(message())
        filt = home / "filter"
        filt.write_text(f'to "{home}/Maildir/"\n')
        filt.chmod(0o600)
        env = dict(os.environ, HOME=str(home))
        user = os.environ.get("USER") or "root"
        programs = {"qmail-local (ours)": [ours, "--", user, str(home), user, "", "", "ex.org",
                                           "a@example.org", "./Maildir/"]}
        for name, argv, package in (("safecat", ["safecat", "Maildir/tmp", "Maildir/new"],
                                     "safecat"),
                                    ("maildrop", ["maildrop", str(filt)], "maildrop")):
            path = shutil.which(argv[0])
            if path:
                programs[name] = [path, *argv[1:]]
            else:
                print(f"{name}: skipped (apt-get install {package})")
        python_floor = [sys.executable, "-c", "pass"]
        results: dict[str, list[float]] = {name: [] for name in [*programs, "python -c pass"]}
        for _ in range(ROUNDS):
            for name, argv in programs.items():
                maildir(home / "Maildir")
                results[name].append(rate(argv, msg, home, env, MESSAGES))
                delivered = len(os.listdir(home / "Maildir" / "new"))
                if delivered != MESSAGES:
                    raise RuntimeError(f"{name} delivered {delivered} of {MESSAGES}")
            results["python -c pass"].append(rate(python_floor, msg, home, env, MESSAGES))
    ours_rate = statistics.median(results["qmail-local (ours)"])
    print(f"{MESSAGES} deliveries x {ROUNDS} rounds, one process each, messages/second (median):")
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"  {name:22s} {median:8.1f}/s   ours/this = {ours_rate / median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
