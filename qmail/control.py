"""$QMAILHOME and qmail's four control-file readers (spec/qmail.md §1.1).

All values are bytes. A missing file gives the default; any other error raises ControlError
(qmail-smtpd answers `421 unable to read controls (#4.3.0)` to it).
"""
import os

DEFAULT_HOME = "/var/qmail"


class ControlError(Exception):
    """A control file exists but cannot be read (not ENOENT)."""


def qmail_home() -> str:
    """$QMAILHOME when set and not empty, else /var/qmail (CONTRACT.md)."""
    return os.environ.get("QMAILHOME") or DEFAULT_HOME


def home_path(*parts: str) -> str:
    return os.path.join(qmail_home(), *parts)


def control_path(name: str) -> str:
    return home_path("control", name)


def read_file(name: str) -> bytes | None:
    """The whole control file, or None when it does not exist."""
    try:
        with open(control_path(name), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ControlError(name) from e


def _strip(line: bytes) -> bytes:
    return line.rstrip(b" \t\n")


def read_line(name: str, default: bytes | None = None) -> bytes | None:
    """First line, trailing spaces/tabs/newline stripped (a CR stays); default if missing."""
    data = read_file(name)
    if data is None:
        return default
    return _strip(data.split(b"\n", 1)[0])


def read_line_or_me(name: str, default: bytes | None = None) -> bytes | None:
    """A single-line control whose default is `me`, then DEFAULT."""
    value = read_line(name)
    if value is None:
        value = read_line("me", default)
    return value


def read_int(name: str, default: int) -> int:
    """Leading decimal digits of the first line; missing or not starting with a digit -> default."""
    line = read_line(name)
    if not line or not line[:1].isdigit():
        return default
    digits = len(line) - len(line.lstrip(b"0123456789"))
    return int(line[:digits])


def read_list(name: str) -> list[bytes] | None:
    """Every non-empty, non-# line, trailing spaces/tabs stripped; None if the file is missing."""
    data = read_file(name)
    if data is None:
        return None
    lines = (line.rstrip(b" \t") for line in data.split(b"\n"))
    return [line for line in lines if line and not line.startswith(b"#")]


def read_map(name: str) -> dict[bytes, bytes] | None:
    """`key:value` lines of a list control, keys lowercased, later lines winning; no colon -> ignored."""
    lines = read_list(name)
    if lines is None:
        return None
    result = {}
    for line in lines:
        key, colon, value = line.partition(b":")
        if colon:
            result[key.lower()] = value
    return result
