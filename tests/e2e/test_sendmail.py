"""The sendmail wrapper from a shell (spec/qmail.md §8.2): what it hands to qmail-inject,
qmail-qread and qmail-smtpd, with stand-ins in $QMAILHOME/bin that record their argv and
environment, and end to end into a capture $QMAILQUEUE through our qmail-inject."""
import os
import subprocess

import pytest

from support import ours

RECORD = '#!/bin/sh\nfor a in "$0" "$@"; do printf "%s\\n" "$a"; done > {out}/argv\nenv > {out}/env\ncat > {out}/stdin\n'


@pytest.fixture
def stand_ins(qmail_home, tmp_path):
    out = tmp_path / "recorded"
    out.mkdir()
    (qmail_home / "bin").mkdir()
    for name in ("qmail-inject", "qmail-qread", "qmail-smtpd"):
        path = qmail_home / "bin" / name
        path.write_text(RECORD.format(out=out))
        path.chmod(0o755)
    return out


def sendmail(args, env=None, link=None, message=b"Subject: x\n\n"):
    """Our sendmail, or a symlink to it named LINK (a Path), as mailq and newaliases are."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("QMAILUSER", "QMAILHOST",
                                                                     "MAILNAME", "PROTO"))}
    full.update(env or {})
    path = ours("sendmail")
    if link is not None:
        link.symlink_to(path)
        path = str(link)
    return subprocess.run([path, *args], input=message, capture_output=True, env=full,
                          timeout=30)


def recorded(out):
    argv = (out / "argv").read_text().splitlines()
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines() if "=" in line)
    return argv, env


def test_plain_and_t_and_f(stand_ins):
    r = sendmail(["-oi", "-v", "a@b", "c@d"])
    assert r.returncode == 0, r.stderr
    argv, _ = recorded(stand_ins)
    assert argv == ["bin/qmail-inject", "-a", "--", "a@b", "c@d"]
    assert (stand_ins / "stdin").read_bytes() == b"Subject: x\n\n"
    r = sendmail(["-t", "-f", "me@my.host", "-FMy Name", "-Ex", "-J"],
                 env={"NAME": "n", "MAILHOST": "h"})
    assert r.returncode == 0, r.stderr
    argv, env = recorded(stand_ins)
    assert argv == ["bin/qmail-inject", "-H", "-f", "me@my.host", "--"]
    assert (env["QMAILUSER"], env["QMAILHOST"]) == ("me", "my.host")
    assert "NAME" not in env and "MAILHOST" not in env and "MAILNAME" not in env


def test_bp_mailq_and_bs(stand_ins, tmp_path):
    assert sendmail(["-bp"]).returncode == 0
    assert recorded(stand_ins)[0] == ["bin/qmail-qread"]
    (stand_ins / "argv").unlink()
    assert sendmail([], link=tmp_path / "mailq").returncode == 0
    assert recorded(stand_ins)[0] == ["bin/qmail-qread"]
    assert sendmail(["-bs"]).returncode == 0
    argv, env = recorded(stand_ins)
    assert argv == ["bin/qmail-smtpd"]
    assert (env["RELAYCLIENT"], env["DATABYTES"], env["PROTO"], env["TCPREMOTEINFO"],
            env["TCPLOCALHOST"]) == ("", "0", "TCP", "sendmail-bs", "localhost")
    assert sendmail(["-bs"], env={"PROTO": "SMTP", "TCPREMOTEINFO": "kept"}).returncode == 0
    assert recorded(stand_ins)[1]["TCPREMOTEINFO"] == "kept"


def test_usage_and_newaliases(stand_ins, tmp_path):
    usage = b"sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]\n"
    r = sendmail(["-q"])
    assert (r.returncode, r.stderr) == (100, b"sendmail: illegal option -- q\n" + usage)
    r = sendmail(["-bz"])
    assert (r.returncode, r.stderr) == (100, usage)
    r = sendmail([], link=tmp_path / "newaliases")
    assert (r.returncode, r.stderr) == (
        100, b"sendmail: fatal: please use fastforward/newaliases instead\n")


def test_through_our_qmail_inject(qmail_home, tmp_path):
    out = tmp_path / "queued"
    out.mkdir()
    script = tmp_path / "capture-queue"
    script.write_text(f"#!/bin/sh\ncat > {out}/mess\ncat <&1 > {out}/env\n")
    script.chmod(0o755)
    (qmail_home / "control" / "me").write_text("mx.example.org\n")
    r = sendmail(["-f", "sender@else.where", "rcpt@example.net"],
                 env={"QMAILQUEUE": str(script)}, message=b"Subject: y\n\nbody\n")
    assert (r.returncode, r.stderr) == (0, b"")
    assert (out / "env").read_bytes() == b"Fsender@else.where\0Trcpt@example.net\0\0"
    assert b"From: sender@else.where\n" in (out / "mess").read_bytes()
