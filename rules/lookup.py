"""The rule keys tcpserver and tcprulescheck try, in order (spec/ucspi-tcp.md §3). Pure."""
from collections.abc import Iterator


def candidate_keys(ip: bytes, host: bytes | None, info: bytes | None) -> Iterator[bytes]:
    """Rule keys in the order tcpserver tries them; the first one present in the cdb wins."""
    if info is not None:
        yield info + b"@" + ip
        if host is not None:
            yield info + b"@=" + host
    yield ip
    if host is not None:
        yield b"=" + host
    # prefixes ending in a dot, longest first (cut from the right; no IP parsing)
    yield from (ip[: i + 1] for i in reversed(range(len(ip))) if ip[i] == 0x2E)
    if host is not None:
        yield from (b"=" + host[i:] for i in range(len(host)) if host[i] == 0x2E)
        yield b"="
    yield b""
