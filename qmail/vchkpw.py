"""vchkpw PROG [ARGS...]: checkpassword for virtual mailboxes (spec/qmail.md §5), the role of
the seed's vchkpw, without system accounts.

The users come from $QMAILHOME/users/vpasswd.cdb, compiled by qmail-newvpw from the text file
users/vpasswd (see qmail/newvpw.py): login -> secret, uid, gid, home.
fd 3, exits, the pause after a failure and the exec are checkpassword's; on success USER =
the login, HOME = home, SHELL = NOLOGIN (as vpopmail's vchkpw), plus the checkpassword steps
(setgroups/setgid/setuid, skipped when we already run unprivileged as exactly that uid/gid).

Secrets, and which allow APOP:
- a crypt(3) hash ($6$, $5$, $1$, bcrypt, DES), verified by libpass: USER/PASS only;
- `{PLAIN}secret`: USER/PASS, and APOP, whose digest MD5(<stamp> secret) in hex can only be
  checked against a secret the server knows in the clear; likewise SMTP AUTH CRAM-MD5 from
  qmail-smtpd (HMAC-MD5(secret, challenge) in hex, the challenge in the timestamp field).
"""
import os
import sys

from qmail.checkpassword import (DUMMY_HASH, EXIT_BAD, EXIT_TEMP, Account, Credentials,
                                 serve, verify_crypt)

PLAIN = b"{PLAIN}"
SHELL = b"NOLOGIN"


def cdb_path() -> str:
    return os.path.join(os.environ.get("QMAILHOME") or "/var/qmail", "users", "vpasswd.cdb")


def parse_record(login: bytes, data: bytes) -> tuple[bytes, Account] | None:
    """cdb data `secret:uid:gid:home` -> (secret, Account); None when malformed."""
    parts = data.split(b":", 3)
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit() or not parts[3]:
        return None
    return parts[0], Account(login, int(parts[1]), int(parts[2]), parts[3], SHELL)


def apop_digest(stamp: bytes, secret: bytes) -> bytes:
    try:
        from _md5 import md5        # the builtin: hashlib would start OpenSSL (~5 ms)
    except ImportError:
        from hashlib import md5
    return md5(stamp + secret).hexdigest().encode("ascii")


def cram_digest(challenge: bytes, secret: bytes) -> bytes:
    import hmac
    return hmac.new(secret, challenge, "md5").hexdigest().encode("ascii")


def verify_secret(cred: Credentials, secret: bytes) -> bool:
    """Each comparison is constant-time; the next kind of answer is tried only when the
    previous one failed (which tells a client nothing it did not send)."""
    if secret.startswith(PLAIN):
        from _operator import _compare_digest as equal      # hmac.compare_digest itself
        clear = secret[len(PLAIN):]
        if not clear:
            return False
        if equal(bytes(cred.password), clear):
            return True
        if not cred.stamp:
            return False
        answer = bytes(cred.password).lower()
        return (equal(answer, apop_digest(cred.stamp, clear))
                or equal(answer, cram_digest(cred.stamp, clear)))
    return verify_crypt(cred.password, secret)


def virtual_account(cred: Credentials) -> Account | int:
    from rules.cdb import get
    try:
        data = get(cdb_path(), cred.login)
    except OSError:
        return EXIT_TEMP
    record = parse_record(cred.login, data) if data is not None else None
    if record is None:
        verify_crypt(cred.password, DUMMY_HASH)     # the same time as a wrong password
        return EXIT_BAD
    secret, account = record
    return account if verify_secret(cred, secret) else EXIT_BAD


def main(argv: list[str] | None = None) -> int:
    return serve(sys.argv if argv is None else argv, virtual_account,
                 keep_ids_when_unprivileged=True)


if __name__ == "__main__":
    sys.exit(main())
