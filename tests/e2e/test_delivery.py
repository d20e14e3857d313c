"""Delivery end to end: remote delivery through qmail-rspawn and our qmail-remote to an SMTP
server on 127.0.0.1 (aiosmtpd) via smtproutes, a temporary refusal retried after SIGALRM, a
permanent refusal bounced, queuelifetime, the concurrency limit, and kill -9 of qmail-send and
qmail-local during 500 deliveries (spec/qmail.md §9)."""
import os
import random
import re
import signal
import time

import pytest

from queue_support import (MailSystem, add_user, envelope, maildir_messages, nothing_to_deliver,
                           queue_many, run_queue, smtp_sink)

MESSAGE = b"Subject: far away\n\n.leading dot\nbody\n"


@pytest.fixture
def smtp_server():
    with smtp_sink() as (handler, port):
        yield handler, port


def test_remote_delivery_retried_after_a_temporary_refusal(home, qmail, smtp_server):
    handler, port = smtp_server
    handler.rcpt_replies = ["451 4.3.0 try again later"]
    (home / "control" / "smtproutes").write_bytes(b"remote.example:127.0.0.1:%d\n" % port)
    assert run_queue(home, MESSAGE, envelope(b"ann@mx.example.org", b"far@remote.example")
                     ).returncode == 0
    qmail.start()
    log = qmail.wait_log(r"^delivery 1: deferral: .*$")
    assert re.search(r"^starting delivery 1: msg \d+ to remote far@remote.example$", log, re.M)
    assert re.search(r"^delivery 1: deferral: 127.0.0.1_does_not_like_recipient./Remote_host_"
                     r"said:_451_4.3.0_try_again_later/Giving_up_on_127.0.0.1./$", log, re.M), log
    assert handler.received == []
    qmail.signal(signal.SIGALRM)                        # retry now, not in 400 seconds
    log = qmail.wait_log(r"^end msg \d+$")
    assert re.search(r"^delivery 2: success: 127.0.0.1_accepted_message./Remote_host_said:_250"
                     r"_ok_1795553487_qp_4242/$", log, re.M), log
    [(mail_from, rcpt_tos, content)] = handler.received
    assert (mail_from, rcpt_tos) == ("ann@mx.example.org", ["far@remote.example"])
    assert content.endswith(b"\r\nSubject: far away\r\n\r\n.leading dot\r\nbody\r\n")
    assert content.startswith(b"Received: (qmail ")


def test_remote_permanent_refusal_bounces_to_the_sender(home, qmail, smtp_server):
    handler, port = smtp_server
    handler.rcpt_replies = ["550 5.1.1 no such user"]
    joe = add_user(home, "joe")
    (home / "control" / "smtproutes").write_bytes(b":127.0.0.1:%d\n" % port)
    assert run_queue(home, MESSAGE, envelope(b"joe@mx.example.org", b"x@remote.example")
                     ).returncode == 0
    qmail.start()
    qmail.wait_log(r"^bounce msg \d+ qp \d+$")
    qmail.wait_log(r"^end msg \d+$", count=2)
    [bounce] = maildir_messages(joe / "Maildir")
    assert (b"\n<x@remote.example>:\n"
            b"127.0.0.1 does not like recipient.\n"
            b"Remote host said: 550 5.1.1 no such user\n"
            b"Giving up on 127.0.0.1.\n"
            b"\n--- Below this line is a copy of the message.\n\n"
            b"Return-Path: <joe@mx.example.org>\n") in bounce


@pytest.mark.slow
def test_queuelifetime_turns_a_deferral_into_a_bounce(home, qmail):
    joe = add_user(home, "joe")
    (home / "control" / "smtproutes").write_bytes(b":127.0.0.1:9\n")     # nothing listens
    # 2 s: the first attempt (within 2 s of info/N's mtime, the birth) is still young even on
    # a slow machine; with 0 it had to start within the same second, which CI once missed
    (home / "control" / "queuelifetime").write_bytes(b"2\n")
    assert run_queue(home, MESSAGE, envelope(b"joe@mx.example.org", b"x@remote.example")
                     ).returncode == 0
    qmail.start()
    qmail.wait_log(r"^delivery 1: deferral: .*$")
    time.sleep(3.1)               # now older than birth + lifetime in whole seconds (§9.3)
    qmail.signal(signal.SIGALRM)
    log = qmail.wait_log(r"^delivery 2: failure: .*$")
    assert re.search(r"^delivery 2: failure: .*/I'm_not_going_to_try_again;_this_message_has_"
                     r"been_in_the_queue_too_long./$", log, re.M), log
    qmail.wait_log(r"^end msg \d+$", count=2)
    [bounce] = maildir_messages(joe / "Maildir")
    assert b"I'm not going to try again; this message has been in the queue too long.\n" \
           b"\n--- Below this line is a copy of the message.\n" in bounce


