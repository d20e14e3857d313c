"""qmail-local [-nN] user homedir local dash ext domain sender defaultdelivery

Delivers the message on fd 0 (seekable) as homedir's .qmail file for local@domain says
(spec/qmail.md §10.2, §10.3, §11). Started by qmail-lspawn with fds 1 and 2 on one pipe.
Success: `did F+W+P` LF (and `qp N` LF after forwarding) on fd 1, exit 0. Failure: the reason
on fd 2, exit 100 (permanent) or 111 (temporary); a |program's own output is its reason.
-n prints the instructions (`maildir ...`, `mbox ...`, `program ...`, `forward ...`) instead.
Environment: passed on to |programs with SENDER, NEWSENDER, RECIPIENT, USER, HOME, HOST,
HOST2-4, LOCAL, EXT, EXT2-4, DEFAULT, DTLINE, RPLINE, UFLINE set.
"""
import os
import stat
import sys
import time

from qmail import delivery, dotqmail
from qmail.delivery import EXIT_PERM, EXIT_TEMP, Failure, err_text, error_temp
from qmail.sgetopt import getopt


def write_all(fd: int, data: bytes) -> None:
    """All of data to fd; errors ignored (qmail-lspawn's pipe may be gone)."""
    try:
        delivery.write_all(fd, data)
    except OSError:
        pass


USAGE = (b"qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender "
         b"aliasempty")


def find_dotqmail(dash: bytes, ext: bytes) -> tuple[bytes | None, bool, bytes | None]:
    """(contents or None, owner-execute bit, DEFAULT) of the first existing candidate (§10.2)."""
    for name, default in dotqmail.candidates(dash, ext):
        try:
            fd = os.open(name, os.O_RDONLY)
        except OSError as e:
            if error_temp(e) or isinstance(e, PermissionError):
                raise Failure(EXIT_TEMP, b"Unable to open %s: %s. (#4.3.0)" % (name, err_text(e)))
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            if st.st_mode & dotqmail.PATERNALISM:
                raise Failure(EXIT_TEMP, dotqmail.DOTQMAIL_WRITABLE)
            chunks = []
            while data := os.read(fd, 65536):
                chunks.append(data)
            return b"".join(chunks), bool(st.st_mode & 0o100), default
        except OSError as e:
            raise Failure(EXIT_TEMP, b"Unable to open %s: %s. (#4.3.0)" % (name, err_text(e))) \
                from None
        finally:
            os.close(fd)
    return None, False, None


def owner_file_exists(name: bytes) -> bool:
    try:
        os.stat(name)
        return True
    except OSError as e:
        if error_temp(e):
            raise Failure(EXIT_TEMP, b"Unable to open %s: %s. (#4.3.0)" % (name, err_text(e))) \
                from None
        return False


def check_home(doit: bool) -> None:
    try:
        st = os.stat(".")
    except OSError as e:
        raise Failure(EXIT_TEMP, b"Unable to stat home directory: %s. (#4.3.0)" % err_text(e)) \
            from None
    if st.st_mode & dotqmail.PATERNALISM:
        raise Failure(EXIT_TEMP, dotqmail.HOME_WRITABLE)
    if st.st_mode & 0o1000:
        if doit:
            raise Failure(EXIT_TEMP, dotqmail.HOME_STICKY)
        write_all(2, dotqmail.HOME_STICKY_WARNING + b"\n")


def check_loop(dtline: bytes, fd: int = 0) -> None:
    """Permanent failure if the header already has this Delivered-To line (§10.3)."""
    delivery.rewind(fd)
    rest = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError as e:
            raise Failure(EXIT_TEMP, b"Unable to read message: %s. (#4.3.0)" % err_text(e)) \
                from None
        if not data:
            return                       # a final line without LF ends the header too
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if not line:
                return
            if line + b"\n" == dtline:
                raise Failure(EXIT_PERM, dotqmail.LOOPING)


def forward(recipients: list[bytes], sender: bytes, dtline: bytes, fd: int = 0) -> int:
    """One new message to all forward addresses, Delivered-To on top; returns its qp."""
    delivery.rewind(fd)
    try:
        queue = delivery.Queue()
    except OSError as e:
        raise Failure(EXIT_TEMP, b"Unable to fork: %s. (#4.3.0)" % err_text(e)) from None
    queue.put(dtline)
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            queue.fail()
            break
        if not data:
            break
        queue.put(data)
    result = queue.close(sender, recipients)
    if result:
        raise Failure(EXIT_PERM if result[:1] == b"D" else EXIT_TEMP,
                      b"Unable to forward message: " + result[1:] + b".")
    return queue.qp


