"""SMTP AUTH's pure parts (spec/qmail.md §2.14): the patch's base64 decoder, the PLAIN and
CRAM-MD5 response formats, the CRAM-MD5 challenge.

The AUTH patch works on C strings, so a NUL inside a decoded response ends a field; those
quirks are kept here (they decide what checkpassword receives on fd 3).
"""
import binascii

MECHANISMS = (b"login", b"plain", b"cram-md5")

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
PAD = 61                                                     # "="


def b64decode(text: bytes) -> bytes | None:
    """The patch's b64decode(): None when a byte is outside the alphabet ("malformed").

    Groups of four; a short last group counts as zero-padded; a `=` in the second or third
    place of a group ends the output; trailing NUL bytes are dropped (the C does so too).
    """
    out = bytearray()
    length = len(text)
    for i in range(0, length, 4):
        group = 0
        for j in range(4):
            ch = text[i + j] if i + j < length else PAD
            if ch != PAD:
                value = _VALUE.get(ch)
                if value is None:
                    return None
                group |= value << (18 - 6 * j)
        out.append(group >> 16)
        if text[i + 1:i + 2] == b"=":
            break
        out.append(group >> 8 & 255)
        if text[i + 2:i + 3] == b"=":
            break
        out.append(group & 255)
    return bytes(out).rstrip(b"\0")


def b64encode(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False)


def cstr(data: bytes) -> bytes:
    """DATA up to its first NUL."""
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]


def is_cancel(line: bytes) -> bool:
    """A client line `*` (as a C string) cancels the exchange."""
    return cstr(line) == b"*"


def plain_credentials(decoded: bytes) -> tuple[bytes, bytes]:
    """`authzid NUL user NUL password` -> (user, password), each cut at its NUL."""
    resp = decoded + b"\0"
    ident = resp.index(b"\0")
    user = cstr(resp[ident + 1:]) if len(resp) > ident + 1 else b""
    start = ident + len(user) + 2
    password = cstr(resp[start:]) if len(resp) > start else b""
    return user, password


def cram_credentials(decoded: bytes) -> tuple[bytes, bytes]:
    """`user digest` -> (user, digest): split at the last space, spaces before the digest
    skipped; no space at all gives an empty digest."""
    resp = cstr(decoded)
    space = resp.rfind(b" ")
    if space < 0:
        return resp, b""
    return resp[:space], resp[space:].lstrip(b" ")


def cram_challenge(pid: int, now: float, local: bytes) -> bytes:
    """`<pid.time@local>` (the challenge, before base64)."""
    return b"<%d.%d@" % (pid, int(now)) + local + b">"
