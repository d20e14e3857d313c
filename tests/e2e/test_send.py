"""qmail-start, qmail-send, qmail-lspawn, qmail-rspawn, qmail-clean with our qmail-local and
qmail-remote on a scratch $QMAILHOME (spec/qmail.md §9): delivery to a Maildir, the activity
log, bounces, double and triple bounces, remote delivery through smtproutes with a retry,
SIGHUP, SIGALRM, SIGTERM, qmail-qread and qmail-qstat."""
import os
import re
import signal
import subprocess
import time

import pytest

from queue_support import (NOBODY, MailSystem, add_user, envelope, maildir_messages, queue_is_empty,
                           run_queue)
from support import ours

MESSAGE = b"Subject: hello\n\nHi joe.\n"


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_local_delivery_to_maildir_and_the_log(home, qmail):
    joe = add_user(home, "joe")
    assert run_queue(home, MESSAGE, envelope(b"ann@example.com", b"joe@mx.example.org")
                     ).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^end msg \d+$")
    [delivered] = maildir_messages(joe / "Maildir")
    assert delivered.startswith(b"Return-Path: <ann@example.com>\n"
                                b"Delivered-To: joe@mx.example.org\n"
                                b"Received: (qmail ")
    assert delivered.endswith(b"\n" + MESSAGE)
    n = re.search(r"^new msg (\d+)$", log, re.M).group(1)
    size = len(delivered.split(b"\n", 2)[2])
    expected = [
        "status: local 0/10 remote 0/20",
        f"new msg {n}",
        rf"info msg {n}: bytes {size} from <ann@example.com> qp \d+ uid {os.getuid()}",
        f"starting delivery 1: msg {n} to local joe@mx.example.org",
        "status: local 1/10 remote 0/20",
        "delivery 1: success: did_1\\+0\\+0/",
        "status: local 0/10 remote 0/20",
        f"end msg {n}",
    ]
    assert re.fullmatch("\n".join(expected) + "\n", log), log
    wait_for(lambda: queue_is_empty(home), what="the queue to empty")
    qstat = subprocess.run([ours("qmail-qstat")], env=qmail.env, capture_output=True)
    assert qstat.stdout == (b"messages in queue: 0\n"
                            b"messages in queue but not yet preprocessed: 0\n")


def test_trigger_wakes_a_running_qmail_send(home, qmail):
    joe = add_user(home, "joe")
    qmail.start()
    qmail.wait_log(r"^status: local 0/10 remote 0/20$")
    for i in range(3):
        assert run_queue(home, b"Subject: %d\n\nx\n" % i,
                         envelope(b"", b"joe@mx.example.org")).returncode == 0
    qmail.wait_log(r"^end msg \d+$", timeout=20, count=3)
    assert len(maildir_messages(joe / "Maildir")) == 3


def bounce_of(maildir):
    wait_for(lambda: maildir_messages(maildir), what="a bounce")
    [bounce] = maildir_messages(maildir)
    return bounce


def test_bounce_in_qmails_format(home, qmail):
    joe = add_user(home, "joe")
    assert run_queue(home, MESSAGE, envelope(b"joe@mx.example.org", b"nobody-here@mx.example.org")
                     ).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^bounce msg \d+ qp \d+$")
    assert re.search(r"^delivery 1: failure: Sorry,_no_mailbox_here_by_that_name._\(#5.1.1\)/$",
                     log, re.M), log
    bounce = bounce_of(joe / "Maildir")
    header, _, body = bounce.partition(b"\n\n")
    assert header.startswith(b"Return-Path: <>\nDelivered-To: joe@mx.example.org\n"
                             b"Received: (qmail ")
    assert re.search(rb"\nDate: \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000\n"
                     rb"From: MAILER-DAEMON@mx.example.org\nTo: joe@mx.example.org\n"
                     rb"Subject: failure notice$", header), header
    original = (home / "queue").exists() and None
    assert body.startswith(
        b"Hi. This is the qmail-send program at mx.example.org.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\n"
        b"\n"
        b"<nobody-here@mx.example.org>:\n"
        b"Sorry, no mailbox here by that name. (#5.1.1)\n"
        b"\n"
        b"--- Below this line is a copy of the message.\n"
        b"\n"
        b"Return-Path: <joe@mx.example.org>\n"
        b"Received: (qmail "), body
    assert body.endswith(MESSAGE)
    assert original is None
    qmail.wait_log(r"^end msg \d+$", count=2)