def test_concurrencylocal_limits_parallel_deliveries(home, qmail):
    joe = add_user(home, "joe")
    (home / "control" / "concurrencylocal").write_bytes(b"2\n")
    queue_many(home, [(b"Subject: %d\n\nx\n" % i, envelope(b"", b"joe@mx.example.org"))
                      for i in range(12)])
    qmail.start()
    log = qmail.wait_log(r"^end msg \d+$", count=12, timeout=60)
    used = [int(u) for u in re.findall(r"^status: local (\d+)/2 remote 0/20$", log, re.M)]
    assert max(used) == 2 and len(used) >= 24
    assert len(maildir_messages(joe / "Maildir")) == 12


def _qread(home):
    import subprocess
    from support import ours
    return subprocess.run([ours("qmail-qread")], env=dict(os.environ, QMAILHOME=str(home)),
                          capture_output=True).stdout[-1500:]


def local_deliveries(system: MailSystem) -> list[int]:
    """pids of running deliveries: the children of qmail-lspawn."""
    procs = system.children()
    lspawn = [pid for pid, cmd in procs if "qmail-lspawn" in cmd]
    found = []
    for pid, _cmd in procs:
        try:
            stat = open(f"/proc/{pid}/stat", "rb").read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) in lspawn:
            found.append(pid)
    return found


@pytest.mark.slow
def test_kill_9_of_qmail_send_and_qmail_local_during_500_deliveries(home):
    """Every message is delivered at least once and at most twice.

    Why a second copy is allowed (as in qmail): qmail-send records a finished delivery by
    writing `D` over the `T` of local/N only after the spawner's report arrives. A kill -9 of
    qmail-local after it linked the file into new/ but before it exited, or of qmail-send
    after the delivery but before the mark, makes qmail deliver that recipient again. Nothing
    is lost: todo/, info/, local/ are written and fsynced before anything is acted on."""
    n = 500
    joe = add_user(home, "joe")
    queue_many(home, [(b"Subject: %d\n\nmessage number %d\n" % (i, i),
                       envelope(b"", b"joe@mx.example.org")) for i in range(n)])
    rng = random.Random(7)
    system = MailSystem(home)
    kills = {"qmail-send": 0, "qmail-local": 0}
    deadline = time.monotonic() + 50
    try:
        system.started()
        for kind in ("local", "send", "local", "local", "send", "local", "send", "local"):
            time.sleep(rng.uniform(0.1, 0.4))
            if kind == "send":
                os.kill(system.proc.pid, signal.SIGKILL)
                system.proc.wait()
                kills["qmail-send"] += 1
                system.kill_session()           # qmail-start starts a fresh family
                system.started()
            else:
                victims = []
                for _try in range(100):             # deliveries are short: look for one
                    victims = local_deliveries(system)
                    if victims:
                        break
                    time.sleep(0.003)
                for pid in victims[:3]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills["qmail-local"] += 1
                    except ProcessLookupError:
                        pass
        while not nothing_to_deliver(home):
            assert time.monotonic() < deadline, "queue not empty in time:\n%s\n%s\n%s" % (
                system.log()[-1500:], system.children(), _qread(home))
            system.signal(signal.SIGALRM)       # crashed deliveries are retried now
            time.sleep(0.3)
    finally:
        system.stop()
    counts = {}
    for message in maildir_messages(joe / "Maildir"):
        number = int(re.search(rb"\nmessage number (\d+)\n", message).group(1))
        counts[number] = counts.get(number, 0) + 1
    assert sorted(counts) == list(range(n))                # none lost
    assert max(counts.values()) <= 2                       # at most one duplicate
    assert kills["qmail-send"] >= 1 and kills["qmail-local"] >= 1, kills
    print("kills:", kills, "duplicates:", sum(c - 1 for c in counts.values()))
    assert not list((joe / "Maildir" / "new").glob(".*"))


def test_smtp_in_to_maildir(home, qmail, tcpserver_factory):
    """The whole path: an SMTP client -> tcpserver + qmail-smtpd -> qmail-queue -> qmail-send
    -> qmail-lspawn -> qmail-local -> Maildir, byte for byte."""
    import smtplib
    from support import ours
    joe = add_user(home, "joe")
    qmail.started()
    env = dict(os.environ, QMAILHOME=str(home))
    body = b"Subject: via SMTP\r\n\r\n.dot-stuffed line\r\nlast line\r\n"
    with tcpserver_factory(["-H", "-R", "-l", "mx.example.org"], [ours("qmail-smtpd")],
                           env=env) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.helo("client.example")
            client.sendmail("ann@example.com", ["joe@mx.example.org"], body)
    qmail.wait_log(r"^end msg \d+$")
    [delivered] = maildir_messages(joe / "Maildir")
    lines = delivered.split(b"\n")
    assert lines[:2] == [b"Return-Path: <ann@example.com>", b"Delivered-To: joe@mx.example.org"]
    assert re.fullmatch(rb"Received: \(qmail \d+ invoked (from network|by uid \d+)\); "
                        rb"\d+ \w{3} \d{4} \d\d:\d\d:\d\d -0000", lines[2]), lines[2]
    assert lines[3] == b"Received: from unknown (HELO client.example) (127.0.0.1)"
    assert lines[4].startswith(b"  by mx.example.org with SMTP; ")
    assert b"\n".join(lines[5:]) == b"Subject: via SMTP\n\n.dot-stuffed line\nlast line\n"
