"""Compile a 100,000-line rules file: our tcprules against Debian's C tcprules, same run.

Prints the median wall time of each over several runs (program start-up included, as a user
sees it) and the ratio ours/C; the target is at most 2.0. Also checks the two cdbs are identical.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINES = 100_000
RUNS = 7


def rules_text(lines: int = LINES) -> bytes:
    """A realistic mix: single IPs with variables, prefixes, ranges, host rules, comments."""
    out = []
    for i in range(lines):
        a, b, c = (i >> 16) & 255, (i >> 8) & 255, i & 255
        kind = i % 10
        if kind == 0:
            out.append(b"# block %d\n" % i)
        elif kind < 6:
            out.append(b'10.%d.%d.%d:allow,RELAYCLIENT="",TCPLOCALHOST="mx%d.example.com"\n' % (a, b, c, i))
        elif kind < 8:
            out.append(b"172.%d.%d.:deny\n" % (b, c))
        elif kind == 8:
            out.append(b"=host%d.example.org:allow,RBLSMTPD=\"-no\"\n" % i)
        else:
            out.append(b"192.168.%d.%d-%d:allow\n" % (c, b % 100, b % 100 + 2))
    out.append(b":allow\n")
    return b"".join(out)


def time_program(program: str, workdir: Path, text_path: Path) -> float:
    times = []
    for _ in range(RUNS):
        with open(text_path, "rb") as stdin:
            started = time.perf_counter()
            subprocess.run([program, str(workdir / "r.cdb"), str(workdir / "r.tmp")], stdin=stdin,
                           check=True)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    c_program = "/usr/bin/tcprules"
    ours = str(Path(sys.executable).parent / "tcprules")
    if not os.path.exists(c_program):
        print("bench_tcprules: /usr/bin/tcprules missing (apt-get install ucspi-tcp); skipped")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text_path = tmp / "rules.txt"
        text_path.write_bytes(rules_text())
        (tmp / "c").mkdir()
        (tmp / "py").mkdir()
        c_time = time_program(c_program, tmp / "c", text_path)
        py_time = time_program(ours, tmp / "py", text_path)
        same = (tmp / "c" / "r.cdb").read_bytes() == (tmp / "py" / "r.cdb").read_bytes()
        size = (tmp / "c" / "r.cdb").stat().st_size
    print(f"tcprules, {LINES} lines ({size} byte cdb, identical: {same}), median of {RUNS}:")
    print(f"  C    {c_time * 1000:8.1f} ms")
    print(f"  ours {py_time * 1000:8.1f} ms")
    print(f"  ratio ours/C = {py_time / c_time:.2f} (target <= 2.0)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
