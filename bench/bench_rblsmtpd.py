"""rblsmtpd start-up cost per connection: ours against Debian's C rblsmtpd, same run.

rblsmtpd runs once per SMTP connection, so what matters is the time from exec to its
decision. Three cases, each run sequentially N times with stdin from /dev/null:
pass-through (RBLSMTPD="" then exec /bin/true), blocked (RBLSMTPD=text, -t0: one reply line),
and a -r lookup answered NXDOMAIN by the fake DNS on 127.0.0.1:53 (then exec /bin/true).
Prints ms per run and the rate ratio ours/C (1.0 = as fast as the C).
"""
import os
import shutil
import sys
import time
from pathlib import Path

N = 40
REPO = Path(__file__).resolve().parent.parent


def ours() -> str | None:
    path = Path(sys.executable).parent / "rblsmtpd"
    return str(path) if path.exists() else shutil.which("rblsmtpd")


def per_run(argv: list[str], env: dict[str, str], n: int = N) -> float:
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        start = time.perf_counter()
        for _ in range(n):
            pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2)])
            os.waitpid(pid, 0)
        return (time.perf_counter() - start) / n
    finally:
        os.close(devnull)


def main() -> int:
    c = "/usr/bin/rblsmtpd"
    mine = ours()
    if not os.path.exists(c) or mine is None:
        print("bench_rblsmtpd: skipped (need /usr/bin/rblsmtpd and our rblsmtpd)")
        return 0
    base = {"PATH": "/usr/bin:/bin", "TCPREMOTEIP": "127.0.0.5", "DNSCACHEIP": "127.0.0.1"}
    cases = [
        ("pass-through", ["/bin/true"], {"RBLSMTPD": ""}),
        ("blocked -t0", ["-t0", "/bin/true"], {"RBLSMTPD": "blocked"}),
        ("-r lookup", ["-r", "bench.test", "/bin/true"], {}),
    ]
    sys.path.insert(0, str(REPO / "tests"))
    import fakes
    print(f"{'case':<14} {'C ms':>8} {'ours ms':>8} {'rate ours/C':>12}")
    with fakes.FakeDns():
        for name, args, extra in cases:
            env = dict(base, **extra)
            per_run([c] + args, env, 3)                       # warm the page cache
            per_run([mine] + args, env, 3)
            c_time = per_run([c] + args, env)
            our_time = per_run([mine] + args, env)
            print(f"{name:<14} {c_time * 1000:8.2f} {our_time * 1000:8.2f}"
                  f" {c_time / our_time:12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
