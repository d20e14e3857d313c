"""The .qmail helpers and maildir2mbox as real processes: bouncesaying, except, condredirect,
forward, preline (spec/qmail.md §10.3, notqmail's programs), with a capture $QMAILQUEUE."""
import os
import re
import subprocess

import pytest

from support import ours

MESSAGE = b"Subject: x\n\nbody\n"


def run(name, args, *, message=MESSAGE, env=None, stdin_file=None):
    full = dict(os.environ, **(env or {}))
    if stdin_file is not None:
        with open(stdin_file, "rb") as f:
            r = subprocess.run([ours(name), *args], stdin=f, capture_output=True, env=full,
                               timeout=30)
    else:
        r = subprocess.run([ours(name), *args], input=message, capture_output=True, env=full,
                           timeout=30)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture
def capture(tmp_path, monkeypatch):
    monkeypatch.setenv("QMAILHOME", str(tmp_path))    # qmail.c runs the queue program there
    out = tmp_path / "queued"
    out.mkdir()
    script = tmp_path / "capture-queue"
    script.write_text(f'#!/bin/sh\ncat > {out}/mess\ncat <&1 > {out}/env\nexit "${{QQ_EXIT:-0}}"\n')
    script.chmod(0o755)
    return str(script), out


def test_bouncesaying():
    assert run("bouncesaying", ["go away"]) == (100, b"", b"go away\n")
    assert run("bouncesaying", ["go away", "true"]) == (100, b"", b"go away\n")
    assert run("bouncesaying", ["go away", "false"]) == (0, b"", b"")
    assert run("bouncesaying", ["x", "sh", "-c", "exit 111"]) == (
        111, b"", b"bouncesaying: fatal: temporary child error\n")
    assert run("bouncesaying", ["x", "sh", "-c", "kill -9 $$"]) == (
        111, b"", b"bouncesaying: fatal: child crashed\n")
    assert run("bouncesaying", []) == (
        100, b"", b"bouncesaying: usage: bouncesaying error [ program [ arg ... ] ]\n")


def test_except():
    assert run("except", ["true"]) == (100, b"", b"")
    assert run("except", ["false"]) == (0, b"", b"")
    assert run("except", ["sh", "-c", "echo hi; exit 111"]) == (
        111, b"hi\n", b"except: fatal: temporary child error\n")
    assert run("except", ["/nonexistent/program"]) == (0, b"", b"")   # exec failure: exit 100
    assert run("except", []) == (100, b"", b"except: usage: except program [ arg ... ]\n")


def test_forward(capture):
    script, out = capture
    env = {"QMAILQUEUE": script, "NEWSENDER": "owner@x", "DTLINE": "Delivered-To: me@x\n"}
    code, stdout, stderr = run("forward", ["a@b", "c@d"], env=env)
    assert (code, stdout) == (0, b"")
    assert re.fullmatch(rb"forward: qp \d+\n", stderr)
    assert (out / "mess").read_bytes() == b"Delivered-To: me@x\n" + MESSAGE
    assert (out / "env").read_bytes() == b"Fowner@x\0Ta@b\0Tc@d\0\0"
    assert run("forward", ["a@b"], env=dict(env, QQ_EXIT="31")) == (
        100, b"", b"forward: fatal: mail server permanently rejected message (#5.3.0)\n")
    env.pop("NEWSENDER")
    assert run("forward", ["a@b"], env=env) == (100, b"", b"forward: fatal: NEWSENDER not set\n")


def test_condredirect(capture, tmp_path):
    script, out = capture
    msg = tmp_path / "m"
    msg.write_bytes(MESSAGE)
    env = {"QMAILQUEUE": script, "SENDER": "s@x", "DTLINE": "Delivered-To: me@x\n"}
    assert run("condredirect", ["new@y", "false"], env=env, stdin_file=msg) == (0, b"", b"")
    assert not (out / "env").exists()
    code, _, stderr = run("condredirect", ["new@y", "sh", "-c", "cat >/dev/null"], env=env,
                          stdin_file=msg)
    assert code == 99 and re.fullmatch(rb"condredirect: qp \d+\n", stderr)
    assert (out / "mess").read_bytes() == b"Delivered-To: me@x\n" + MESSAGE   # rewound first
    assert (out / "env").read_bytes() == b"Fs@x\0Tnew@y\0\0"
    assert run("condredirect", ["new@y"], env=env) == (
        100, b"", b"condredirect: usage: condredirect newaddress program [ arg ... ]\n")


def test_preline():
    env = {"UFLINE": "From s@x Thu Jan  1 00:00:00 1970\n", "RPLINE": "Return-Path: <s@x>\n",
           "DTLINE": "Delivered-To: me@x\n"}
    head = b"From s@x Thu Jan  1 00:00:00 1970\nReturn-Path: <s@x>\nDelivered-To: me@x\n"
    assert run("preline", ["cat"], env=env) == (0, head + MESSAGE, b"")
    assert run("preline", ["-fd", "cat"], env=env) == (0, b"Return-Path: <s@x>\n" + MESSAGE, b"")
    assert run("preline", ["-frdD", "cat"], env=env) == (0, b"Delivered-To: me@x\n" + MESSAGE, b"")
    assert run("preline", ["sh", "-c", "cat >/dev/null; exit 42"], env=env) == (42, b"", b"")
    usage = b"preline: usage: preline cmd [ arg ... ]\n"
    assert run("preline", [], env=env) == (100, b"", usage)
    assert run("preline", ["cat"], env={k: v for k, v in env.items() if k != "RPLINE"}
               | {"RPLINE": ""})[0] == 0
    assert run("preline", ["-x", "cat"], env=env) == (
        100, b"", b"preline: illegal option -- x\n" + usage)


