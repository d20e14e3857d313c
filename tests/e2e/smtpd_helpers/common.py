"""Shared set-up of the qmail-smtpd e2e tests (import as e2e.smtpd_helpers.common)."""
import os
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def install_program(source: str, target: Path) -> str:
    """Copy helper SOURCE (a file in this folder) to TARGET as an executable run by this
    interpreter (so it works whatever python3 is on PATH)."""
    text = (HERE / source).read_text()
    target.write_text(f"#!{sys.executable}\n" + text)
    target.chmod(0o755)
    return str(target)


def make_home(root: Path, *, me=b"mx.example.org", rcpthosts=(b"example.org",),
              **controls) -> Path:
    """A scratch $QMAILHOME with control files; CONTROLS maps name -> bytes."""
    home = root / "qmail"
    (home / "control").mkdir(parents=True, exist_ok=True)
    (home / "control" / "me").write_bytes(me + b"\n")
    if rcpthosts is not None:
        (home / "control" / "rcpthosts").write_bytes(b"".join(h + b"\n" for h in rcpthosts))
    for name, data in controls.items():
        (home / "control" / name).write_bytes(data)
    return home


def base_env(home: Path, **extra) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "QMAILHOME": str(home)}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def captured(capture_dir: Path, wait: float = 5.0, count: int | None = None):
    """[(message, envelope)] the capture program stored with a complete envelope, by pid."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for env_file in sorted(capture_dir.glob("*.env")):
            envelope = env_file.read_bytes()
            if envelope.endswith(b"\0\0") or envelope == b"F\0\0":
                found.append((env_file.with_suffix(".msg").read_bytes(), envelope))
        if count is None or len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


class Client:
    """A raw SMTP client for byte-exact exchanges (bounded waits only)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, end: bytes, limit: int = 1 << 20) -> bytes:
        while end not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            self.buf += chunk
            if len(self.buf) > limit:
                break
        i = self.buf.find(end)
        if i < 0:
            data, self.buf = self.buf, b""
            return data
        data, self.buf = self.buf[:i + len(end)], self.buf[i + len(end):]
        return data

    def read_all(self) -> bytes:
        """Everything up to the server's close (a reset counts as the close)."""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                data, self.buf = self.buf, b""
                return data
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()
