"""sendmail [-t] [-f sender] [-F name] [-bp] [-bs] [arg ...]: the sendmail interface to qmail
(spec/qmail.md §8.2). Runs $QMAILHOME/bin/qmail-inject -a (-H with -t) [-f sender] -- args;
-bp, or being called mailq, runs qmail-qread; -bs runs qmail-smtpd on fds 0/1 (with a
sendmail-bs environment unless PROTO is set). -f also sets QMAILUSER/QMAILHOST and clears the
name and host variables; -F sets MAILNAME. Ignored: -v -i -x -m -e* -o* -B* -p* -E -J -bm.
A program missing from $QMAILHOME/bin is taken from this installation. Exit: the program's,
100 for usage errors, 111 when a program cannot be run.
"""
import os
import sys

from qmail.sgetopt import getopt

USAGE = b"sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]\n"
SMTPD_ENV = ((b"RELAYCLIENT", b""), (b"DATABYTES", b"0"), (b"PROTO", b"TCP"),
             (b"TCPLOCALIP", b"127.0.0.1"), (b"TCPLOCALHOST", b"localhost"),
             (b"TCPREMOTEIP", b"127.0.0.1"), (b"TCPREMOTEHOST", b"localhost"),
             (b"TCPREMOTEINFO", b"sendmail-bs"))


class Exit(Exception):
    def __init__(self, code: int, text: bytes = b"") -> None:
        super().__init__(text)
        self.code, self.text = code, text


def program(name: str) -> str:
    """bin/NAME in the qmail home, else our own console script."""
    installed = os.path.join("bin", name)
    if os.path.exists(installed):
        return installed
    return os.path.join(os.path.dirname(sys.executable), name)


def run(name: str, args: list[bytes]) -> None:
    path = program(name)
    try:
        os.execv(path, [path.encode(), *args])
    except OSError:
        raise Exit(111, b"sendmail: fatal: unable to run %s\n" % name.encode()) from None


def sender_environment(env, sender: bytes) -> None:
    """do_sender(): QMAILUSER and QMAILHOST from the -f address; name and host variables cleared."""
    for name in (b"QMAILNAME", b"MAILNAME", b"NAME", b"QMAILHOST", b"MAILHOST"):
        env.pop(name, None)
    at = sender.rfind(b"@")
    if at == -1:
        env[b"QMAILUSER"] = sender
        return
    env[b"QMAILHOST"] = sender[at + 1:]
    env[b"QMAILUSER"] = sender[:at]


def inject_argv(headers: bool, sender: bytes | None, args: list[bytes]) -> list[bytes]:
    argv = [b"-H" if headers else b"-a"]
    if sender is not None:
        argv += [b"-f", sender]
    return argv + [b"--", *args]


def sendmail(prog: str, argv: list[str]) -> None:
    from qmail.control import qmail_home

    try:
        os.chdir(qmail_home())
    except OSError:
        raise Exit(111, b"sendmail: fatal: unable to switch to qmail home directory\n") from None
    options, args, errors = getopt(prog, argv, "vimte:f:p:o:B:F:EJxb:", attached="EJ")
    headers = False
    sender = None
    for letter, value in options:
        if letter == "?":
            raise Exit(100, b"".join(e.encode() + b"\n" for e in errors) + USAGE)
        if letter == "t":
            headers = True
        elif letter == "f":
            sender = os.fsencode(value)
        elif letter == "F":
            os.environb[b"MAILNAME"] = os.fsencode(value)
        elif letter == "b":
            mode = value[:1]
            if mode == "p":
                run("qmail-qread", [])
            elif mode == "s":
                if os.environb.get(b"PROTO") is None:
                    os.environb.update(SMTPD_ENV)
                run("qmail-smtpd", [])
            elif mode != "m":
                raise Exit(100, USAGE)
    if prog == "mailq":
        run("qmail-qread", [])
    if prog == "newaliases":
        raise Exit(100, b"sendmail: fatal: please use fastforward/newaliases instead\n")
    if sender is not None:
        sender_environment(os.environb, sender)
    run("qmail-inject", inject_argv(headers, sender, [os.fsencode(a) for a in args]))


def main(argv: list[str] | None = None) -> int:
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "sendmail"
    try:
        sendmail(prog, sys.argv[1:] if argv is None else argv)
    except Exit as e:
        try:
            os.write(2, e.text)
        except OSError:
            pass
        return e.code
    return 0
