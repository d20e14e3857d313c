"""qmail's quote()/quote2(): an address box quoted for RFC 821/822 only when needed (pure)."""

# bytes allowed unquoted in a box (qmail's quote.c table)
_OK = frozenset(b"!#$%&'*+-/0123456789=?ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`"
                b"abcdefghijklmnopqrstuvwxyz{|}~.")


def quote_need(box: bytes) -> bool:
    if not box:
        return True
    if any(ch not in _OK for ch in box):
        return True
    return box.startswith(b".") or box.endswith(b".") or b".." in box


def quote(box: bytes) -> bytes:
    if not quote_need(box):
        return box
    out = bytearray(b'"')
    for ch in box:
        if ch in b'\r\n"\\':
            out += b"\\"
        out.append(ch)
    return bytes(out + b'"')


def quote2(address: bytes) -> bytes:
    """The box (before the last @) quoted if needed, the domain kept: `a b@x` -> `"a b"@x`."""
    if not address:
        return address
    at = address.rfind(b"@")
    if at == -1:
        return quote(address)
    return quote(address[:at]) + address[at:]
