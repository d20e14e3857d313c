"""qmail-smtpd's Received line and qmail's date format (spec/qmail.md §2.10.5). Pure.

`Received: from REMOTEHOST[ (HELO HELOHOST)] ([INFO@]REMOTEIP)` LF
`  by LOCAL with PROTOCOL; D Mon YYYY HH:MM:SS -0000` LF
"""
MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
          b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")

# notqmail keeps [ and ] (qmail 1.03 and netqmail replace them too, §0.1)
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.@%+/=:-[]")
_SAFE_TABLE = bytes(c if c in _SAFE else 63 for c in range(256))           # 63 = "?"


def safe(field: bytes) -> bytes:
    """Every byte outside `A-Z a-z 0-9 . @ % + / = : - [ ]` becomes `?`."""
    return field.translate(_SAFE_TABLE)


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month 1-12, day) of a count of days since 1970-01-01 (proleptic Gregorian)."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def date822(now: float) -> bytes:
    """qmail's date822fmt: `24 Nov 2026 20:50:30 -0000` LF (UTC, no weekday)."""
    seconds = int(now)
    days, rest = divmod(seconds, 86400)
    year, month, day = civil_from_days(days)
    return b"%d %s %d %02d:%02d:%02d -0000\n" % (
        day, MONTHS[month - 1], year, rest // 3600, rest // 60 % 60, rest % 60)


def received_line(protocol: bytes, local: bytes, remoteip: bytes, remotehost: bytes,
                  remoteinfo: bytes | None, helo: bytes | None, now: float) -> bytes:
    """The two lines qmail-smtpd puts above the message (§2.10.5)."""
    line = b"Received: from " + safe(remotehost)
    if helo is not None:
        line += b" (HELO " + safe(helo) + b")"
    line += b" ("
    if remoteinfo is not None:
        line += safe(remoteinfo) + b"@"
    return (line + safe(remoteip) + b")\n  by " + safe(local) + b" with " + protocol + b"; "
            + date822(now))