def test_double_bounce_goes_to_postmaster_and_triple_is_discarded(home, qmail):
    add_user(home, "joe")                          # also gives alias/ to a non-root uid
    assert run_queue(home, MESSAGE, envelope(b"", b"nobody-here@mx.example.org")
                     ).returncode == 0
    qmail.start()
    bounce = bounce_of(home / "alias" / "Maildir")
    assert b"\nTo: postmaster@mx.example.org\n" in bounce
    assert b"I tried to deliver a bounce message to this address, but the bounce bounced!\n\n" \
           b"<nobody-here@mx.example.org>:\n" in bounce
    assert b"--- Below this line is the original bounce.\n\nReturn-Path: <>\n" in bounce
    assert bounce.startswith(b"Return-Path: <#@[]>\n")
    # a failing message from #@[] (a double bounce) is not bounced again
    assert run_queue(home, MESSAGE, envelope(b"#@[]", b"nobody-else@mx.example.org")
                     ).returncode == 0
    log = qmail.wait_log(r"^triple bounce: discarding bounce/\d+$")
    assert len(maildir_messages(home / "alias" / "Maildir")) == 1
    assert log.count("end msg") >= 2


def test_sighup_rereads_locals(home, qmail):
    joe = add_user(home, "joe")
    (home / "control" / "smtproutes").write_bytes(b":127.0.0.1:9\n")     # nothing listens
    qmail.start()
    qmail.wait_log(r"^status: local 0/10 remote 0/20$")
    (home / "control" / "locals").write_bytes(b"mx.example.org\nnew.example\n")
    qmail.signal(signal.SIGHUP)
    time.sleep(0.3)                                # SIGHUP is handled before the next pass
    assert run_queue(home, MESSAGE, envelope(b"", b"joe@new.example")).returncode == 0
    log = qmail.wait_log(r"^end msg \d+$")
    assert re.search(r"to local joe@new.example$", log, re.M)
    assert len(maildir_messages(joe / "Maildir")) == 1


def test_sigterm_finishes_and_exits(home, qmail):
    qmail.start()
    qmail.wait_log(r"^status: local 0/10 remote 0/20$")
    qmail.signal(signal.SIGTERM)
    assert qmail.proc.wait(20) == 0
    assert qmail.log().endswith("status: exiting\n")


def test_second_qmail_send_refuses_to_start(home, qmail):
    qmail.start()
    qmail.wait_log(r"^status: local 0/10 remote 0/20$")
    second = MailSystem(home)
    second.logpath = home.parent / "second.log"
    second.start()
    try:
        assert second.proc.wait(20) == 111
        assert "alert: cannot start: qmail-send is already running\n" in second.log()
    finally:
        second.stop()


def test_cannot_start_without_locals_or_me(home):
    for name in ("me", "locals"):
        (home / "control" / name).unlink()
    system = MailSystem(home).start()
    try:
        assert system.proc.wait(20) == 111
        assert system.log() == "alert: cannot start: unable to read controls\n"
    finally:
        system.stop()


def test_qread_shows_pending_and_done_recipients(home, qmail):
    joe = add_user(home, "joe")
    ann = add_user(home, "ann")
    ann.chmod(0o777)               # qmail-local defers: "Uh-oh: home directory is writable."
    (home / "control" / "smtproutes").write_bytes(b":127.0.0.1:9\n")     # nothing listens
    assert run_queue(home, MESSAGE, envelope(b"ann@example.com", b"joe@mx.example.org",
                                             b"ann@mx.example.org", b"far@remote.example")
                     ).returncode == 0
    qmail.start()
    qmail.wait_log(r"^delivery \d+: deferral: Uh-oh:_home_directory_is_writable._\(#4.7.0\)/$")
    qmail.wait_log(r"^delivery \d+: success: .*$")
    qmail.wait_log(r"^delivery \d+: deferral: .*$", count=2)
    out = subprocess.run([ours("qmail-qread")], env=qmail.env, capture_output=True).stdout
    assert re.fullmatch(
        rb"\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT  #\d+  \d+  <ann@example.com> \n"
        rb"  done\tlocal\tjoe@mx.example.org\n"
        rb"\tlocal\tann@mx.example.org\n"
        rb"\tremote\tfar@remote.example\n", out), out
    assert len(maildir_messages(joe / "Maildir")) == 1
    qstat = subprocess.run([ours("qmail-qstat")], env=qmail.env, capture_output=True).stdout
    assert qstat == b"messages in queue: 1\nmessages in queue but not yet preprocessed: 0\n"


