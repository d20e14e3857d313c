"""The POP3 programs as processes: checkpassword and vchkpw on fd 3 (spec/qmail.md §5),
qmail-newvpw, qmail-popup and qmail-pop3d over pipes (§4, §6), and a real system account
through tcpserver when we are root (created with useradd and removed again)."""
import contextlib
import os
import poplib
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from support import ours, reachable_by, run_tcpserver

SHOW = ["/bin/sh", "-c", 'echo "$USER|$HOME|$SHELL|$(pwd)|$(id -u)|$(id -g)|$(id -G)|$X"']


def checker(program: str, data: bytes | None, argv=SHOW, env=None, user=None, group=None):
    """Run PROGRAM ARGV with DATA on fd 3 (None: fd 3 closed)."""
    full_env = {**os.environ, "CHECKPASSWORD_FAIL_DELAY": "0", "X": "kept", **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    if data is None:
        return subprocess.run([ours(program), *argv], capture_output=True, env=full_env,
                              timeout=30, user=user, group=group)
    r, w = os.pipe()
    try:
        assert os.write(w, data) == len(data)
        os.close(w)
        w = -1
        # bash (dash takes no fd over 9) makes the pipe fd 3 and closes its other number
        redirect = "" if r == 3 else f"3<&{r} {r}<&-"
        return subprocess.run(["/bin/bash", "-c", f'exec "$0" "$@" {redirect}',
                               ours(program), *argv], capture_output=True, env=full_env,
                              timeout=30, pass_fds=(r,), user=user, group=group)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def sha512(password: str) -> str:
    from passlib.handlers.sha2_crypt import sha512_crypt
    return sha512_crypt.using(rounds=5000).hash(password)


@pytest.fixture
def base():
    path = Path(tempfile.mkdtemp(prefix="pop3-auth-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- checkpassword: the interface ----------------------------------------------------------

@pytest.mark.parametrize("data, status", [
    (b"", 2), (b"bob", 2), (b"bob\0", 2), (b"bob\0pw", 2),
    (b"x" * 513, 1), (b"no-such-user-xyz\0pw\0stamp\0", 1),
    (b"no-such-user-xyz\0pw\0" + b"s" * (512 - 20), 1),         # 512 bytes: read, refused
    (b"root\0\0", 1), (b"root\0wrong\0", 1),
    (b"x" * 512, 2), (b"\0" * 513, 1),              # 512 bytes are read and parsed, 513 not
    (b"\0pw\0", 1), (b"\0\0", 1), (b"\0", 2),       # an empty login is looked up: unknown
    (b"no-such-user-xyz\0pw\0stamp\0more\0", 1),
])
def test_checkpassword_exits(data, status):
    r = checker("checkpassword", data)
    assert (r.returncode, r.stdout) == (status, b"")


def test_checkpassword_misuse_and_read_error():
    assert checker("checkpassword", b"root\0x\0", argv=[]).returncode == 2
    assert checker("checkpassword", None).returncode == 111       # fd 3 not open


@pytest.mark.slow
def test_failed_login_pauses():
    start = time.monotonic()
    r = checker("checkpassword", b"no-such-user-xyz\0pw\0", env={"CHECKPASSWORD_FAIL_DELAY": None})
    assert r.returncode == 1 and time.monotonic() - start >= 2      # the default pause


@contextlib.contextmanager
def system_user(base: Path, password: str):
    """A throw-away account with a sha512-crypt password and a Maildir; root only."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("creating a system account needs root and useradd")
    name = "pop3t" + secrets.token_hex(3)
    home = base / name
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", "-p", sha512(password),
                    "-U", name], check=True, capture_output=True)
    try:
        pw = pwd.getpwnam(name)
        home.mkdir()
        subprocess.run([ours("maildirmake"), str(home / "Maildir")], check=True)
        for root, dirs, files in os.walk(home):
            for p in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(p, pw.pw_uid, pw.pw_gid)
        with reachable_by(pw.pw_uid, pw.pw_gid):
            yield pw
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)


def test_checkpassword_system_account(base):
    with system_user(base, "s3cret pw") as pw:
        name = pw.pw_name.encode()
        r = checker("checkpassword", name + b"\0s3cret pw\0<1.2@h>\0")
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().strip() == (
            f"{pw.pw_name}|{pw.pw_dir}|/bin/sh|{pw.pw_dir}|{pw.pw_uid}|{pw.pw_gid}|{pw.pw_gid}"
            "|kept")
        assert checker("checkpassword", name + b"\0s3cret PW\0").returncode == 1
        assert checker("checkpassword", name + b"\0s3cret pw\0", argv=["no-such-prog-x"]
                       ).returncode == 111
        shutil.rmtree(pw.pw_dir)
        assert checker("checkpassword", name + b"\0s3cret pw\0").returncode == 111  # chdir


def test_system_account_through_tcpserver(base, tmp_path):
    with system_user(base, "pw") as pw:
        md = Path(pw.pw_dir) / "Maildir"
        (md / "new" / "1.2.host").write_bytes(b"Subject: x\n\nhi\n")
        os.utime(md / "new" / "1.2.host", (1000000000, 1000000000))
        os.chown(md / "new" / "1.2.host", pw.pw_uid, pw.pw_gid)
        program = [ours("qmail-popup"), "pop.example.org", ours("checkpassword"),
                   ours("qmail-pop3d"), "Maildir"]
        env = dict(os.environ, CHECKPASSWORD_FAIL_DELAY="0")
        with run_tcpserver(["-R", "-H"], program, env=env, log=tmp_path / "log") as server:
            pop = poplib.POP3("127.0.0.1", server.port, timeout=20)
            try:
                pop.user(pw.pw_name)
                assert pop.pass_("pw") == b"+OK "
                assert pop.retr(1)[1] == [b"Subject: x", b"", b"hi", b""]
                pop.quit()
            finally:
                pop.close()
            pop = poplib.POP3("127.0.0.1", server.port, timeout=20)
            try:
                pop.user(pw.pw_name)
                with pytest.raises(poplib.error_proto, match="authorization failed"):
                    pop.pass_("wrong")
            finally:
                pop.close()
        assert os.listdir(md / "cur") == ["1.2.host:2,"]


# -- vchkpw and qmail-newvpw ---------------------------------------------------------------

def newvpw(qmail: Path, text: str):
    (qmail / "users").mkdir(parents=True, exist_ok=True)
    (qmail / "users" / "vpasswd").write_text(text)
    return subprocess.run([ours("qmail-newvpw")], capture_output=True, timeout=30,
                          env=dict(os.environ, QMAILHOME=str(qmail)))


def test_newvpw_replaces_atomically(base):
    qmail = base / "qmail"
    assert newvpw(qmail, "bob:{PLAIN}x:1:2:/h\n").returncode == 0
    before = (qmail / "users" / "vpasswd.cdb").read_bytes()
    r = newvpw(qmail, "bob:{PLAIN}x:1:2:/h\nbad line\n")
    assert (r.returncode, r.stderr) == (111, b"qmail-newvpw: fatal: unable to parse "
                                             b"users/vpasswd: line 2: expected "
                                             b"login:secret:uid:gid:home\n")
    assert (qmail / "users" / "vpasswd.cdb").read_bytes() == before
    os.unlink(qmail / "users" / "vpasswd")
    r = subprocess.run([ours("qmail-newvpw")], capture_output=True,
                       env=dict(os.environ, QMAILHOME=str(qmail)))
    assert (r.returncode, r.stderr) == (111, b"qmail-newvpw: fatal: unable to read "
                                             b"users/vpasswd: file does not exist\n")


def test_vchkpw(base):
    qmail = base / "qmail"
    env = {"QMAILHOME": str(qmail)}
    assert checker("vchkpw", b"bob\0pw\0", env=env).returncode == 111      # no cdb yet
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    else:
        uid, gid = os.getuid(), os.getgid()
    home = base / "bob"
    home.mkdir()
    os.chown(home, uid, gid)
    assert newvpw(qmail, f"bob@example.org:{sha512('pw')}:{uid}:{gid}:{home}\n"
                         f"al:{{PLAIN}}tanstaaf:{uid}:{gid}:{home}\n").returncode == 0
    r = checker("vchkpw", b"bob@example.org\0pw\0<1.2@h>\0", env=env)
    assert r.returncode == 0, r.stderr
    user, h, shell, cwd, ruid, rgid, groups, x = r.stdout.decode().strip().split("|")
    assert (user, h, shell, cwd, int(ruid), int(rgid), x) == (
        "bob@example.org", str(home), "NOLOGIN", str(home), uid, gid, "kept")
    assert checker("vchkpw", b"bob@example.org\0pW\0", env=env).returncode == 1
    assert checker("vchkpw", b"nobody@x\0pw\0", env=env).returncode == 1
    digest = b"c4c9334bac560ecc979e58001b3e22fb"     # RFC 1939's APOP example
    assert checker("vchkpw", b"al\0" + digest + b"\0<1896.697170952@dbc.mtview.ca.us>\0",
                   env=env).returncode == 0
    assert checker("vchkpw", b"al\0" + digest + b"\0<1.2@h>\0", env=env).returncode == 1


# -- qmail-popup and qmail-pop3d over pipes ------------------------------------------------

def popup(args: list[str], data: bytes):
    return subprocess.run([ours("qmail-popup"), *args], input=data, capture_output=True,
                          timeout=30)


def test_popup_usage_and_subprogram_outcomes(tmp_path):
    r = popup(["h"], b"")
    assert (r.returncode, r.stdout) == (1, b"-ERR usage: popup hostname subprogram\r\n")
    seen = tmp_path / "seen"
    r = popup(["pop.example.org", "sh", "-c", f'cat <&3 > {seen}; cat >> {seen}; exit 0'],
              b"USER bob\r\nPASS pw\r\nSTAT\r\nLIST\r\n")
    assert r.returncode == 1 and r.stdout.count(b"\r\n") == 2
    stamp = r.stdout.split(b"\r\n")[0][4:]
    assert stamp.startswith(b"<") and stamp.endswith(b"@pop.example.org>")
    assert seen.read_bytes() == b"bob\0pw\0" + stamp + b"\0STAT\r\nLIST\r\n"   # nothing lost
    for argv, reply in [(["sh", "-c", "exit 2"], b"-ERR authorization failed\r\n"),
                        (["no-such-program-x"], b"-ERR authorization failed\r\n"),
                        ([""], b"-ERR authorization failed\r\n"),
                        (["sh", "-c", "kill -SEGV $$"], b"-ERR aack, child crashed\r\n")]:
        r = popup(["h", *argv], b"USER bob\r\nPASS pw\r\n")
        assert (r.returncode, r.stdout.split(b"\r\n", 2)[2]) == (1, reply)


def test_popup_needs_fd_3_for_the_pipe():
    # §4.4 item 1: with fd 2 closed, pipe() returns fds 2 and 3, and the C gives up
    r = subprocess.run(["/bin/bash", "-c", 'exec "$0" "$@" 2>&-', ours("qmail-popup"), "h",
                        "true"], input=b"USER a\r\nPASS b\r\n", capture_output=True,
                       timeout=30)
    assert r.returncode == 1
    assert r.stdout.split(b"\r\n")[1:] == [b"+OK ", b"-ERR unable to open pipe", b""]


def test_popup_child_gets_default_sigpipe(tmp_path):
    # `yes | head` dies of SIGPIPE only when SIGPIPE is not ignored
    r = popup(["h", "sh", "-c", "yes | head -c 1 >/dev/null; exit 0"], b"USER a\r\nPASS b\r\n")
    assert r.returncode == 1 and r.stdout.endswith(b"+OK \r\n")


def pop3d(tmp_path, data: bytes, args=("Maildir",), user=None):
    return subprocess.run([ours("qmail-pop3d"), *args], input=data, capture_output=True,
                          timeout=30, cwd=tmp_path, user=user, group=user)


def test_pop3d_as_root_refuses(tmp_path):
    if os.getuid() != 0:
        pytest.skip("needs root")
    r = pop3d(tmp_path, b"STAT\r\n")
    assert (r.returncode, r.stdout, r.stderr) == (
        1, b"", b"qmail-pop3d invoked as uid 0, terminating\n")


def test_pop3d_over_pipes(base):
    user = pwd.getpwnam("nobody").pw_uid if os.getuid() == 0 else None
    with reachable_by(*(os.getuid(), os.getgid()) if user is None else (user, user)):
        pop3d_over_pipes(base, user)


def pop3d_over_pipes(base, user):
    subprocess.run([ours("maildirmake"), str(base / "Maildir")], check=True)
    (base / "Maildir" / "new" / "1.1.h").write_bytes(b"a\n")
    (base / "Maildir" / "new" / "2.2.h").write_bytes(b"b\n")
    for t, name in enumerate(("1.1.h", "2.2.h")):      # 1.1.h is the older: message 1
        os.utime(base / "Maildir" / "new" / name, (1000000000 + t, 1000000000 + t))
    if user is not None:
        for root, dirs, files in os.walk(base):
            for p in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(p, user, user)
    r = pop3d(base, b"", args=(), user=user)
    assert (r.returncode, r.stdout) == (0, b"-ERR this user has no $HOME/Maildir\r\n")
    r = pop3d(base, b"DELE 1\r\n", user=user)                     # EOF: nothing committed
    assert (r.returncode, r.stdout) == (0, b"+OK \r\n+OK \r\n")
    assert sorted(os.listdir(base / "Maildir" / "new")) == ["1.1.h", "2.2.h"]
    r = pop3d(base, b"DELE 1\r\nQUIT\r\nNOOP\r\n", user=user)
    assert (r.returncode, r.stdout) == (0, b"+OK \r\n+OK \r\n+OK \r\n")
    assert os.listdir(base / "Maildir" / "new") == []
    assert os.listdir(base / "Maildir" / "cur") == ["2.2.h:2,"]
    os.mkdir(base / "Maildir" / "new" / "adir")        # listed, opened, unreadable (§6.1, §6.3)
    os.utime(base / "Maildir" / "new" / "adir", (1000000000, 1000000000))
    size = os.stat(base / "Maildir" / "new" / "adir").st_size
    r = pop3d(base, b"LIST\r\nRETR 1\r\nNOOP\r\n", user=user)
    assert (r.returncode, r.stdout) == (0, b"+OK \r\n+OK \r\n1 %d\r\n2 2\r\n.\r\n+OK \r\n" % size)
    r = pop3d(base, b"DELE 1\r\nQUIT\r\n", user=user)              # rmdir is not unlink
    assert (r.returncode, r.stdout) == (
        0, b"+OK \r\n+OK \r\n-ERR unable to unlink all deleted messages\r\n+OK \r\n")
    os.rmdir(base / "Maildir" / "new" / "adir")
    os.rmdir(base / "Maildir" / "new")
    r = pop3d(base, b"STAT\r\n", user=user)
    assert (r.returncode, r.stdout) == (0, b"-ERR unable to scan $HOME/Maildir\r\n")


# -- timeouts (1200 s in the C; shortened through the module constant) ---------------------

SHORT_TIMEOUT = ("import sys, qmail.{0} as m; m.TIMEOUT = 1; sys.exit(m.main({1!r}))")


@pytest.mark.slow
def test_popup_times_out_silently():
    proc = subprocess.Popen([sys.executable, "-c", SHORT_TIMEOUT.format(
        "popup", ["qmail-popup", "h", "true"])], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(b"USER bob\r\n")      # then silence, the pipe left open
        proc.stdin.flush()
        start = time.monotonic()
        assert proc.wait(20) == 1 and time.monotonic() - start >= 0.9
        assert proc.stdout.read().split(b"\r\n")[1:] == [b"+OK ", b""]
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


@pytest.mark.slow
def test_pop3d_times_out_without_commit(base):
    user = pwd.getpwnam("nobody").pw_uid if os.getuid() == 0 else None
    subprocess.run([ours("maildirmake"), str(base / "Maildir")], check=True)
    (base / "Maildir" / "new" / "1.1.h").write_bytes(b"a\n")
    os.utime(base / "Maildir" / "new" / "1.1.h", (1000000000, 1000000000))
    if user is not None:
        for root, dirs, files in os.walk(base):
            for p in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(p, user, user)
    with reachable_by(*(os.getuid(), os.getgid()) if user is None else (user, user)):
        proc = subprocess.Popen([sys.executable, "-c", SHORT_TIMEOUT.format(
            "pop3d", ["qmail-pop3d", "Maildir"])], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, cwd=base, user=user, group=user)
        try:
            proc.stdin.write(b"DELE 1\r\n")
            proc.stdin.flush()
            assert proc.wait(20) == 0
            assert proc.stdout.read() == b"+OK \r\n+OK \r\n"
        finally:
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
    assert os.listdir(base / "Maildir" / "new") == ["1.1.h"]


# -- running PROG: djb's pathexec_run() search, our qmail-pop3d in-process ----------------

def vchkpw_user(base: Path) -> tuple[dict, int, int, Path]:
    qmail = base / "qmail"
    uid, gid = (os.getuid(), os.getgid()) if os.geteuid() else (
        pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    home = base / "bob"
    home.mkdir()
    os.chown(home, uid, gid)
    assert newvpw(qmail, f"bob:{{PLAIN}}pw:{uid}:{gid}:{home}\n").returncode == 0
    return {"QMAILHOME": str(qmail)}, uid, gid, home


def test_prog_is_found_as_pathexec_finds_it(base):
    env, uid, gid, home = vchkpw_user(base)
    dirs = {}
    for name, text, mode in [("noexec", "#!/bin/sh\necho noexec\n", 0o644),
                             ("good", "#!/bin/sh\necho good \"$0\" \"$@\"\n", 0o755),
                             ("bad", "echo no interpreter line\n\0\0", 0o755)]:
        d = base / name
        d.mkdir()
        (d / "prog").write_text(text)
        (d / "prog").chmod(mode)
        dirs[name] = str(d)
    (base / "plain").write_text("")
    (home / "prog").write_text("#!/bin/sh\necho in home\n")
    (home / "prog").chmod(0o755)

    def run(path):
        r = checker("vchkpw", b"bob\0pw\0<1.2@h>\0", argv=["prog", "a b"],
                    env={**env, "PATH": path})
        return r.returncode, r.stdout

    assert run(f"{base}/none:{dirs['noexec']}:{dirs['good']}") == (
        0, f"good {dirs['good']}/prog a b\n".encode())             # ENOENT, EACCES: go on
    assert run(f"{base / 'plain'}:{dirs['good']}") == (111, b"")    # ENOTDIR: stop
    assert run(f"{dirs['bad']}:{dirs['good']}") == (111, b"")       # ENOEXEC: stop, no sh
    assert run(f"/nonexistent::{dirs['good']}") == (0, b"in home\n")  # "" is "." (home)
    r = checker("vchkpw", b"bob\0pw\0", argv=[str(home / "prog")], env={**env, "PATH": "/x"})
    assert (r.returncode, r.stdout) == (0, b"in home\n")            # a "/": no search
    r = checker("vchkpw", b"bob\0pw\0", argv=[""], env={**env, "PATH": dirs["good"]})
    assert (r.returncode, r.stdout, r.stderr) == (111, b"", b"")      # "DIR/" is no program


def test_our_pop3d_runs_as_if_exec_d(base):
    # in-process or not, the client sees the same bytes and exit codes
    env, uid, gid, home = vchkpw_user(base)
    subprocess.run([ours("maildirmake"), str(home / "Maildir")], check=True)
    (home / "Maildir" / "new" / "1.1.h").write_bytes(b"a\n")
    os.utime(home / "Maildir" / "new" / "1.1.h", (1000000000, 1000000000))
    for root, dirs, files in os.walk(home):
        for p in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(p, uid, gid)
    bindir = os.path.dirname(ours("qmail-pop3d"))
    (base / "in").write_bytes(b"STAT\r\nRETR 1\r\n")

    def login(argv, path, login=b"bob"):
        return subprocess.run(["/bin/bash", "-c", 'exec "$0" "$@" 3<&0 <"$IN"',
                               ours("vchkpw"), *argv], capture_output=True, timeout=30,
                              input=login + b"\0pw\0<1.2@h>\0",
                              env={**os.environ, **env, "PATH": path, "IN": str(base / "in"),
                                   "CHECKPASSWORD_FAIL_DELAY": "0"})

    with reachable_by(uid, gid):
        for argv, path in [(["qmail-pop3d", "Maildir"], f"/nonexistent:{bindir}"),
                           ([ours("qmail-pop3d"), "Maildir"], "/x")]:
            r = login(argv, path)
            assert (r.returncode, r.stdout) == (
                0, b"+OK \r\n+OK 1 2\r\n+OK \r\na\r\n\r\n.\r\n"), r.stderr
        for argv in (["qmail-pop3d"], ["qmail-pop3d", "NoSuchDir"]):
            r = login(argv, bindir)
            assert (r.returncode, r.stdout) == (
                0, b"-ERR this user has no $HOME/Maildir\r\n"), r.stderr
    assert os.listdir(home / "Maildir" / "new") == ["1.1.h"]        # no QUIT: no commit
    if os.geteuid() == 0:                       # a mailbox owned by root: refused (§6.1)
        (base / "qmail" / "users" / "vpasswd").write_text(f"root:{{PLAIN}}pw:0:0:{home}\n")
        subprocess.run([ours("qmail-newvpw")], check=True, env={**os.environ, **env})
        r = login(["qmail-pop3d", "Maildir"], bindir, b"root")
        assert (r.returncode, r.stdout, r.stderr) == (
            1, b"", b"qmail-pop3d invoked as uid 0, terminating\n")


def test_prog_gets_default_sigpipe_and_sigxfsz(base):
    # Python ignores both; execve would pass that on. 13 SIGPIPE, 25 SIGXFSZ: bits 12, 24
    env, uid, gid, home = vchkpw_user(base)
    r = checker("vchkpw", b"bob\0pw\0", argv=["/bin/sh", "-c", "grep SigIgn /proc/$$/status"],
                env=env)
    assert r.returncode == 0, r.stderr
    ignored = int(r.stdout.split()[1], 16)
    assert not ignored & (1 << 12 | 1 << 24)


def test_sigalrm_ends_popup_and_pop3d_as_die(base):
    # both C programs catch SIGALRM with die(): qmail-popup exits 1, qmail-pop3d 0 (nothing
    # committed), silently
    proc = subprocess.Popen([ours("qmail-popup"), "h", "true"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().startswith(b"+OK <")
        proc.send_signal(14)
        assert proc.wait(20) == 1 and proc.stdout.read() == b""
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    user = pwd.getpwnam("nobody").pw_uid if os.getuid() == 0 else None
    subprocess.run([ours("maildirmake"), str(base / "Maildir")], check=True)
    (base / "Maildir" / "new" / "1.1.h").write_bytes(b"a\n")
    os.utime(base / "Maildir" / "new" / "1.1.h", (1000000000, 1000000000))
    if user is not None:
        for root, dirs, files in os.walk(base):
            for p in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(p, user, user)
    with reachable_by(*(os.getuid(), os.getgid()) if user is None else (user, user)):
        proc = subprocess.Popen([ours("qmail-pop3d"), "Maildir"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, cwd=base, user=user, group=user)
        try:
            proc.stdin.write(b"DELE 1\r\n")
            proc.stdin.flush()
            assert proc.stdout.read(12) == b"+OK \r\n+OK \r\n"
            proc.send_signal(14)
            assert proc.wait(20) == 0 and proc.stdout.read() == b""
        finally:
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
    assert os.listdir(base / "Maildir" / "new") == ["1.1.h"]


def test_greeting_is_pid_dot_time_at_hostname():
    before = int(time.time())
    proc = subprocess.Popen([ours("qmail-popup"), "pop.example.org", "true"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(b"QUIT\r\n", timeout=30)
    finally:
        proc.kill()
        proc.wait()
    after = int(time.time())
    greeting, rest = out.split(b"\r\n", 1)
    stamp = greeting.removeprefix(b"+OK <").removesuffix(b"@pop.example.org>")
    pid, _, when = stamp.partition(b".")
    assert greeting == b"+OK <%s.%s@pop.example.org>" % (pid, when)
    assert int(pid) == proc.pid and before <= int(when) <= after and pid.isdigit()
    assert (rest, proc.returncode) == (b"+OK \r\n", 1)
