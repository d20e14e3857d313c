"""Who receives a local address (spec/qmail.md §10.1), and qmail's own accounts.

qmail's accounts (`alias`, `qmaild`, `qmaill`, `qmailp`, `qmailq`, `qmailr`, `qmails`) are
looked up by name at run time, as notqmail does. When one does not exist (a test machine, a
scratch $QMAILHOME) `account()` falls back to the current uid/gid and says so in
`Account.exists`; `uid_of()` does not fall back (qmail-queue's Received line must not call
every caller "the network" because qmaild is missing).

The lookup of a local part follows qmail-lspawn: `users/cdb` (built by qmail-newu from
`users/assign`), else qmail-getpw's passwd rules, else the alias user.
"""
import errno
import grp
import os
import pwd
from dataclasses import dataclass

BREAK = b"-"                   # conf-break
GETPW_USERLEN = 32

# qmail-lspawn's exit codes for its own troubles (qlx.h), turned into reports by the spawner
QLX_USAGE, QLX_BUG, QLX_ROOT, QLX_NFS, QLX_NOALIAS = 112, 101, 113, 115, 116
QLX_CDB, QLX_SYS, QLX_NOMEM, QLX_EXECSOFT, QLX_EXECPW, QLX_EXECHARD = 117, 118, 119, 120, 121, 126


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    exists: bool


def account(name: str) -> Account:
    """The passwd entry NAME, else the current uid/gid (exists=False)."""
    try:
        pw = pwd.getpwnam(name)
        return Account(name, pw.pw_uid, pw.pw_gid, pw.pw_dir, True)
    except KeyError:
        return Account(name, os.getuid(), os.getgid(), "/", False)


def uid_of(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def gid_of(name: str) -> int:
    """Group NAME's gid, else the current gid."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return os.getgid()


@dataclass(frozen=True, slots=True)
class Recipient:
    """What qmail-local is run with: the nughde record (user, uid, gid, home, dash, ext)."""
    user: bytes
    uid: int
    gid: int
    home: bytes
    dash: bytes
    ext: bytes


class LookupError_(Exception):
    """Carries a QLX_* code: the spawner turns it into its fixed report text."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def parse_nughde(data: bytes) -> Recipient:
    """`user NUL uid NUL gid NUL home NUL dash NUL ext` -> Recipient (QLX_USAGE if short)."""
    fields = data.split(b"\0")
    if len(fields) < 6:
        raise LookupError_(QLX_USAGE)
    user, uid, gid, home, dash, ext = fields[:6]
    return Recipient(user, _scan_ulong(uid), _scan_ulong(gid), home, dash, ext)


def _scan_ulong(s: bytes) -> int:
    digits = len(s) - len(s.lstrip(b"0123456789"))
    return int(s[:digits]) if digits else 0


def cdb_lookup(get, local: bytes) -> bytes | None:
    """qmail-lspawn's users/cdb search. GET(key) -> value or None (a cdb reader's get).

    Exact entries are `!local NUL`; wildcard entries `!prefix` whose last byte is listed in
    the record under the empty key; the longest prefix wins and the rest of LOCAL (in its
    original case) is appended to the entry's ext.
    """
    wildchars = get(b"")
    if wildchars is None:
        raise LookupError_(QLX_CDB)
    lower = (b"!" + local + b"\0").lower()
    i = len(lower)
    wild = False
    while i:
        if not wild or i == 1 or lower[i - 1:i] in _chars(wildchars):
            data = get(lower[:i])
            if data is not None:
                if wild:
                    data += local[i - 1:]
                return data
        i -= 1
        wild = True
    return None


def _chars(s: bytes) -> set[bytes]:
    return {s[k:k + 1] for k in range(len(s))}


def getpw(local: bytes, getpwnam=None, stat=os.stat, alias_home: str | None = None) -> bytes:
    """qmail-getpw: the nughde record for LOCAL from the passwd database, else the alias user.

    The longest prefix of LOCAL ending at `-` (or all of it), lowercased, shorter than 32
    bytes, that names a non-root account whose home exists and is owned by it. No alias user
    in passwd: the owner of ALIAS_HOME ($QMAILHOME/alias) stands in, home ALIAS_HOME.
    """
    getpwnam = getpwnam or _getpwnam
    n = len(local)
    while True:
        if n < GETPW_USERLEN and (n == len(local) or local[n:n + 1] == BREAK):
            pw = getpwnam(local[:n].lower())
            if pw is not None and pw.pw_uid:
                try:
                    st = stat(pw.pw_dir)
                except OSError as e:
                    if e.errno in _TEMP_ERRNOS:
                        raise LookupError_(QLX_NFS) from e
                else:
                    if st.st_uid == pw.pw_uid:
                        dash, ext = (b"-", local[n + 1:]) if n < len(local) else (b"", b"")
                        return _nughde(pw, dash, ext)
        if n == 0:
            break
        n -= 1
    pw = getpwnam(b"alias")
    if pw is None and alias_home is not None:
        try:
            st = stat(alias_home)
        except OSError:
            raise LookupError_(QLX_NOALIAS) from None
        pw = PwEntry(b"alias", st.st_uid, st.st_gid, os.fsencode(alias_home))
    if pw is None:
        raise LookupError_(QLX_NOALIAS)
    return _nughde(pw, b"-", local)


@dataclass(frozen=True, slots=True)
class PwEntry:
    pw_name: bytes
    pw_uid: int
    pw_gid: int
    pw_dir: bytes


def _nughde(pw: PwEntry, dash: bytes, ext: bytes) -> bytes:
    return b"\0".join([pw.pw_name, b"%d" % pw.pw_uid, b"%d" % pw.pw_gid, pw.pw_dir, dash,
                       ext]) + b"\0"


def _getpwnam(name: bytes) -> PwEntry | None:
    try:
        pw = pwd.getpwnam(os.fsdecode(name))
    except KeyError:
        return None
    return PwEntry(os.fsencode(pw.pw_name), pw.pw_uid, pw.pw_gid, os.fsencode(pw.pw_dir))


# error_temp() (error_temp.c): errors that may go away (qmail-getpw exits QLX_NFS on them)
_TEMP_ERRNOS = frozenset({
    errno.EINTR, errno.ENOMEM, errno.ETXTBSY, errno.EIO, errno.ETIMEDOUT, errno.EAGAIN,
    errno.EDEADLK, errno.EBUSY, errno.ENFILE, errno.EMFILE, errno.EFBIG, errno.ENOSPC,
    errno.ENETDOWN, errno.ENETUNREACH, errno.ENETRESET, errno.ECONNABORTED, errno.ECONNRESET,
    errno.ENOBUFS, errno.ECONNREFUSED, errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.EUSERS,
    errno.EDQUOT, errno.ESTALE, errno.ENOLCK,
})


def lookup(home: str, local: bytes) -> Recipient:
    """The recipient of LOCAL under $QMAILHOME=HOME: users/cdb, else getpw, else alias."""
    data = None
    path = os.path.join(home, "users", "cdb")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raw = None
    except OSError as e:
        raise LookupError_(QLX_CDB) from e
    if raw is not None:
        import cdblib
        try:
            reader = cdblib.Reader(raw)
        except Exception as e:  # a truncated or garbled cdb: pure-cdb raises assorted errors
            raise LookupError_(QLX_CDB) from e
        data = cdb_lookup(reader.get, local)
    if data is None:
        data = getpw(local, alias_home=os.path.join(home, "alias"))
    return parse_nughde(data)
