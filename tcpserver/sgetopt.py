"""djb's getopt (sgetopt/subgetopt in ucspi-tcp) for tcpserver, tcpclient and rblsmtpd. Pure,
and imports nothing: rblsmtpd starts once per connection."""


def progname(argv0: bytes | None) -> bytes:
    """The name getopt prints: argv[0] after its last slash."""
    return (argv0 or b"").rpartition(b"/")[2]


def getopt(argv, optstring: bytes):
    """djb's getopt over argv[1:]: yields (opt, arg); the last item is (None, index of the rest).

    An unknown option or a missing argument yields (b"?", message) with getopt's message.
    """
    with_argument = {c for i, c in enumerate(optstring) if optstring[i + 1:i + 2] == b":"}
    known = set(optstring) - {ord(":")}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg[:1] != b"-" or arg == b"-":
            break
        if arg[:2] == b"--":      # djb's getopt: any argument starting `--` ends the options
            i += 1
            break
        pos = 1
        while pos < len(arg):
            c = arg[pos]
            pos += 1
            if c not in known:
                yield b"?", b"%s: illegal option -- %c\n" % (progname(argv[0]), c)
                return
            if c in with_argument:
                if pos < len(arg):
                    value = arg[pos:]
                elif i + 1 < len(argv):
                    i += 1
                    value = argv[i]
                else:
                    yield b"?", b"%s: option requires an argument -- %c\n" % (progname(argv[0]), c)
                    return
                yield bytes([c]), value
                break
            yield bytes([c]), None
        i += 1
    yield None, i
