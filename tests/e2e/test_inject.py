"""qmail-inject from a shell (spec/qmail.md §8.1): through a capture $QMAILQUEUE, printing
with -n, and into a real queue laid out by qmail-install."""
import os
import re
import subprocess

import pytest

from support import ours

MESSAGE = b"To: Bob <bob>\nSubject: hello\n\nbody\n"


@pytest.fixture
def capture(tmp_path):
    out = tmp_path / "queued"
    out.mkdir()
    script = tmp_path / "capture-queue"
    script.write_text(f'#!/bin/sh\ncat > {out}/mess\ncat <&1 > {out}/env\nexit "${{QQ_EXIT:-0}}"\n')
    script.chmod(0o755)
    return str(script), out


def clean_env(qmail_home, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("QMAIL", "MAIL")) and k not in ("USER", "LOGNAME", "NAME")}
    env.update(QMAILHOME=str(qmail_home), USER="joe", **extra)
    return env


def inject(args, env, message=MESSAGE):
    return subprocess.run([ours("qmail-inject"), *args], input=message, capture_output=True,
                          env=env, timeout=30)


def test_queued_through_capture(qmail_home, capture):
    script, out = capture
    (qmail_home / "control" / "me").write_text("mx.example.org\n")
    (qmail_home / "control" / "defaultdomain").write_text("example.org\n")
    r = inject([], clean_env(qmail_home, QMAILQUEUE=script, QMAILNAME="Joe User"))
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    mess = (out / "mess").read_bytes()
    assert re.fullmatch(
        rb"Date: \d+ \w{3} \d{4} \d\d:\d\d:\d\d -0000\n"
        rb"Message-ID: <\d{14}\.\d+\.qmail@mx\.example\.org>\n"
        rb'From: "Joe User" <joe@mx\.example\.org>\n'
        rb"To: Bob <bob@mx\.example\.org>\nSubject: hello\n\nbody\n", mess), mess
    assert (out / "env").read_bytes() == b"Fjoe@mx.example.org\0Tbob@mx.example.org\0\0"


def test_print_with_n_and_defaults_without_me(qmail_home):
    r = inject(["-n", "-f", "ret@some.where", "x@y"], clean_env(qmail_home))
    assert r.returncode == 0
    assert r.stdout.startswith(b"Return-Path: <ret@some.where>\nDate: ")
    assert b"From: joe@defaulthost.defaultdomain\nTo: Bob <bob@defaulthost.defaultdomain>\n" \
        in r.stdout


@pytest.mark.parametrize("code, status, text", [
    (31, 100, b"qmail-inject: fatal: mail server permanently rejected message (#5.3.0)\n"),
    (71, 111, b"qmail-inject: fatal: mail server temporarily rejected message (#4.3.0)\n")])
def test_queue_failures(qmail_home, capture, code, status, text):
    script, _ = capture
    r = inject([], clean_env(qmail_home, QMAILQUEUE=script, QQ_EXIT=str(code)))
    assert (r.returncode, r.stderr) == (status, text)


@pytest.mark.parametrize("qq", ["/nonexistent/qq", ""])
def test_unrunnable_queue(qmail_home, qq):
    """A set but empty $QMAILQUEUE is execv("") in qmail.c: exit 120, not bin/qmail-queue."""
    r = inject([], clean_env(qmail_home, QMAILQUEUE=qq))
    assert (r.returncode, r.stderr) == (111, b"qmail-inject: fatal: unable to exec qq (#4.3.0)\n")


def test_bad_sender_field_and_option(qmail_home, capture):
    script, _ = capture
    r = inject([], clean_env(qmail_home, QMAILQUEUE=script), message=b"From: a@b>\n\n")
    assert (r.returncode, r.stderr) == (
        100, b"qmail-inject: fatal: unable to parse this line:\nFrom: a@b>\n")
    r = inject(["-Z"], clean_env(qmail_home, QMAILQUEUE=script))
    assert (r.returncode, r.stderr) == (100, b"qmail-inject: illegal option -- Z\n")


def test_into_the_real_queue(tmp_path):
    home = tmp_path / "qmail"
    env = clean_env(home)
    r = subprocess.run([ours("qmail-install"), "mx.example.org"], env=env, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    r = inject(["someone@example.net"], env)
    assert (r.returncode, r.stderr) == (0, b"")
    [todo] = os.listdir(home / "queue" / "todo")
    mess = (home / "queue" / "mess" / str(int(todo) % 23) / todo).read_bytes()
    assert mess.startswith(b"Received: (qmail ")
    assert mess.endswith(b"To: Bob <bob@mx.example.org>\nSubject: hello\n\nbody\n")
    envelope = (home / "queue" / "todo" / todo).read_bytes()
    assert b"\0Fjoe@mx.example.org\0Tsomeone@example.net\0" in envelope


def test_missing_qmail_home(tmp_path):
    r = inject(["-n"], clean_env(tmp_path / "nowhere"))
    assert (r.returncode, r.stdout, r.stderr) == (111, b"", b"qmail-inject: fatal: internal bug\n")
