"""`make demo` and `make run` (examples/maildrop.py) end to end, in a scratch $QMAILHOME on
free ports: the demo must send and fetch back its message and leave nothing running; run must
serve what its printed swaks and mpop lines do, and stop everything on Ctrl-C.
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import support

REPO = support.REPO


@pytest.fixture
def drop_home():
    base = Path(tempfile.mkdtemp(prefix="pyqmail-drop-", dir="/tmp"))
    base.chmod(0o755)                    # the demo user (not root) must reach it
    try:
        yield base / "qmail"
    finally:                            # a failed test must not leave its daemons running
        subprocess.run([support.ours("qmailctl"), "stop", "send", "smtpd", "pop3d"],
                       env=dict(os.environ, QMAILHOME=str(base / "qmail")), capture_output=True)
        subprocess.run(["rm", "-rf", str(base)])


def maildrop_env(home: Path) -> dict:
    return dict(os.environ, MAILDROP_HOME=str(home), MAILDROP_SMTP_PORT="0",
                MAILDROP_POP3_PORT="0", PYTHONUNBUFFERED="1")


def processes_using(home: Path) -> list[str]:
    """Processes whose cwd is under HOME or whose command line names it."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and (cwd.startswith(str(home)) or str(home) in cmdline):
            found.append(f"{pid} {cmdline}")
    return found


def test_demo_sends_and_fetches_back_then_stops(drop_home):
    proc = subprocess.run([sys.executable, "-m", "examples.maildrop", "demo"], cwd=REPO,
                          env=maildrop_env(drop_home), capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for step in ("Laying out $QMAILHOME", "Virtual user demo", "Starting qmail-send",
                 "SMTP: sending", "Delivery: qmail-send", "POP3: fetching",
                 "OK: the message sent over SMTP came back over POP3 intact",
                 "stopped: nothing left running"):
        assert step in out
    assert re.search(r"log\| qmail: \d+\.\d{6} delivery 1: success: did_1\+0\+0/", out)
    assert re.search(r"log\| smtpd: \d+\.\d{6} tcpserver: ok \d+ localhost:127\.0\.0\.1:\d+ ", out)
    assert re.search(r"S: 250 ok \d+ qp \d+", out)
    assert processes_using(drop_home) == []
    assert list((drop_home / "run").glob("*.pid")) == []


def test_run_serves_its_printed_commands_and_stops_on_ctrl_c(drop_home, tmp_path):
    swaks = support.system_tool("swaks", "swaks")
    mpop = support.system_tool("mpop", "mpop")
    proc = subprocess.Popen([sys.executable, "-m", "examples.maildrop", "run"], cwd=REPO,
                            env=maildrop_env(drop_home), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if "Log lines follow" in line:
                break
        text = "".join(out)
        assert "The mail drop is up" in text, text
        swaks_line = re.search(r"^ +(swaks .*)$", text, re.M).group(1)
        mpop_line = re.search(r"^ +(mpop .*)$", text, re.M).group(1)
        assert swaks_line.split()[:3] == ["swaks", "--server", swaks_line.split()[2]]

        sent = subprocess.run([swaks, *shlex.split(swaks_line)[1:], "--header", "Subject: run test",
                               "--body", "hello from swaks"], capture_output=True, text=True,
                              timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert re.search(r"^<-  250 ok \d+ qp \d+$", sent.stdout, re.M)

        mbox = tmp_path / "demo.mbox"
        argv = [mpop, "-C", "/dev/null", *shlex.split(mpop_line)[1:]]
        argv = [a.replace("mbox,demo.mbox", f"mbox,{mbox}") for a in argv]
        fetched = ""
        for _ in range(100):             # delivery, then qmail-pop3d's current-second rule
            got = subprocess.run(argv + ["--keep=off"], capture_output=True, text=True,
                                 timeout=60, cwd=tmp_path, env=dict(os.environ, HOME=str(tmp_path)))
            assert got.returncode == 0, got.stdout + got.stderr
            fetched = mbox.read_text() if mbox.exists() else ""
            if "hello from swaks" in fetched:
                break
            time.sleep(0.1)
        assert "Subject: run test" in fetched and "hello from swaks" in fetched
        assert "Delivered-To: demo@localhost" in fetched

        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:         # Ctrl-C first: maildrop stops what it started
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = "".join(out) + rest
    assert proc.returncode == 0, text
    assert "Interrupted" in text and "stopped: nothing left running" in text
    assert re.search(r"log\| pop3d: \d+\.\d{6} tcpserver: ok ", text)
    assert processes_using(drop_home) == []