def test_lspawn_runs_bin_qmail_local_with_qmails_arguments(home, qmail):
    """A bin/qmail-local that is not ours is exec'd with qmail-lspawn.c's argv, as the user,
    with the message on fd 0; its exit code and output make the report."""
    joe = add_user(home, "joe")
    records = home.parent / "records"
    records.mkdir()
    os.chown(records, NOBODY, NOBODY)
    script = home / "bin" / "qmail-local"
    script.unlink()
    script.write_text('#!/bin/sh\n'
                      f'{{ id -u; for a in "$@"; do printf "%s|" "$a"; done; echo; cat; }} '
                      f'> {records}/$$\n'
                      'echo "did 0+0+0"; exit 0\n')
    script.chmod(0o755)
    assert run_queue(home, MESSAGE, envelope(b"ann@example.com", b"Joe@mx.example.org",
                                             b"joe-list@mx.example.org")).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^end msg \d+$")
    assert "delivery 1: success: did_0+0+0/" in log and "delivery 2: success: did_0+0+0/" in log
    calls = sorted(p.read_bytes().split(b"\n", 2) for p in records.iterdir())
    assert [(uid, argv) for uid, argv, _message in calls] == [
        (b"%d" % NOBODY,
         b"--|alias|%s|joe-list|-|joe-list|mx.example.org|ann@example.com|./Maildir/|"
         % bytes(home / "alias")),
        (b"%d" % NOBODY, b"--|joe|%s|Joe|||mx.example.org|ann@example.com|./Maildir/|"
         % bytes(joe)),
    ]
    for _uid, _argv, message in calls:
        assert message.startswith(b"Received: (qmail ") and message.endswith(MESSAGE)
    assert maildir_messages(joe / "Maildir") == []


def test_rspawn_runs_qmailremote_with_host_sender_recipient(home):
    record = home.parent / "rargv"
    script = home.parent / "fake-remote"
    script.write_text('#!/bin/sh\n'
                      f'{{ for a in "$@"; do printf "%s|" "$a"; done; echo; cat; }} >> {record}\n'
                      'printf "r\\0K127.0.0.9 accepted message.\\nRemote host said: 250 fine\\n\\0"\n')
    script.chmod(0o755)
    assert run_queue(home, MESSAGE, envelope(b"owner-@lists.example-@[]", b"far@remote.example")
                     ).returncode == 0
    system = MailSystem(home, env={"QMAILREMOTE": str(script)})
    try:
        system.start()
        log = system.wait_log(r"^end msg \d+$")
    finally:
        system.stop()
    assert ("delivery 1: success: 127.0.0.9_accepted_message./Remote_host_said:_250_fine/\n"
            in log)
    argv, message = record.read_bytes().split(b"\n", 1)
    # VERP: the sender is expanded for the recipient
    assert argv == b"remote.example|owner-far=remote.example@lists.example|far@remote.example|"
    assert message.endswith(MESSAGE) and message.startswith(b"Received: (qmail ")


def test_logger_reads_the_activity_log(home):
    """qmail-start DEFAULTDELIVERY LOGGER ARGS: the logger gets qmail-send's log on fd 0."""
    logfile = home.parent / "logger.out"
    system = MailSystem(home)
    system.proc = subprocess.Popen(
        [ours("qmail-start"), "./Maildir/", "/bin/sh", "-c", f"exec cat > {logfile}"],
        env=system.env, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: logfile.exists() and logfile.read_bytes().startswith(
            b"status: local 0/10 remote 0/20\n"), what="the logger's output")
    finally:
        system.stop()
    assert logfile.read_bytes().endswith(b"status: exiting\n")


