"""tcpclient against tcpserver, real processes on 127.0.0.1 (§5.1): the program talks over
fds 6/7, sees the TCP variables of both ends, and its exit status is tcpclient's.
"""
import os
import subprocess

import fakes
import support


def env(**extra):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DNSCACHEIP": "127.0.0.1"}
    base.update(extra)
    return base


def tcpclient(args, **kw):
    return subprocess.run([support.ours("tcpclient"), *args], capture_output=True,
                          timeout=30, stdin=subprocess.DEVNULL, **kw)


def test_conversation_over_fds_6_and_7(tmp_path):
    server_prog = ["sh", "-c", 'echo "hi $TCPREMOTEIP:$TCPREMOTEPORT"; read x; echo "got $x"']
    with support.run_tcpserver(["-RHl0"], server_prog, env=env(), log=tmp_path / "log") as server:
        r = tcpclient(["-RHl0", "-i", "127.0.0.6", "127.0.0.1", str(server.port), "sh", "-c",
                       'read greeting <&6; echo "$greeting"; echo "$TCPLOCALPORT ok" >&7;'
                       ' read answer <&6; echo "$answer"; exit 5'], env=env())
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 5, r.stderr
    local_port = lines[0].rsplit(":", 1)[1]
    assert lines == [f"hi 127.0.0.6:{local_port}", f"got {local_port} ok"]


def test_both_ends_see_the_same_names_and_ident(tmp_path):
    # IDENT goes to the other end's address: tcpserver asks 127.0.0.8, tcpclient 127.0.0.1
    with fakes.FakeDns() as dns, fakes.FakeIdentd(b"{ports} : USERID : UNIX : alice\r\n"), \
            fakes.FakeIdentd(b"{ports} : USERID : UNIX : bob\r\n", host="127.0.0.8"):
        dns.ptr("127.0.0.1", "server.example.")
        dns.ptr("127.0.0.8", "Client.Example.")
        dns.a("server.example", "127.0.0.1")
        server_prog = ["sh", "-c", 'echo "$TCPREMOTEHOST $TCPREMOTEINFO $TCPLOCALHOST"']
        with support.run_tcpserver(["-t", "5"], server_prog, env=env(),
                                   log=tmp_path / "log") as server:
            r = tcpclient(["-i", "127.0.0.8", "server.example", str(server.port), "sh", "-c",
                           'read line <&6; echo "$line";'
                           ' echo "$TCPREMOTEHOST $TCPLOCALHOST $TCPREMOTEINFO"'], env=env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        "client.example bob server.example",            # what tcpserver found out
        "server.example client.example alice"]          # what tcpclient found out


def test_program_failure_after_connecting(tmp_path):
    with support.run_tcpserver(["-RHl0"], ["cat"], env=env(), log=tmp_path / "log") as server:
        r = tcpclient(["-RHl0", "127.0.0.1", str(server.port), "nonexistent-prog-xyz"], env=env())
    assert (r.returncode, r.stderr) == (
        111, b"tcpclient: fatal: unable to run nonexistent-prog-xyz: file does not exist\n")
