"""argv0 realname program [ arg ... ]: run realname with argv[0] set to program.

spec/ucspi-tcp.md §5.4. realname is found through PATH (djb's pathexec_run). Exit: the
program's status (exec); 100 usage; 111 when realname cannot be run.
"""
import os
import sys

USAGE = b"argv0: usage: argv0 realname program [ arg ... ]\n"


def main(argv=None) -> int:
    if argv is None:
        argv = [os.fsencode(a) for a in sys.argv]
    if len(argv) < 3:
        os.write(2, USAGE)
        return 100
    from tcpserver import environ as environment
    from tcpserver import spawn
    from tcpserver.die import djb_error
    spawn.default_signals()
    path = os.environb.get(b"PATH")
    realname = argv[1]
    if b"/" not in realname:
        # pathexec_run searches for realname but runs it with argv = argv[2:]
        err = _search_exec(realname, list(argv[2:]), environment.inherited(), path)
    else:
        err = spawn._execve(realname, list(argv[2:]), environment.inherited())
    os.write(2, b"argv0: fatal: unable to run %s: %s\n" % (realname, djb_error(err).encode()))
    return 111


def _search_exec(file: bytes, args: list[bytes], envp: list[bytes], path: bytes | None):
    import errno
    from tcpserver import spawn
    if path is None:
        path = b"/bin:/usr/bin"
    saved = err = None
    for entry in path.split(b":"):
        err = spawn._execve((entry or b".") + b"/" + file, args, envp)
        if err.errno != errno.ENOENT:
            saved = err
            if err.errno not in (errno.EACCES, errno.EPERM, errno.EISDIR):
                return err
    return saved or err


if __name__ == "__main__":
    sys.exit(main())
