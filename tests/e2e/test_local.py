"""qmail-local delivering in a temporary home (spec/qmail.md §10, §11): Maildir, mbox,
programs, forwards through a capture program as $QMAILQUEUE, loops and the safety checks."""
import os
import re
import subprocess
import time

import pytest

from support import ours

MESSAGE = b"From: a@b\nSubject: hi\n\nFrom here\n>From there\nlast line"


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    for sub in ("tmp", "new", "cur"):
        (h / "Maildir" / sub).mkdir(parents=True)
    h.chmod(0o755)
    return h


@pytest.fixture
def capture(tmp_path):
    """A real queue program: writes its fd 0 to mess, its fd 1 (the envelope) to env."""
    out = tmp_path / "queued"
    out.mkdir()
    script = tmp_path / "capture-queue"
    script.write_text(f'#!/bin/sh\ncat > {out}/mess\ncat <&1 > {out}/env\nexit "${{QQ_EXIT:-0}}"\n')
    script.chmod(0o755)
    return script, out


def write(path, data, mode=0o644):
    path.write_bytes(data)
    path.chmod(mode)


def local(home, tmp_path, *, local="joe", dash="", ext="", sender="s@x.org",
          default="./Maildir/", options=("--",), message=MESSAGE, env=None):
    msg = tmp_path / "message"
    msg.write_bytes(message)
    # qmail.c runs the queue program in the qmail home: it must exist (exit 61 otherwise)
    full_env = dict(os.environ, QMAILHOME=str(tmp_path))
    for name, value in (env or {}).items():       # None: unset
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    with open(msg, "rb") as stdin:
        return subprocess.run(
            [ours("qmail-local"), *options, "joe", str(home), local, dash, ext, "ex.org", sender,
             default], stdin=stdin, capture_output=True, env=full_env, timeout=30)


def delivered(home, box="Maildir"):
    names = os.listdir(home / box / "new")
    return [(home / box / "new" / n).read_bytes() for n in sorted(names)]


def test_default_delivery_to_maildir(home, tmp_path):
    r = local(home, tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"did 1+0+0\n", b"")
    assert delivered(home) == [b"Return-Path: <s@x.org>\nDelivered-To: joe@ex.org\n" + MESSAGE]
    assert os.listdir(home / "Maildir" / "tmp") == []
    [name] = os.listdir(home / "Maildir" / "new")
    seconds, pid, host = name.split(".", 2)             # TIME.PID.HOST, as qmail-local.c
    assert seconds.isdigit() and pid.isdigit() and host == os.uname().nodename[:64]
    assert abs(int(seconds) - time.time()) < 60
    assert (os.stat(home / "Maildir" / "new" / name).st_mode & 0o777) == 0o600


@pytest.mark.slow
def test_the_same_maildir_twice_gets_two_names(home, tmp_path):
    """The C forks a child (a new pid) per Maildir line; we deliver in one process, so the
    second TIME.PID.HOST name collides within the second: qmail-local's 2-second wait."""
    write(home / ".qmail", b"./Maildir/\n./Maildir/\n")
    r = local(home, tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"did 2+0+0\n", b"")
    first, second = sorted(os.listdir(home / "Maildir" / "new"))
    assert first.split(".", 1)[1] == second.split(".", 1)[1]
    assert int(second.split(".")[0]) >= int(first.split(".")[0]) + 2
    assert delivered(home) == [b"Return-Path: <s@x.org>\nDelivered-To: joe@ex.org\n" + MESSAGE] * 2


def test_dotqmail_with_maildir_mbox_and_comment(home, tmp_path):
    write(home / ".qmail", b"# mine\n./Maildir/\n./Mailbox\n")
    (home / "Mailbox").write_bytes(b"old\n")
    r = local(home, tmp_path, sender="")
    assert (r.returncode, r.stdout) == (0, b"did 2+0+0\n")
    assert delivered(home) == [b"Return-Path: <>\nDelivered-To: joe@ex.org\n" + MESSAGE]
    mbox = (home / "Mailbox").read_bytes()
    assert re.fullmatch(
        rb"old\nFrom MAILER-DAEMON \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n"
        rb"Return-Path: <>\nDelivered-To: joe@ex.org\nFrom: a@b\nSubject: hi\n\n"
        rb">From here\n>>From there\nlast line\n\n", mbox), mbox


