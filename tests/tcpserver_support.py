"""Helpers shared by the differential tests of tcpserver (tests/differential/test_tcpserver.py
and test_audit_tcpserver.py): a server on port 0 with -1, a client, the log, normalisation."""
import contextlib
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

from support import stop


@contextlib.contextmanager
def server(binary: str, options: list[str], program: list[str], tmp: Path, *, env: dict,
           host: str = "127.0.0.1", pass_fds=()):
    """BINARY -1 OPTIONS HOST 0 PROGRAM in ENV; yields (port, log path, proc), stopped by PID."""
    log = tmp / f"log-{os.path.basename(os.path.dirname(binary))}-{time.monotonic_ns()}"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([binary, "-1", *options, host, "0", *program],
                                stdout=subprocess.PIPE, stderr=logf, env=env,
                                start_new_session=True, pass_fds=pass_fds)
    try:
        line = proc.stdout.readline()
        assert line.strip().isdigit(), (line, log.read_bytes())
        yield int(line), log, proc
    finally:
        stop(proc)


def talk(port: int, source: str = "127.0.0.1", send: bytes = b"", timeout: float = 15.0) -> bytes:
    """Connect from SOURCE, send, read until EOF."""
    with socket.socket() as s:
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        if send:
            s.sendall(send)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def wait_for(log: Path, pattern: bytes, count: int, timeout: float = 15.0) -> bytes:
    """The log once PATTERN appears COUNT times in it (or TIMEOUT passed)."""
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_bytes()
        if text.count(pattern) >= count or time.monotonic() > deadline:
            return text
        time.sleep(0.01)


def normalise(text: bytes, port: int) -> bytes:
    """PIDs and ports as <PID>/<PORT>/<LPORT>; glibc's signals 32/33 out of SigIgn (spawn.py)."""
    text = text.replace(b":%d " % port, b":<LPORT> ").replace(b"=%d\n" % port, b"=<LPORT>\n")
    text = re.sub(rb"(pid|ok|deny|end) \d+", rb"\1 <PID>", text)
    text = re.sub(rb":(\d+)\n", rb":<PORT>\n", text)
    text = re.sub(rb"(\d+) , (\d+)", rb"<PORT> , <PORT>", text)        # IDENT requests
    text = re.sub(rb"TCPREMOTEPORT=\d+", rb"TCPREMOTEPORT=<PORT>", text)
    return re.sub(rb"SigIgn ([0-9a-f]+)",
                  lambda m: b"SigIgn %08x" % (int(m.group(1), 16) & 0x7FFFFFFF), text)


def wait_for_server_log(server, pattern: str, count: int = 1, timeout: float = 10.0) -> str:
    """A support.Server's log once PATTERN appears COUNT times in it (or TIMEOUT passed)."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.log_text()
        if text.count(pattern) >= count or time.monotonic() > deadline:
            return text
        time.sleep(0.01)


def in_threads(count: int, target) -> None:
    """TARGET(n) for n in range(COUNT), each in a thread of its own; all joined (60 s each)."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
