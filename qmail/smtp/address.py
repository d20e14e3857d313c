"""Envelope addresses: MAIL/RCPT argument parsing, local IP literals, badmailfrom and
rcpthosts (spec/qmail.md §2.6-§2.9). Pure functions on bytes.
"""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection

MAX_ADDRESS = 899          # §2.6 step 5: 900 bytes or more -> 555


def parse_address(arg: bytes) -> bytes:
    """The address in a MAIL/RCPT argument, quotes and source route removed (§2.6)."""
    start = arg.find(b"<")
    if start >= 0:
        terminator = 62                                      # ">"
        rest = arg[start + 1:]
    else:                                                    # partner should read RFC 821
        terminator = 32                                      # " "
        colon = arg.find(b":")
        rest = arg[colon + 1:] if colon >= 0 else b""
        rest = rest.lstrip(b" ")
    if rest[:1] == b"@":                                     # strip the source route
        colon = rest.find(b":")
        rest = rest[colon + 1:] if colon >= 0 else b""
    if 34 not in rest and 92 not in rest:                    # no quote, no backslash: fast path
        end = rest.find(terminator)
        return rest if end < 0 else rest[:end]
    out = bytearray()
    escaped = quoted = False
    for ch in rest:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == terminator and not quoted:
            break
        elif ch == 92:                                       # backslash
            escaped = True
        elif ch == 34:                                       # double quote
            quoted = not quoted
        else:
            out.append(ch)
    return bytes(out)


def ip_literal(addr: bytes) -> bytes | None:
    """The 4 bytes of a trailing `@[d.d.d.d]`, as qmail's ip_scanbracket reads it, else None.

    Each part is one or more digits stored in an unsigned char, so `[383.0.0.1]` is
    127.0.0.1, as in the C.
    """
    at = addr.rfind(b"@")
    if at < 0 or addr[at + 1:at + 2] != b"[" or not addr.endswith(b"]"):
        return None
    parts = addr[at + 2:-1].split(b".")
    if len(parts) != 4 or not all(p.isdigit() and p.isascii() for p in parts):
        return None
    return bytes(int(p) & 255 for p in parts)


def replace_local_ip(addr: bytes, liphost: bytes, is_local_ip: "Callable[[bytes], bool]") -> bytes:
    """`u@[one of my IPs]` -> `u@<localiphost>` (§2.7)."""
    ip = ip_literal(addr)
    if ip is None or not is_local_ip(ip):
        return addr
    return addr[:addr.rfind(b"@") + 1] + liphost


def badmailfrom(addr: bytes, bmf: "Collection[bytes]") -> bool:
    """Whole address, or `@domain` from the last @, in the lowercased badmailfrom lines (§2.8)."""
    if not bmf:
        return False
    lower = addr.lower()
    if lower in bmf:
        return True
    at = lower.rfind(b"@")
    return at >= 0 and lower[at:] in bmf


def host_keys(addr: bytes) -> list[bytes] | None:
    """The lowercased domain after the last @ and its suffixes starting at a dot, in the order
    rcpthosts tries them; None when the address has no @ (always acceptable, §2.9)."""
    at = addr.rfind(b"@")
    if at < 0:
        return None
    host = addr[at + 1:].lower()
    keys = [host] if host else []
    dot = host.find(b".", 1)
    while dot >= 0:
        keys.append(host[dot:])
        dot = host.find(b".", dot + 1)
    return keys


def rcpthosts_allows(addr: bytes, rcpthosts: "Collection[bytes] | None",
                     more: "Callable[[bytes], bool | None] | None" = None) -> bool | None:
    """§2.9 without RELAYCLIENT: True accepted, False refused, None when MORE could not be read.

    RCPTHOSTS holds the lowercased lines (None: the file does not exist, open relay); MORE
    looks a key up in morercpthosts.cdb (True/False, None on a read error), tried only after
    every rcpthosts suffix, as qmail's rcpthosts() does.
    """
    if rcpthosts is None:
        return True
    keys = host_keys(addr)
    if keys is None:
        return True
    if any(key in rcpthosts for key in keys):
        return True
    if more is not None:
        for key in keys:
            found = more(key)
            if found is None or found:
                return found
    return False