def test_extension_default_and_program_environment(home, tmp_path):
    write(home / ".qmail-list-default",
          b'|echo "$SENDER|$NEWSENDER|$RECIPIENT|$USER|$HOME|$HOST|$HOST2|$LOCAL|$EXT|$EXT2|'
          b'$DEFAULT|$DTLINE|$RPLINE" ; cat\n')
    r = local(home, tmp_path, local="joe-list-Foo.Bar", dash="-", ext="list-Foo.Bar",
              sender="a b@x")
    assert r.returncode == 0, r
    assert r.stdout == (
        f'a b@x|a b@x|joe-list-Foo.Bar@ex.org|joe|{home}|ex.org|ex|joe-list-Foo.Bar|'
        f'list-Foo.Bar|Foo.Bar|Foo.Bar|Delivered-To: joe-list-Foo.Bar@ex.org\n|'
        f'Return-Path: <"a b"@x>\n\n').encode() + MESSAGE + b"did 0+0+1\n"


def test_program_exit_codes(home, tmp_path):
    write(home / ".qmail-perm", b"|echo nope; exit 100\n./Maildir/\n")
    write(home / ".qmail-temp", b"|echo later >&2; exit 75\n")
    write(home / ".qmail-stop", b"|exit 99\n./Maildir/\n")
    r = local(home, tmp_path, dash="-", ext="perm")
    assert (r.returncode, r.stdout, r.stderr) == (100, b"nope\n", b"")
    r = local(home, tmp_path, dash="-", ext="temp")
    assert (r.returncode, r.stderr) == (111, b"later\n")
    r = local(home, tmp_path, dash="-", ext="stop")
    assert (r.returncode, r.stdout) == (0, b"did 0+0+1\n")
    assert delivered(home) == []


def test_forward_through_the_queue_program(home, tmp_path, capture):
    script, out = capture
    write(home / ".qmail-fw", b"&one@x.org\ntwo@y.org\n")
    write(home / ".qmail-fw-owner", b"&owner@x.org\n")
    r = local(home, tmp_path, local="joe-fw", dash="-", ext="fw",
              env={"QMAILQUEUE": str(script)})
    assert r.returncode == 0, r
    assert re.fullmatch(rb"did 0\+2\+0\nqp \d+\n", r.stdout)
    assert (out / "mess").read_bytes() == b"Delivered-To: joe-fw@ex.org\n" + MESSAGE
    assert (out / "env").read_bytes() == b"Fjoe-fw-owner@ex.org\0Tone@x.org\0Ttwo@y.org\0\0"


@pytest.mark.parametrize("code, status, text", [
    (31, 100, b"Unable to forward message: mail server permanently rejected message (#5.3.0).\n"),
    (53, 111, b"Unable to forward message: qq write error or disk full (#4.3.0).\n")])
def test_forward_queue_failure(home, tmp_path, capture, code, status, text):
    script, _ = capture
    write(home / ".qmail", b"&one@x.org\n")
    r = local(home, tmp_path, env={"QMAILQUEUE": str(script), "QQ_EXIT": str(code)})
    assert (r.returncode, r.stdout, r.stderr) == (status, b"", text)


