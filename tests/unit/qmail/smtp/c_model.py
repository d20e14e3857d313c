"""Transliterations of qmail-smtpd.c used as test oracles (no fast paths): shared by
test_received.py and test_reference.py."""


def addrparse(arg: bytes) -> bytes:
    """qmail-smtpd's addrparse() loop, transliterated (no fast path)."""
    i = arg.find(b"<")
    if i >= 0:
        terminator, arg = ord(">"), arg[i + 1:]
    else:
        terminator = ord(" ")
        i = arg.find(b":")
        arg = arg[i + 1:] if i >= 0 else b""
        while arg[:1] == b" ":
            arg = arg[1:]
    if arg[:1] == b"@":
        while arg:
            ch, arg = arg[0], arg[1:]
            if ch == ord(":"):
                break
    out, esc, quoted = bytearray(), False, False
    for ch in arg:
        if esc:
            out.append(ch)
            esc = False
        elif not quoted and ch == terminator:
            break
        elif ch == ord("\\"):
            esc = True
        elif ch == ord('"'):
            quoted = not quoted
        else:
            out.append(ch)
    return bytes(out)