def deliver(argv: list[bytes], doit: bool) -> bytes:
    user, homedir, local, dash, ext, host, sender, aliasempty = argv
    try:
        os.chdir(homedir)
    except OSError as e:
        raise Failure(EXIT_TEMP, b"Unable to switch to %s: %s. (#4.3.0)" % (homedir, err_text(e))) \
            from None
    check_home(doit)

    env = dict(os.environb)
    recipient = local + b"@" + host
    dtline = dotqmail.delivered_to_line(local, host)
    env.update({b"HOST": host, b"HOME": homedir, b"USER": user, b"LOCAL": local,
                b"RECIPIENT": recipient, b"DTLINE": dtline})
    if doit:
        check_loop(dtline)
    rpline = dotqmail.return_path_line(sender)
    ufline = dotqmail.from_line(sender, time.time())
    env.update({b"SENDER": sender, b"RPLINE": rpline, b"UFLINE": ufline})
    env.update(zip((b"EXT", b"EXT2", b"EXT3", b"EXT4"), dotqmail.ext_parts(ext)))
    env.update(zip((b"HOST2", b"HOST3", b"HOST4"), dotqmail.host_parts(host)))

    cmds, forward_only, default = find_dotqmail(dash, ext)
    if default is not None:
        env[b"DEFAULT"] = default
    if cmds is None and dash:
        raise Failure(EXIT_PERM, dotqmail.NO_MAILBOX)

    owner = default_owner = False
    if sender not in (b"", b"#@[]"):
        base = b".qmail" + dash + dotqmail.safe_ext(ext)
        owner = owner_file_exists(base + b"-owner")
        default_owner = owner and owner_file_exists(base + b"-owner-default")
    newsender = dotqmail.new_sender(sender, local, host, owner, default_owner)
    env[b"NEWSENDER"] = newsender

    if not cmds:
        cmds, forward_only = aliasempty, False

    counts = {dotqmail.MAILDIR: 0, dotqmail.MBOX: 0, dotqmail.FORWARD: 0, dotqmail.PROGRAM: 0}
    recipients: list[bytes] = []
    for kind, value in dotqmail.parse(cmds, forward_only):
        if kind == dotqmail.ERROR:
            raise Failure(EXIT_TEMP, value)
        if kind not in counts:
            continue
        counts[kind] += 1
        if not doit:
            write_all(1, b"%s %s\n" % (kind, value))
            continue
        if kind == dotqmail.MAILDIR:
            delivery.maildir(value, rpline, dtline)
        elif kind == dotqmail.MBOX:
            delivery.mbox(value, ufline, rpline, dtline)
        elif kind == dotqmail.FORWARD:
            recipients.append(value)
        else:
            verdict, stop = dotqmail.program_exit(delivery.program(value, env))
            if verdict != "ok":
                raise Failure(EXIT_PERM if verdict == "perm" else EXIT_TEMP, b"")
            if stop:
                break
    qp = None
    if recipients:
        qp = forward(recipients, newsender, dtline)
    files = counts[dotqmail.MAILDIR] + counts[dotqmail.MBOX]
    return dotqmail.did_line(files, counts[dotqmail.FORWARD], counts[dotqmail.PROGRAM], qp)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    os.umask(0o077)
    delivery.signal.signal(delivery.signal.SIGPIPE, delivery.signal.SIG_IGN)   # sig_pipeignore()
    options, rest_args, errors = getopt("qmail-local", args, "nN")
    for line in errors:
        write_all(2, line.encode() + b"\n")
    doit = True
    for letter, _ in options:
        if letter == "?":
            write_all(2, USAGE + b"\n")
            return EXIT_PERM
        doit = letter == "N"
    rest = [os.fsencode(a) for a in rest_args]
    if len(rest) != 8 or not rest[1].startswith(b"/"):
        write_all(2, USAGE + b"\n")
        return EXIT_PERM
    try:
        report = deliver(rest, doit)
    except Failure as e:
        if e.text:
            write_all(2, e.text + b"\n")
        return e.code
    except Exception as e:                        # noqa: BLE001  (a bug: retry, never bounce)
        write_all(2, b"Internal error in qmail-local (%s). (#4.3.0)\n" % type(e).__name__.encode())
        return EXIT_TEMP
    write_all(1, report)
    return 0
