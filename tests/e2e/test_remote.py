"""qmail-remote against real servers on 127.0.0.1 (spec/qmail.md §9.4): aiosmtpd in a thread,
a scripted socket server for exact wire bytes, and a small DNS server for the MX rules."""
import os
import socket
import subprocess
import threading

import pytest

from support import ours

pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller  # noqa: E402

MESSAGE = b"Subject: hi\n\n.leading dot\nbare\rcr\nlast\n"


class Handler:
    """Refuses recipients containing `perm` (550) or `temp` (450), senders starting `bad`."""

    def __init__(self):
        self.messages = []

    async def handle_MAIL(self, server, session, envelope, address, options):
        if address.startswith("badperm"):
            return "553 sorry, no"
        if address.startswith("badtemp"):
            return "451 not now"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if "perm" in address:
            return "550 no such user"
        if "temp" in address:
            return "450 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((session.host_name, envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 ok 1795553487 qp 42"


class PortZeroController(Controller):
    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_server():
    handler = Handler()
    controller = PortZeroController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()


class Scripted:
    """One connection: greeting, then one reply per line received (None: hang up)."""

    def __init__(self, greeting, replies):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.greeting, self.replies, self.received = greeting, replies, b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(20)
        conn, _ = self.sock.accept()
        conn.settimeout(20)
        try:
            self._talk(conn)
        except OSError:
            pass                          # the client may hang up after QUIT before our reply
        finally:
            conn.close()

    def _talk(self, conn):
        conn.sendall(self.greeting)
        in_data = False
        buf = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            self.received += chunk
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if in_data:
                    if line != b".\r":
                        continue
                    in_data = False
                reply = self.replies(line + b"\n")
                if reply is None:
                    return
                if reply.startswith(b"354"):
                    in_data = True
                conn.sendall(reply)

    def close(self):
        self.thread.join(10)
        self.sock.close()


def remote(args, message=MESSAGE, env=None):
    full = dict(os.environ, **(env or {}))
    r = subprocess.run([ours("qmail-remote"), *args], input=message, capture_output=True,
                       env=full, timeout=60)
    assert (r.returncode, r.stderr) == (0, b"")
    return r.stdout


@pytest.fixture
def controls(qmail_home):
    (qmail_home / "control" / "me").write_text("me.example\n")
    (qmail_home / "control" / "helohost").write_text("helo.example\n")

    def set_route(port, domain="example.test"):
        (qmail_home / "control" / "smtproutes").write_text(f"{domain}:127.0.0.1:{port}\n")
    return set_route


def test_delivered(controls, smtp_server):
    port, handler = smtp_server
    controls(port)
    out = remote(["example.test", "a b@x.org", "joe@example.test"])
    assert out == b"r\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 1795553487 qp 42\n\0"
    [(helo, sender, rcpts, content)] = handler.messages
    assert (helo, sender, rcpts) == ("helo.example", '"a b"@x.org', ["joe@example.test"])
    assert content == b"Subject: hi\r\n\r\n.leading dot\r\nbare\r\ncr\r\nlast\r\n"


def test_recipient_reports(controls, smtp_server):
    port, handler = smtp_server
    controls(port)
    out = remote(["example.test", "s@x.org", "perm@example.test", "temp@example.test",
                  "ok@example.test"])
    assert out == (b"h127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\n\0"
                   b"s127.0.0.1 does not like recipient.\nRemote host said: 450 try later\n\0"
                   b"r\0"
                   b"K127.0.0.1 accepted message.\nRemote host said: 250 ok 1795553487 qp 42\n\0")
    assert [m[2] for m in handler.messages] == [["ok@example.test"]]


def test_every_recipient_refused(controls, smtp_server):
    port, handler = smtp_server
    controls(port)
    out = remote(["example.test", "s@x.org", "perm@example.test"])
    assert out == (b"h127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\n\0"
                   b"DGiving up on 127.0.0.1.\n\0")
    assert handler.messages == []


@pytest.mark.parametrize("sender, report", [
    ("badperm@x.org", b"DConnected to 127.0.0.1 but sender was rejected.\n"
                      b"Remote host said: 553 sorry, no\n\0"),
    ("badtemp@x.org", b"ZConnected to 127.0.0.1 but sender was rejected.\n"
                      b"Remote host said: 451 not now\n\0")])
