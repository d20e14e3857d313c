"""recordio program [ arg ... ]: run program, logging everything it reads and writes on fd 2.

spec/ucspi-tcp.md §5.3. program keeps recordio's process and PID (exec); a forked copy of
recordio sits between the outside fds 0/1 and two pipes to program's fds 0/1 and logs every
read, each line as `PID < DATA ` (input) or `PID > DATA ` (output): a piece that ended in
`\\n` gets a trailing space, a piece without one gets `+`; a read is at most 256 bytes; end of
stream logs `PID < [EOF]` / `PID > [EOF]`. Bytes are logged as they are.
Exit: program's status (exec); 100 usage; 111 pipe, fork or exec failure.

relay() is the copy loop recordio and fixcrio share (djb's doit with iopause).
"""
import os
import sys

FATAL = b"recordio: fatal: "
USAGE = b"recordio: usage: recordio program [ arg ... ]\n"
READ_SIZE = 256


def record(pid: bytes, direction: bytes, data: bytes) -> bytes:
    """The log lines for one read of 1..256 bytes (djb's record())."""
    out = []
    while data:
        line, newline, data = data.partition(b"\n")
        out.append(pid + direction + line + (b" \n" if newline else b"+\n"))
    return b"".join(out)


def relay(fdleft: int, fdright: int, left=None, right=None, size: int = READ_SIZE) -> None:
    """Copy fd 0 -> fdleft and fdright -> fd 1 until fdright ends or a write fails.

    left(data) / right(data) see each read (b"" at end of stream) and return the bytes to
    pass on. End of fd 0 closes fdleft; end of fdright ends the loop.
    """
    import select
    left_out = right_out = b""
    left_open = True
    while True:
        p = select.poll()
        if left_open and not left_out:
            p.register(0, select.POLLIN)
        elif left_out:
            p.register(fdleft, select.POLLOUT)
        if not right_out:
            p.register(fdright, select.POLLIN)
        else:
            p.register(1, select.POLLOUT)
        ready = dict(p.poll())
        if left_open and not left_out and ready.get(0):
            try:
                data = os.read(0, size)
            except OSError:
                data = b""
            if not data:
                left_open = False
                os.close(fdleft)
                if left:
                    left(b"")
            else:
                left_out = left(data) if left else data
        elif left_out and ready.get(fdleft):
            try:
                left_out = left_out[os.write(fdleft, left_out):]
            except OSError:
                return
        if not right_out and ready.get(fdright):
            try:
                data = os.read(fdright, size)
            except OSError:
                data = b""
            if right:
                data = right(data)
            if not data:
                return
            right_out = data
        elif right_out and ready.get(1):
            try:
                right_out = right_out[os.write(1, right_out):]
            except OSError:
                return


def _write2(data: bytes) -> None:
    # not tcpserver.die.write2: importing die (and rules.errors) costs ~1.3 ms per start
    try:
        while data:
            data = data[os.write(2, data):]
    except OSError:
        pass


def run_between(name: bytes, argv: list[bytes], left, right) -> int:
    """fork: the child relays (calling left/right), the parent execs argv on the pipes."""
    fatal = name + b": fatal: "
    try:
        piin = os.pipe()
        piout = os.pipe()
    except OSError as e:
        from rules.errors import djb_error
        _write2(fatal + b"unable to create pipe: %s\n" % djb_error(e).encode())
        return 111
    try:
        child = os.fork()
    except OSError as e:
        from rules.errors import djb_error
        _write2(fatal + b"unable to fork: %s\n" % djb_error(e).encode())
        return 111
    if child == 0:
        status = 0
        try:
            os.close(piin[0])
            os.close(piout[1])
            relay(piin[1], piout[0], left, right)
        except BaseException:
            status = 111
        os._exit(status)
    os.close(piin[1])
    os.close(piout[0])
    os.dup2(piin[0], 0)
    os.close(piin[0])
    os.dup2(piout[1], 1)
    os.close(piout[1])
    from rules.errors import djb_error
    from tcpserver.argv0 import run_program
    err = run_program(argv)
    _write2(fatal + b"unable to run %s: %s\n" % (argv[0], djb_error(err).encode()))
    return 111


def main(argv=None) -> int:
    if argv is None:
        argv = [os.fsencode(a) for a in sys.argv]
    if len(argv) < 2:
        _write2(USAGE)
        return 100
    pid = b"%d" % os.getpid()

    def left(data: bytes) -> bytes:
        _write2(record(pid, b" < ", data) if data else pid + b" < [EOF]\n")
        return data

    def right(data: bytes) -> bytes:
        _write2(record(pid, b" > ", data) if data else pid + b" > [EOF]\n")
        return data

    return run_between(b"recordio", list(argv[1:]), left, right)


if __name__ == "__main__":
    sys.exit(main())