def test_maildir2mbox(tmp_path):
    maildir = tmp_path / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    first = maildir / "new" / "1.a.host"
    first.write_bytes(b"Return-Path: <a b@x>\nSubject: 1\n\nFrom here\n")
    os.utime(first, (0, 0))
    second = maildir / "cur" / "2.b.host:2,S"
    second.write_bytes(b"Return-Path: <>\nSubject: 2\n\nbody\ncut")
    os.utime(second, (86400, 86400))
    mbox = tmp_path / "mbox"
    mbox.write_bytes(b"old\n")
    env = {"MAIL": str(mbox), "MAILTMP": str(tmp_path / "mbox.tmp"), "MAILDIR": str(maildir)}
    assert run("maildir2mbox", [], env=env) == (0, b"", b"")
    assert mbox.read_bytes() == (
        b"old\n"
        b"From a-b@x Thu Jan 01 00:00:00 1970\nReturn-Path: <a b@x>\nSubject: 1\n\n>From here\n\n"
        b"From MAILER-DAEMON Fri Jan 02 00:00:00 1970\nReturn-Path: <>\nSubject: 2\n\nbody\n\n")
    assert os.listdir(maildir / "new") == os.listdir(maildir / "cur") == []
    assert run("maildir2mbox", [], env=env) == (0, b"", b"")         # nothing new
    assert run("maildir2mbox", [], env={"MAIL": str(mbox), "MAILTMP": "x", "MAILDIR": ""})[2] == (
        b"maildir2mbox: fatal: unable to chdir to : file does not exist\n")
    env.pop("MAILTMP")
    assert run("maildir2mbox", [], env=env) == (111, b"", b"maildir2mbox: fatal: MAILTMP not set\n")


def test_showctl(qmail_home):
    control = qmail_home / "control"
    (control / "me").write_bytes(b"mx.example.org\n")
    (control / "databytes").write_bytes(b"1000000\n")
    (control / "timeoutremote").write_bytes(b" 30\n")              # leading blank: the default
    (control / "smtproutes").write_bytes(b"# comment\nexample.com:relay:2525\n\n:smarthost\n")
    (control / "rcpthosts").write_bytes(b"")
    (control / "morercpthosts").write_bytes(b"other.example\n")
    (control / "bouncefrom").write_bytes(b"bounce\x01r\n")
    (control / "mystery").write_bytes(b"?\n")
    code, out, err = run("qmail-showctl", [], env={"QMAILHOME": str(qmail_home)})
    assert (code, err) == (0, b"")
    head, _, rest = out.partition(b"\n\n")
    assert head.startswith(f"qmail home directory: {qmail_home}.\nuser-ext delimiter: -.\n"
                           "paternalism (in decimal): 2.\nsilent concurrency limit: 120.\n"
                           "subdirectory split: 23.\nuser ids: ".encode())
    sections = rest.split(b"\n\n")
    assert sections[0] == b"badmailfrom: (Default.) Any MAIL FROM is allowed."
    assert sections[1] == b"bouncefrom: Bounce user name is bounce?r."
    assert sections[2] == b"bouncehost: (Default.) Bounce host name is mx.example.org."
    assert b"databytes: SMTP DATA limit is 1000000 bytes." in sections
    assert b"timeoutremote: (Default.) SMTP client data timeout is 1200 seconds." in sections
    assert b"me: My name is mx.example.org." in sections
    assert b"locals: (Default.) Messages for me are delivered locally." in sections
    assert b"rcpthosts: " in sections
    assert (b"morercpthosts: \nSMTP clients may send messages to recipients at other.example."
            in sections)
    assert (b"morercpthosts.cdb: Oops! morercpthosts exists but morercpthosts.cdb doesn't."
            in sections)
    assert b"smtproutes: \nSMTP route: example.com:relay:2525\nSMTP route: :smarthost" in sections
    assert sections[-1] == b"mystery: I have no idea what this file does.\n"
    assert out.count(b"\n\n") == 30


@pytest.mark.parametrize("value, shown", [(b"2147483647", b"2147483647"), (b"2147483648", b"0"),
                                          (b"4294967297", b"1"), (b"007x", b"7")])
def test_showctl_numbers_as_the_cs_int(qmail_home, value, shown):
    """control_readint() stores the scanned unsigned long in an int; qmail-showctl prints a
    negative one as 0."""
    (qmail_home / "control" / "me").write_bytes(b"mx.example.org\n")
    (qmail_home / "control" / "databytes").write_bytes(value + b"\n")
    code, out, err = run("qmail-showctl", [], env={"QMAILHOME": str(qmail_home)})
    assert (code, err) == (0, b"")
    assert b"\n\ndatabytes: SMTP DATA limit is " + shown + b" bytes.\n" in out


def test_helpers_with_an_empty_program_name():
    """execvp("") fails with ENOENT, not a temporary error: the child exits 100, so
    bouncesaying and condredirect carry on (exit 0) and except bounces nothing."""
    assert run("bouncesaying", ["no", ""]) == (0, b"", b"")
    assert run("condredirect", ["x@y", ""]) == (0, b"", b"")
    assert run("except", [""]) == (0, b"", b"")
    env = {"UFLINE": "From s@x Thu Jan  1 00:00:00 1970\n", "RPLINE": "Return-Path: <s@x>\n",
           "DTLINE": "Delivered-To: me@x\n"}
    assert run("preline", [""], env=env) == (
        100, b"", b"preline: fatal: unable to run : file does not exist\n")
