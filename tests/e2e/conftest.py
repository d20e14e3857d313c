"""e2e helpers: start a tcpserver on 127.0.0.1 with -1 and port 0, stop it by its PID.

TEST_TCPSERVER=/usr/bin/tcpserver runs the same tests under the C tcpserver.
"""
import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ours


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


@pytest.fixture
def tcpserver_factory(tmp_path):
    """Call with (options, program, **kw) inside a `with`: yields a running Server."""
    def factory(options, program, **kw):
        kw.setdefault("log", tmp_path / "tcpserver.log")
        return run_tcpserver(options, program, **kw)
    return factory
