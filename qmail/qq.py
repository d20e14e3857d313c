"""qmail_close(): what a caller of the queue program makes of its end (qmail.c; spec/qmail.md
§2.10.6, §3.1). Pure; shared by qmail-smtpd's core and the delivery programs (qmail-local,
forward, qmail-inject), as qmail.c is in the C.

The result is b"" when the message was queued, else a text whose first byte says permanent
(`D`) or temporary (anything else, `Z` here) and whose rest is shown to the user.
"""

WAITPID_SURPRISE = b"Zqq waitpid surprise (#4.3.0)"
CRASHED = b"Zqq crashed (#4.3.0)"
TEXTS = {                                  # exit code -> text
    115: b"Denvelope address too long for qq (#5.1.3)",
    11: b"Denvelope address too long for qq (#5.1.3)",
    31: b"Dmail server permanently rejected message (#5.3.0)",
    51: b"Zqq out of memory (#4.3.0)",
    52: b"Zqq timeout (#4.3.0)",
    53: b"Zqq write error or disk full (#4.3.0)",
    54: b"Zqq read error (#4.3.0)",
    55: b"Zqq unable to read configuration (#4.3.0)",
    56: b"Zqq trouble making network connection (#4.3.0)",
    61: b"Zqq trouble in home directory (#4.3.0)",
    62: b"Zqq trouble creating files in queue (#4.3.0)",
    63: b"Zqq trouble creating files in queue (#4.3.0)",
    64: b"Zqq trouble creating files in queue (#4.3.0)",
    65: b"Zqq trouble creating files in queue (#4.3.0)",
    66: b"Zqq trouble creating files in queue (#4.3.0)",
    71: b"Zmail server temporarily rejected message (#4.3.0)",
    72: b"Zconnection to mail server timed out (#4.4.1)",
    73: b"Zconnection to mail server rejected (#4.4.1)",
    74: b"Zcommunication with mail server failed (#4.4.2)",
    81: b"Zqq internal bug (#4.3.0)",
    91: b"Zqq internal bug (#4.3.0)",
    120: b"Zunable to exec qq (#4.3.0)",
}
READ_ERROR = TEXTS[54]                      # exit 0 after a failed write to its pipes
PERMANENT = b"Dqq permanent problem (#5.3.0)"  # other exits 11..40
TEMPORARY = b"Zqq temporary problem (#4.3.0)"  # anything else
ERRTEXT_MAX = 255                           # bytes of fd 6 (notqmail's custom error) kept


def close_text(wstatus: int | None, flagerr: bool, errtext: bytes = b"") -> bytes:
    """WSTATUS is the queue program's wait status (None: waitpid failed); FLAGERR means a write
    to it failed (or the caller refused the message itself); ERRTEXT is what it wrote on fd 6."""
    if wstatus is None:
        return WAITPID_SURPRISE
    if wstatus & 127:
        return CRASHED
    code = (wstatus >> 8) & 255
    if code == 0:
        return READ_ERROR if flagerr else b""
    if code == 82:
        # The C returns fd 6's bytes as a C string: they end at a NUL, and one that starts
        # with a NUL is the empty string, i.e. "queued", as the callers read it.
        return errtext.split(b"\0", 1)[0] if len(errtext) > 2 else TEMPORARY
    text = TEXTS.get(code)
    if text is not None:
        return text
    return PERMANENT if 11 <= code <= 40 else TEMPORARY