def test_sender_refused(controls, smtp_server, sender, report):
    port, _ = smtp_server
    controls(port)
    assert remote(["example.test", sender, "joe@example.test"]) == report


def test_connection_refused(controls):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    controls(port)                                    # nothing listens there now
    assert remote(["example.test", "s@x.org", "joe@example.test"]) == (
        b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0")


def test_partial_final_line(controls, smtp_server):
    port, handler = smtp_server
    controls(port)
    out = remote(["example.test", "s@x.org", "joe@example.test"], message=b"Subject: x\n\nno LF")
    assert out == b"r\0DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\0"
    assert handler.messages == []


def test_default_route_and_exact_wire_bytes(qmail_home, controls):
    def replies(line):
        if line.startswith(b"QUIT"):
            return None
        return {b"DATA": b"354 go\r\n"}.get(line[:4], b"250-first\r\n250 ok\r\n")
    server = Scripted(b"220-mx\r\n220 ESMTP\r\n", replies)
    try:
        (qmail_home / "control" / "smtproutes").write_text(f":[127.0.0.1]:{server.port}\n")
        out = remote(["anywhere.example", "", "u@anywhere.example"],
                     message=b"a\n.\r\nb\r\n")
    finally:
        server.close()
    assert out == b"r\0K127.0.0.1 accepted message.\nRemote host said: 250-first\n250 ok\n\0"
    assert server.received == (b"HELO helo.example\r\nMAIL FROM:<>\r\nRCPT TO:<u@anywhere.example>\r\n"
                               b"DATA\r\na\r\n..\r\nb\r\n.\r\nQUIT\r\n")


@pytest.mark.parametrize("greeting, replies, report", [
    (b"554 go away\r\n", lambda line: None,
     b"ZConnected to 127.0.0.1 but greeting failed.\nRemote host said: 554 go away\n\0"),
    (b"220 hi\r\n", lambda line: b"501 who?\r\n" if line.startswith(b"HELO") else None,
     b"ZConnected to 127.0.0.1 but my name was rejected.\nRemote host said: 501 who?\n\0"),
    (b"220 hi\r\n", lambda line: None,
     b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0"),
    (b"220 hi\r\n", lambda line: None if line == b".\r\n" else
     (b"354 go\r\n" if line.startswith(b"DATA") else b"250 ok\r\n"),
     b"r\0ZConnected to 127.0.0.1 but connection died. Possible duplicate! (#4.4.2)\n\0"),
    (b"220 hi\r\n", lambda line: b"554 no\r\n" if line == b".\r\n" else
     (b"354 go\r\n" if line.startswith(b"DATA") else b"250 ok\r\n"),
     b"r\0D127.0.0.1 failed after I sent the message.\nRemote host said: 554 no\n\0"),
    (b"220 hi\r\n", lambda line: b"451 wait\r\n" if line.startswith(b"DATA") else b"250 ok\r\n",
     b"r\0Z127.0.0.1 failed on DATA command.\nRemote host said: 451 wait\n\0"),
])
def test_dialogue_failures(controls, greeting, replies, report):
    server = Scripted(greeting, replies)
    try:
        controls(server.port)
        assert remote(["example.test", "s@x.org", "joe@example.test"]) == report
    finally:
        server.close()


def test_usage_and_missing_helohost(qmail_home):
    assert remote(["example.test", "s@x.org"]) == (
        b"DI (qmail-remote) was invoked improperly. (#5.3.5)\n\0")
    assert remote(["example.test", "s@x.org", "joe@example.test"]) == (
        b"ZUnable to read control files. (#4.3.0)\n\0")


class Dns:
    """A UDP name server on 127.0.0.1 answering from ZONE; other names: NXDOMAIN."""

    def __init__(self, zone, servfail=()):
        import dns.message
        import dns.rcode
        self.dns_message, self.rcode = dns.message, dns.rcode
        self.zone, self.servfail = zone, set(servfail)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import dns.rrset
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            query = self.dns_message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            kind = {1: "A", 15: "MX"}.get(question.rdtype, "?")
            response = self.dns_message.make_response(query)
            if name in self.servfail:
                response.set_rcode(self.rcode.SERVFAIL)
            elif not any(n == name for n, _ in self.zone):
                response.set_rcode(self.rcode.NXDOMAIN)
            elif (name, kind) in self.zone:
                response.answer.append(dns.rrset.from_text_list(
                    question.name, 60, "IN", kind, self.zone[(name, kind)]))
            self.sock.sendto(response.to_wire(), peer)

    def close(self):
        self.stopped = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def dns_server():
    servers = []

    def start(zone, servfail=()):
        servers.append(Dns(zone, servfail))
        return servers[-1].address
    yield start
    for s in servers:
        s.close()


def test_mx_rules_through_dns(controls, qmail_home, dns_server):
    (qmail_home / "control" / "smtproutes").write_text("")
    env = {"QMAILREMOTE_DNS_SERVER": dns_server({
        ("mx.test", "MX"): ["10 mail.mx.test."], ("mail.mx.test", "A"): ["127.0.0.1"],
        ("a-only.test", "A"): ["127.0.0.1"],
        ("nothing.test", "TXT"): [],
        ("deadmx.test", "MX"): ["10 gone.test."],
    }, servfail=["broken.test"])}
    ambiguous = (b"DSorry. Although I'm listed as a best-preference MX or A for that host,\n"
                 b"it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n\0")
    assert remote(["mx.test", "s@x", "u@mx.test"], env=env) == ambiguous
    assert remote(["a-only.test", "s@x", "u@a-only.test"], env=env) == ambiguous   # no MX -> A
    assert remote(["missing.test", "s@x", "u@missing.test"], env=env) == (
        b"DSorry, I couldn't find any host named missing.test. (#5.1.2)\n\0")
    assert remote(["nothing.test", "s@x", "u@nothing.test"], env=env) == (
        b"DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n\0")
    assert remote(["deadmx.test", "s@x", "u@deadmx.test"], env=env) == (
        b"DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n\0")
    assert remote(["broken.test", "s@x", "u@broken.test"], env=env) == (
        b"ZSorry, I couldn't find any host by that name. (#4.1.2)\n\0")


def test_relay_name_resolved_by_a_record(controls, qmail_home, smtp_server, dns_server):
    port, handler = smtp_server
    env = {"QMAILREMOTE_DNS_SERVER": dns_server({("relay.test", "A"): ["127.0.0.1"]})}
    (qmail_home / "control" / "smtproutes").write_text(f".example.test:relay.test:{port}\n")
    out = remote(["sub.example.test", "s@x", "u@sub.example.test"], env=env)
    assert out.startswith(b"r\0K127.0.0.1 accepted message.")
    assert len(handler.messages) == 1


@pytest.mark.slow
def test_timeoutremote(controls, qmail_home):
    """A server that greets and then says nothing: after timeoutremote (1 s) the connection
    counts as dead."""
    server = Scripted(b"220 hi\r\n", lambda line: b"" if line.startswith(b"HELO") else None)
    try:
        controls(server.port)
        (qmail_home / "control" / "timeoutremote").write_text("1\n")
        assert remote(["example.test", "s@x.org", "joe@example.test"]) == (
            b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0")
    finally:
        server.close()


def test_into_our_qmail_smtpd(controls, qmail_home, tmp_path, tcpserver_factory):
    """qmail-remote -> our tcpserver + qmail-smtpd -> a capture queue program: the stored
    message is the original one (LF line ends, leading dots restored), after a Received line."""
    out = tmp_path / "queued"
    out.mkdir()
    script = tmp_path / "capture-queue"
    script.write_text(f"#!/bin/sh\ncat > {out}/mess\ncat <&1 > {out}/env\n")
    script.chmod(0o755)
    env = dict(os.environ, QMAILHOME=str(qmail_home), QMAILQUEUE=str(script))
    message = b"Subject: hi\n\n.dot\n..two\nbare\rcr\n"
    with tcpserver_factory([], [ours("qmail-smtpd")], env=env) as server:
        controls(server.port)
        report = remote(["example.test", "s@x.org", "joe@example.test"], message=message)
    assert report.startswith(b"r\0K127.0.0.1 accepted message.\nRemote host said: 250 ok ")
    mess = (out / "mess").read_bytes()
    assert mess.startswith(b"Received: from ") and b"(HELO helo.example)" in mess
    assert mess.endswith(b"\nSubject: hi\n\n.dot\n..two\nbare\ncr\n")
    assert (out / "env").read_bytes() == b"Fs@x.org\0Tjoe@example.test\0\0"
