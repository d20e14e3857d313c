"""A checkpassword-compatible program for the SMTP AUTH tests (spec/qmail.md §5, §2.14).

Reads fd 3 to EOF (at most 512 bytes): user NUL password NUL challenge NUL. Appends exactly what
it read to $CHECKPW_LOG. Accounts come from $CHECKPW_USERS (`user:secret,...`). With an
empty challenge the password must equal the secret; with a challenge (CRAM-MD5) it must be
hex(HMAC-MD5(secret, challenge)). On success it runs its arguments (execvp), else exits 1;
misuse exits 2, as checkpassword does.
"""
import hashlib
import hmac
import os
import sys


def main() -> int:
    data = b""
    while len(data) <= 512:
        chunk = os.read(3, 513)
        if not chunk:
            break
        data += chunk
    os.close(3)
    if len(data) > 512:
        return 1
    with open(os.environ["CHECKPW_LOG"], "ab") as log:
        log.write(data + b"\n--\n")
    fields = data.split(b"\0")
    if len(fields) < 3:
        return 2
    user, password, challenge = fields[0], fields[1], fields[2]
    accounts = dict(entry.split(":", 1) for entry in os.environ["CHECKPW_USERS"].split(","))
    secret = accounts.get(user.decode("utf-8", "replace"))
    if secret is None:
        return 1
    if challenge:
        good = hmac.new(secret.encode(), challenge, hashlib.md5).hexdigest().encode()
    else:
        good = secret.encode()
    if not hmac.compare_digest(password, good):
        return 1
    if len(sys.argv) < 2:
        return 2
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