def test_cleanup_removes_crash_leftovers_older_than_36_hours(home):
    """A mess file left by a qmail-queue killed before todo/N (never visible) goes away via
    qmail-clean once 36 hours old; so do stale pid/ files. Younger ones stay."""
    queue = home / "queue"
    for step in ("1", "6", "6"):      # leaves a pid/ file; leaves a mess file (twice)
        r = run_queue(home, MESSAGE, envelope(b"a@b", b"c@d"),
                      env={"PYQMAIL_QUEUE_CRASH_AT": step})
        assert r.returncode == -signal.SIGKILL
    [pidfile] = list((queue / "pid").iterdir())
    messfiles = [p for p in (queue / "mess").rglob("*") if p.is_file()]
    assert len(messfiles) == 2 and (queue / "todo").exists() and not os.listdir(queue / "todo")
    old = time.time() - 37 * 3600
    os.utime(pidfile, (old, old))
    os.utime(messfiles[0], (old, old))
    system = MailSystem(home).started()
    try:
        wait_for(lambda: not pidfile.exists() and not messfiles[0].exists(),
                 what="the cleanup")
        assert messfiles[1].exists()               # not 36 hours old yet
    finally:
        system.stop()


@pytest.mark.slow
def test_a_slow_delivery_does_not_hold_back_the_others(home, qmail):
    """Each in-process qmail-local drops the other deliveries' pipes, as exec would: a
    program delivery that takes seconds, started while a quick one runs, does not delay the
    quick one's report."""
    add_user(home, "joe")
    slow = add_user(home, "slow")
    (slow / ".qmail").write_bytes(b"|sleep 3\n")
    os.chown(slow / ".qmail", NOBODY, NOBODY)
    assert run_queue(home, MESSAGE, envelope(b"", b"joe@mx.example.org", b"slow@mx.example.org")
                     ).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^starting delivery 2: .*$")
    started = time.monotonic()
    log = qmail.wait_log(r"^delivery 1: success: .*$", timeout=20)
    assert time.monotonic() - started < 2, log
    assert not re.search(r"^delivery 2:", log, re.M), log
    qmail.wait_log(r"^delivery 2: success: did_0\+0\+1/$", timeout=20)


def test_qmail_start_says_which_accounts_it_replaced(home, qmail):
    import pwd
    missing = [n for n in ("qmaill", "qmailq", "qmailr", "qmails") if not _exists(pwd, n)]
    qmail.started()
    err = qmail.logpath.with_suffix(".err").read_bytes()
    if missing:
        assert err == b"qmail-start: warning: no such accounts, using uid %d: %s\n" % (
            os.getuid(), " ".join(missing).encode())
    else:
        assert err == b""


