"""maildirmake NAME: create a Maildir (spec/qmail.md §11).

argv: one directory name. Creates NAME, NAME/tmp, NAME/new, NAME/cur with mode 700 (umask
077). Exit: 0; 100 without an argument; 111 when a mkdir or chdir fails (the C's messages).
"""
import os
import sys

from qmail.die import EXIT_PERM, Fatal, djb_error, run, write_all


def make(name: str) -> None:
    def fail(what: str, err: OSError) -> Fatal:
        return Fatal(f"{what}: {djb_error(err)}")

    os.umask(0o077)
    try:
        os.mkdir(name, 0o700)
    except OSError as e:
        raise fail(f"unable to mkdir {name}", e) from None
    try:
        os.chdir(name)
    except OSError as e:
        raise fail(f"unable to chdir to {name}", e) from None
    for sub in ("tmp", "new", "cur"):
        try:
            os.mkdir(sub, 0o700)
        except OSError as e:
            raise fail(f"unable to mkdir {name}/{sub}", e) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) < 2:
        write_all(2, b"maildirmake: usage: maildirmake name\n")
        return EXIT_PERM

    def go() -> int:
        cwd = os.open(".", os.O_RDONLY)     # main() may be called in-process: put back
        umask = os.umask(0o077)             # the cwd and the umask afterwards
        try:
            make(argv[1])
        finally:
            os.umask(umask)
            os.fchdir(cwd)
            os.close(cwd)
        return 0

    return run("maildirmake", go)
