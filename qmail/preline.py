"""preline [-frdFRD] cmd [arg ...]: run CMD with $UFLINE, $RPLINE and $DTLINE (set by
qmail-local) in front of the message on its fd 0. -f/-r/-d leave out the From_ line,
Return-Path or Delivered-To (-F/-R/-D put them back). Exit: CMD's exit code; 100 usage
(also when a variable is missing); 111 system trouble or CMD crashed."""
import os
import sys

from qmail.delivery import EXIT_PERM, EXIT_TEMP, _signal, die, err_text, error_temp, write_all
from qmail.sgetopt import getopt

FATAL = b"preline: fatal: "
USAGE = b"preline: usage: preline cmd [ arg ... ]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    lines = {}
    for letter, name in (("f", b"UFLINE"), ("r", b"RPLINE"), ("d", b"DTLINE")):
        value = os.environb.get(name)
        if value is None:
            return die(b"", USAGE, EXIT_PERM)
        lines[letter] = value
    wanted = {"f": True, "r": True, "d": True}
    options, rest, errors = getopt("preline", args, "frdFRD")
    for line in errors:
        write_all(2, line.encode() + b"\n")
    for letter, _ in options:
        if letter == "?":
            return die(b"", USAGE, EXIT_PERM)
        wanted[letter.lower()] = letter.isupper()
    if not rest:
        return die(b"", USAGE, EXIT_PERM)
    command = [os.fsencode(a) for a in rest]
    try:
        read_end, write_end = os.pipe()
    except OSError as e:
        return die(FATAL, b"unable to create pipe: " + err_text(e), EXIT_TEMP)
    try:
        pid = os.posix_spawnp(command[0], command, os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0)],
                              setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ))
    except OSError as e:
        return die(FATAL, b"unable to run %s: %s" % (command[0], err_text(e)),
                   EXIT_TEMP if error_temp(e) else EXIT_PERM)
    except ValueError:                  # execvp(""): ENOENT
        os.close(read_end)
        os.close(write_end)
        return die(FATAL, b"unable to run : file does not exist", EXIT_PERM)
    os.close(read_end)
    try:
        head = b"".join(lines[k] for k in "frd" if wanted[k])
        write_all(write_end, head)
        while data := os.read(0, 65536):
            write_all(write_end, data)
    except OSError as e:
        return die(FATAL, b"unable to copy input: " + err_text(e), EXIT_TEMP)
    finally:
        os.close(write_end)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return die(FATAL, b"child crashed", EXIT_TEMP)
    return os.WEXITSTATUS(status)