@pytest.mark.parametrize("env, text", [
    ({"QMAILQUEUE": ""}, b"unable to exec qq (#4.3.0)"),                  # execv("") fails
    ({"QMAILHOME": "/nonexistent"}, b"qq trouble in home directory (#4.3.0)"),  # chdir fails
])
def test_forward_queue_program_cannot_start(home, tmp_path, env, text):
    """qmail.c's child: exit 61 when it cannot chdir to the qmail home, 120 when execv fails."""
    write(home / ".qmail", b"&one@x.org\n")
    r = local(home, tmp_path, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (
        111, b"", b"Unable to forward message: " + text + b".\n")


def test_delivered_to_loop_is_permanent(home, tmp_path):
    looped = b"Received: x\nDelivered-To: joe@ex.org\nSubject: y\n\nbody\n"
    r = local(home, tmp_path, message=looped)
    assert (r.returncode, r.stderr) == (
        100, b"This message is looping: it already has my Delivered-To line. (#5.4.6)\n")
    # the same line in the body is no loop
    r = local(home, tmp_path, message=b"Subject: y\n\nDelivered-To: joe@ex.org\n")
    assert r.returncode == 0


def test_no_mailbox_for_an_extension(home, tmp_path):
    r = local(home, tmp_path, local="joe-nope", dash="-", ext="nope")
    assert (r.returncode, r.stdout, r.stderr) == (
        100, b"", b"Sorry, no mailbox here by that name. (#5.1.1)\n")


def test_safety_checks(home, tmp_path):
    write(home / ".qmail", b"\n./Maildir/\n")
    assert local(home, tmp_path).stderr == b"Uh-oh: first line of .qmail file is blank. (#4.2.1)\n"
    write(home / ".qmail", b"./Maildir/\n", mode=0o646)
    r = local(home, tmp_path)
    assert (r.returncode, r.stderr) == (111, b"Uh-oh: .qmail file is writable. (#4.7.0)\n")
    write(home / ".qmail", b"./Maildir/\n", mode=0o744)
    r = local(home, tmp_path)
    assert (r.returncode, r.stderr) == (
        111, b"Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)\n")
    home.chmod(0o757)
    r = local(home, tmp_path)
    assert (r.returncode, r.stderr) == (111, b"Uh-oh: home directory is writable. (#4.7.0)\n")
    home.chmod(0o1755)
    r = local(home, tmp_path)
    assert (r.returncode, r.stderr) == (
        111, b"Home directory is sticky: user is editing his .qmail file. (#4.2.1)\n")
    home.chmod(0o775)
    write(home / ".qmail", b"./Maildir/\n")
    assert local(home, tmp_path).returncode == 0
    assert len(delivered(home)) == 1


def test_empty_dotqmail_means_default_delivery(home, tmp_path):
    write(home / ".qmail", b"")
    r = local(home, tmp_path, default="./Mailbox")
    assert (r.returncode, r.stdout) == (0, b"did 1+0+0\n")
    assert (home / "Mailbox").read_bytes().endswith(b"last line\n\n")


def test_show_instructions_with_n(home, tmp_path):
    write(home / ".qmail", b"./Maildir/\n/var/mail/joe\n|prog a\n&x@y\nz@w\n")
    r = local(home, tmp_path, options=("-n",))
    assert (r.returncode, r.stdout) == (0, b"maildir ./Maildir/\nmbox /var/mail/joe\n"
                                           b"program prog a\nforward x@y\nforward z@w\n"
                                           b"did 2+2+1\n")
    assert delivered(home) == []


def test_usage(home, tmp_path):
    usage = (b"qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain "
             b"sender aliasempty\n")
    r = subprocess.run([ours("qmail-local"), "joe"], capture_output=True, timeout=30)
    assert (r.returncode, r.stderr) == (100, usage)
    r = subprocess.run([ours("qmail-local"), "-x"], capture_output=True, timeout=30)
    assert (r.returncode, r.stderr) == (100, b"qmail-local: illegal option -- x\n" + usage)


def test_unable_to_switch_home(tmp_path):
    r = local(tmp_path / "nohome", tmp_path)
    assert (r.returncode, r.stderr) == (
        111, f"Unable to switch to {tmp_path}/nohome: file does not exist. (#4.3.0)\n".encode())


def test_missing_maildir_is_temporary(home, tmp_path):
    r = local(home, tmp_path, default="./NoMaildir/")
    assert (r.returncode, r.stderr) == (111, b"Unable to chdir to maildir. (#4.2.1)\n")


def test_forward_into_the_real_queue(tmp_path):
    """No $QMAILQUEUE: $QMAILHOME/bin/qmail-queue (our qmail-queue, linked by qmail-install)."""
    qmail = tmp_path / "qmail"
    env = {k: v for k, v in os.environ.items() if k != "QMAILQUEUE"}
    env["QMAILHOME"] = str(qmail)
    r = subprocess.run([ours("qmail-install"), "mx.example.org"], env=env, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    write(home / ".qmail", b"&else@where.example\n")
    r = local(home, tmp_path, env={"QMAILHOME": str(qmail), "QMAILQUEUE": None})
    assert r.returncode == 0, r
    qp = int(re.fullmatch(rb"did 0\+1\+0\nqp (\d+)\n", r.stdout).group(1))
    [todo] = os.listdir(qmail / "queue" / "todo")
    mess = (qmail / "queue" / "mess" / str(int(todo) % 23) / todo).read_bytes()
    assert mess.startswith(b"Received: (qmail %d invoked by uid %d); " % (qp, os.getuid()))
    assert mess.endswith(b"\nDelivered-To: joe@ex.org\n" + MESSAGE)
    assert b"\0Fs@x.org\0Telse@where.example\0" in (qmail / "queue" / "todo" / todo).read_bytes()


def test_forward_with_the_queue_programs_own_error_text(home, tmp_path):
    """notqmail: exit 82 and `D`/`Z` + text on fd 6 give the queue program's own reason."""
    script = tmp_path / "refusing-queue"
    script.write_text('#!/bin/sh\ncat >/dev/null\nprintf "Dsorry, spam (#5.7.1)" >&6\nexit 82\n')
    script.chmod(0o755)
    write(home / ".qmail", b"&one@x.org\n")
    r = local(home, tmp_path, env={"QMAILQUEUE": str(script)})
    assert (r.returncode, r.stderr) == (100, b"Unable to forward message: sorry, spam (#5.7.1).\n")
    script.write_text('#!/bin/sh\ncat >/dev/null\nprintf "Xtry later" >&6\nexit 82\n')
    r = local(home, tmp_path, env={"QMAILQUEUE": str(script)})
    assert (r.returncode, r.stderr) == (111, b"Unable to forward message: try later.\n")


def test_helpers_in_dotqmail(home, tmp_path, capture):
    """preline, condredirect, bouncesaying and forward as qmail-local runs them (PATH)."""
    script, out = capture
    bindir = os.path.dirname(ours("preline"))
    env = {"QMAILQUEUE": str(script), "PATH": bindir + ":" + os.environ["PATH"]}
    write(home / ".qmail-pre", b"|preline cat > preline.out\n")
    r = local(home, tmp_path, local="joe-pre", dash="-", ext="pre", env=env)
    assert r.returncode == 0, r
    got = (home / "preline.out").read_bytes()
    assert re.fullmatch(rb"From s@x\.org \w{3} \w{3} \d\d \d\d:\d\d:\d\d \d{4}\n"
                        rb"Return-Path: <s@x\.org>\nDelivered-To: joe-pre@ex\.org\n",
                        got[:-len(MESSAGE)])
    assert got.endswith(MESSAGE)
    write(home / ".qmail-cond", b"|condredirect other@else.where true\n./Maildir/\n")
    r = local(home, tmp_path, local="joe-cond", dash="-", ext="cond", env=env)
    assert r.returncode == 0 and r.stdout == b"did 0+0+1\n"        # 99: the rest is skipped
    assert re.fullmatch(rb"condredirect: qp \d+\n", r.stderr)
    assert (out / "env").read_bytes() == b"Fs@x.org\0Tother@else.where\0\0"
    assert delivered(home) == []
    write(home / ".qmail-bounce", b"|bouncesaying 'No such list.'\n")
    r = local(home, tmp_path, local="joe-bounce", dash="-", ext="bounce", env=env)
    assert (r.returncode, r.stderr) == (100, b"No such list.\n")
    write(home / ".qmail-fw", b"|forward a@b.c d@e.f\n")
    r = local(home, tmp_path, local="joe-fw", dash="-", ext="fw", env=env)
    assert r.returncode == 0 and re.fullmatch(rb"forward: qp \d+\n", r.stderr)
    assert (out / "env").read_bytes() == b"Fs@x.org\0Ta@b.c\0Td@e.f\0\0"
    assert (out / "mess").read_bytes() == b"Delivered-To: joe-fw@ex.org\n" + MESSAGE