def _exists(pwd, name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_message_without_recipients_just_ends(home, qmail):
    assert run_queue(home, MESSAGE, b"Fann@example.com\0\0").returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^end msg \d+$")
    assert "starting delivery" not in log
    wait_for(lambda: queue_is_empty(home), what="the queue to empty")


def test_recipient_without_host_gets_envnoathost(home, qmail):
    joe = add_user(home, "joe")
    (home / "control" / "envnoathost").write_bytes(b"mx.example.org\n")
    (home / "control" / "me").write_bytes(b"elsewhere.example\n")
    assert run_queue(home, MESSAGE, envelope(b"", b"joe")).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^end msg \d+$")
    assert re.search(r"^starting delivery 1: msg \d+ to local joe@mx.example.org$", log, re.M)
    assert len(maildir_messages(joe / "Maildir")) == 1


def test_spawners_accept_only_messages_owned_by_the_queue_owner(home, qmail):
    """With the queue owned by another uid (standing in for qmailq), qmail-queue run as root
    writes files of that owner and they are delivered; a mess file of another owner is
    refused, as qmail-lspawn refuses one not owned by qmailq."""
    joe = add_user(home, "joe")
    for path in [home / "queue", *(home / "queue").rglob("*")]:
        os.lchown(path, NOBODY, NOBODY)
    assert run_queue(home, MESSAGE, envelope(b"", b"joe@mx.example.org")).returncode == 0
    assert run_queue(home, b"Subject: other\n\n", envelope(b"", b"joe@mx.example.org")
                     ).returncode == 0
    [other] = [p for p in (home / "queue" / "mess").rglob("*")
               if p.is_file() and b"Subject: other" in p.read_bytes()]
    os.chown(other, 0, 0)
    qmail.start()
    qmail.wait_log(r"^delivery \d+: deferral: Sorry,_message_has_wrong_owner._\(#4.3.5\)/$")
    qmail.wait_log(r"^end msg \d+$")
    [delivered] = maildir_messages(joe / "Maildir")
    assert delivered.endswith(MESSAGE)


@pytest.mark.parametrize("breakage,alert", [
    ("nomutex", b"alert: cannot start: unable to open mutex\n"),
    ("nospawn", b"alert: cannot start: hath the daemon spawn no fire?\n"),
    ("noqueue", b"alert: cannot start: unable to switch to queue directory\n"),
    ("nohome", b"alert: cannot start: unable to switch to home directory\n"),
])
def test_qmail_send_start_up_alerts(home, breakage, alert):
    """qmail-send alone, its fds wired by the shell: 0 the log, 2 and 4 (the spawners'
    reports) at end of file."""
    env = dict(os.environ, QMAILHOME=str(home))
    if breakage == "nomutex":
        (home / "queue" / "lock" / "sendmutex").unlink()
    elif breakage == "noqueue":
        os.rename(home / "queue", home / "queue.away")
    elif breakage == "nohome":
        env["QMAILHOME"] = str(home / "nonexistent")
    log = home.parent / "alert.log"
    r = subprocess.run(["/bin/sh", "-c", 'exec "$0" 0>"$1" 1>/dev/null 2</dev/null 3>/dev/null '
                        '4</dev/null 5>/dev/null 6</dev/null', ours("qmail-send"), str(log)],
                       env=env, timeout=30)
    assert r.returncode == 111
    assert log.read_bytes() == alert


def test_forwarding_by_an_unprivileged_user_goes_through_qmail_queued(home, qmail):
    """joe's .qmail forwards: qmail-local, running as joe's uid, runs qmail-queue, which may
    not write the queue and hands the message to the qmail-queued that qmail-start started."""
    from queue_support import skip_unless_can_run_as
    skip_unless_can_run_as(NOBODY)
    joe = add_user(home, "joe")
    ann = add_user(home, "ann")
    (joe / ".qmail").write_bytes(b"&ann@mx.example.org\n")
    os.chown(joe / ".qmail", NOBODY, NOBODY)
    assert run_queue(home, MESSAGE, envelope(b"x@example.com", b"joe@mx.example.org")
                     ).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^end msg \d+$", count=2)
    assert re.search(r"^delivery 1: success: did_0\+1\+0/qp_\d+/$", log, re.M), log
    [forwarded] = maildir_messages(ann / "Maildir")
    assert b"\nDelivered-To: joe@mx.example.org\n" in forwarded
    assert re.search(rb"Received: \(qmail \d+ invoked by uid %d\)" % NOBODY, forwarded)
    assert maildir_messages(joe / "Maildir") == []


def test_percenthack_virtualdomains_and_the_bounce_without_the_prepend(home, qmail):
    """§9.2: `x%virt.example@mx.example.org` (percenthack) becomes x@virt.example; the
    virtual domain makes it local as joe-x@virt.example (users/assign wildcard `+joe-`, so
    ~joe/.qmail-x); y@virt.example has no .qmail-y and bounces, and the bounce names it
    without the `joe-` prepend (§9.5)."""
    joe = add_user(home, "joe")
    assign = home / "users" / "assign"
    assign.write_bytes(assign.read_bytes()[:-2] + b"+joe-:joe:%d:%d:%s:-::\n.\n"
                       % (NOBODY, NOBODY, str(joe).encode()))
    subprocess.run([ours("qmail-newu")], env=qmail.env, check=True)
    (joe / ".qmail-x").write_bytes(b"./Maildir/\n")
    os.chown(joe / ".qmail-x", NOBODY, NOBODY)
    (home / "control" / "percenthack").write_bytes(b"mx.example.org\n")
    (home / "control" / "virtualdomains").write_bytes(b"virt.example:joe\n")
    assert run_queue(home, MESSAGE, envelope(b"joe@mx.example.org",
                                             b"x%virt.example@mx.example.org",
                                             b"y@virt.example")).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^bounce msg \d+ qp \d+$")
    assert re.search(r"^starting delivery \d+: msg \d+ to local joe-x@virt.example$", log, re.M)
    assert re.search(r"^starting delivery \d+: msg \d+ to local joe-y@virt.example$", log, re.M)
    qmail.wait_log(r"^end msg \d+$", count=2)
    delivered, bounce = sorted(maildir_messages(joe / "Maildir"),
                               key=lambda m: b"failure notice" in m)
    assert delivered.startswith(b"Return-Path: <joe@mx.example.org>\n"
                                b"Delivered-To: joe-x@virt.example\n")
    assert (b"\n\n<y@virt.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
            b"--- Below this line is a copy of the message.\n") in bounce


def test_no_deliveries_as_root(home, qmail):
    """A users/assign entry with uid 0: qmail-lspawn refuses (§9.1), a deferral."""
    assign = home / "users" / "assign"
    assign.write_bytes(b"=boss:root:0:0:%s:::\n.\n" % str(home.parent).encode())
    subprocess.run([ours("qmail-newu")], env=qmail.env, check=True)
    assert run_queue(home, MESSAGE, envelope(b"", b"boss@mx.example.org")).returncode == 0
    qmail.start()
    qmail.wait_log(r"^delivery 1: deferral: Not_allowed_to_perform_deliveries_as_root./$")


def test_concurrencylocal_0_holds_local_deliveries(home, qmail):
    """§9.1: a concurrency of 0 holds that channel; the message waits in the queue."""
    add_user(home, "joe")
    (home / "control" / "concurrencylocal").write_bytes(b"0\n")
    assert run_queue(home, MESSAGE, envelope(b"", b"joe@mx.example.org")).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^info msg \d+: .*$")
    assert log.startswith("status: local 0/0 remote 0/20\n"), log
    time.sleep(0.5)
    assert "starting delivery" not in qmail.log()
    out = subprocess.run([ours("qmail-qread")], env=qmail.env, capture_output=True).stdout
    assert out.endswith(b"\n\tlocal\tjoe@mx.example.org\n"), out


@pytest.mark.parametrize("qq", ["/nonexistent/qmail-queue", ""])
def test_a_bounce_that_cannot_be_queued_is_kept_for_later(home, qq):
    """qmail-queue cannot be run (qmail.c's child exits 120): `warning: trouble injecting
    bounce message, will try later` (§9.6), and the message stays in the queue."""
    add_user(home, "joe")
    assert run_queue(home, MESSAGE, envelope(b"joe@mx.example.org", b"nobody-here@mx.example.org")
                     ).returncode == 0
    system = MailSystem(home, env={"QMAILQUEUE": qq})
    try:
        system.start()
        log = system.wait_log(r"^warning: trouble injecting bounce message, will try later$")
        assert "bounce msg" not in log and "end msg" not in log
        assert not queue_is_empty(home)
    finally:
        system.stop()


@pytest.mark.parametrize("program, report", [
    ("", "failure: Unable_to_run_qmail-remote./"),                     # execvp(""): ENOENT
    ("/nonexistent/qmail-remote", "failure: Unable_to_run_qmail-remote./"),
    ("/bin/true", "deferral: qmail-remote_produced_no_output./"),
])
def test_rspawn_reports_when_qmail_remote_cannot_run(home, program, report):
    """qmail-rspawn.c's report(): exit 100 from the child (exec failed) -> D, no output -> Z."""
    assert run_queue(home, MESSAGE, envelope(b"", b"far@remote.example")).returncode == 0
    system = MailSystem(home, env={"QMAILREMOTE": program})
    try:
        system.start()
        system.wait_log(r"^delivery 1: %s$" % re.escape(report))
    finally:
        system.stop()
