"""qmail-newvpw: compile $QMAILHOME/users/vpasswd into users/vpasswd.cdb for vchkpw.

users/vpasswd, one user a line:   login:secret:uid:gid:home
- login: no ":" (may contain "@", e.g. bob@example.org); each login once;
- secret: a crypt(3) hash ($6$..., $5$..., $1$..., $2b$..., DES) or `{PLAIN}clear` (the only
  kind that allows APOP; no ":" in it);
- uid, gid: decimal; home: an absolute path, the rest of the line (may contain ":").
Empty lines and lines starting with "#" are ignored. The cdb is replaced atomically through
users/vpasswd.tmp (rules/cdb.py): on any error the old cdb stays.
Exit: 0; 111 (with `qmail-newvpw: fatal: ...` on fd 2) when the file cannot be read, a line
is malformed, or the cdb cannot be written.
"""
import os
import sys
from collections.abc import Iterator

from qmail.die import Fatal, djb_error, run


class VpasswdError(Exception):
    def __init__(self, lineno: int, reason: str) -> None:
        super().__init__(f"line {lineno}: {reason}")


def parse_vpasswd(text: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(login, b"secret:uid:gid:home") records; VpasswdError on a malformed line."""
    seen: set[bytes] = set()
    for lineno, line in enumerate(text.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if not line or line.startswith(b"#"):
            continue
        parts = line.split(b":", 4)
        if len(parts) != 5:
            raise VpasswdError(lineno, "expected login:secret:uid:gid:home")
        login, secret, uid, gid, home = parts
        if not login:
            raise VpasswdError(lineno, "empty login")
        if not secret:
            raise VpasswdError(lineno, "empty secret")
        if not uid.isdigit() or not gid.isdigit():
            raise VpasswdError(lineno, "uid and gid must be decimal numbers")
        if not home.startswith(b"/"):
            raise VpasswdError(lineno, "home must be an absolute path")
        if login in seen:
            raise VpasswdError(lineno, "duplicate login")
        seen.add(login)
        yield login, b":".join((secret, uid, gid, home))


def main(argv: list[str] | None = None) -> int:
    def go() -> int:
        from rules.cdb import replace_cdb
        users = os.path.join(os.environ.get("QMAILHOME") or "/var/qmail", "users")
        source = os.path.join(users, "vpasswd")
        try:
            with open(source, "rb") as f:
                text = f.read()
        except OSError as e:
            raise Fatal(f"unable to read users/vpasswd: {djb_error(e)}") from None
        try:
            records = list(parse_vpasswd(text))
        except VpasswdError as e:
            raise Fatal(f"unable to parse users/vpasswd: {e}") from None
        try:
            replace_cdb(os.path.join(users, "vpasswd.cdb"), os.path.join(users, "vpasswd.tmp"),
                        records)
        except OSError as e:
            raise Fatal(f"unable to write users/vpasswd.cdb: {djb_error(e)}") from None
        return 0

    return run("qmail-newvpw", go)


if __name__ == "__main__":
    sys.exit(main())
