"""Shared test helpers (import as `support`): the C reference programs, our console scripts,
tcpserver on 127.0.0.1 for e2e tests. Fixtures are in conftest.py files.
"""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent          # the venv's console scripts


def require_reference() -> bool:
    return os.environ.get("REQUIRE_REFERENCE") == "1"


def reference(name: str) -> str:
    """Absolute path of Debian's C program NAME; skips (or fails under REQUIRE_REFERENCE=1)."""
    path = Path("/usr/bin") / name
    if path.exists():
        return str(path)
    reason = f"C reference {path} is absent (apt-get install ucspi-tcp)"
    if require_reference():
        pytest.fail(reason + " and REQUIRE_REFERENCE=1")
    pytest.skip(reason)


def system_tool(name: str, package: str) -> str:
    """A Debian tool used as a real client (swaks, mpop, cdb); skip/fail like reference()."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is absent (apt-get install {package})"
    if require_reference():
        pytest.fail(reason + " and REQUIRE_REFERENCE=1")
    pytest.skip(reason)


def ours(name: str) -> str:
    """Absolute path of our console script NAME in the environment running the tests."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"our {name} is not installed in {BIN} (run make test)")
    return str(path)


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def tcpserver_path() -> str:
    return os.environ.get("TEST_TCPSERVER") or ours("tcpserver")


@contextlib.contextmanager
def run_tcpserver(options: list[str], program: list[str], *, env: dict | None = None,
                  log: Path, host: str = "127.0.0.1", start_timeout: float = 20.0):
    """tcpserver -1 OPTIONS HOST 0 PROGRAM...: yields a Server once the port is printed."""
    argv = [tcpserver_path(), "-1", *options, host, "0", *program]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=logf, env=env,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            chunk = proc.stdout.read1(64) if proc.stdout else b""
            if not chunk:
                break
            line += chunk
        if not line.strip().isdigit():
            proc.kill()
            raise RuntimeError(f"tcpserver did not start: {line!r} {log.read_text(errors='replace')}")
        yield Server(proc, int(line), log)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process (and its session), then SIGKILL after timeout; always reaped."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)   # children the server left running
    if proc.stdout:
        proc.stdout.close()


@contextlib.contextmanager
def reachable_by(uid: int, gid: int):
    """Make this checkout's Python runnable by UID (for programs that drop privileges, e.g.
    checkpassword -> qmail-pop3d): when a probe as UID fails and we are root, add o+x to the
    directories above the venv and the checkout that lack it (a CI clone under a mode-700 temp
    dir), restored afterwards; skips with the reason when that is not enough."""
    def probe() -> subprocess.CompletedProcess:
        argv = [sys.executable, "-c", "import qmail, tcpserver, rules"]
        try:
            return subprocess.run(argv, user=uid, group=gid, extra_groups=[],
                                  capture_output=True, cwd="/")
        except PermissionError as e:       # the interpreter itself is out of reach
            return subprocess.CompletedProcess(argv, 126, b"", str(e).encode())
    if uid == os.geteuid() and gid == os.getegid():
        yield                  # it is us: nothing to check
        return
    changed: list[tuple[Path, int]] = []
    try:
        if probe().returncode and os.geteuid() == 0:
            for top in {REPO, BIN.parent}:
                for directory in [top, *top.parents]:
                    mode = directory.stat().st_mode
                    if not mode & 0o001:
                        changed.append((directory, mode))
                        directory.chmod((mode & 0o7777) | 0o001)
        result = probe()
        if result.returncode:
            pytest.skip(f"uid {uid} cannot run {sys.executable} with this checkout: "
                        f"{result.stderr.decode(errors='replace')[-300:]}")
        yield
    finally:
        for directory, mode in reversed(changed):
            directory.chmod(mode & 0o7777)


def private_syslog_tools() -> tuple[str, str]:
    """(busybox, unshare) for a busybox syslogd behind a private /dev/log in a mount namespace;
    skips with the reason where that cannot work (fails instead under REQUIRE_REFERENCE=1)."""
    if os.geteuid() != 0:
        pytest.skip("a private /dev/log needs a mount namespace: run as root")
    busybox = system_tool("busybox", "busybox")
    unshare = system_tool("unshare", "util-linux")
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        reason = f"mount namespaces are not permitted here: {probe.stderr.strip()}"
        if require_reference():
            pytest.fail(reason + " and REQUIRE_REFERENCE=1")
        pytest.skip(reason)
    return busybox, unshare
