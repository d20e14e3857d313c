"""checkpassword's pure parts (spec/qmail.md §5), vchkpw's secrets and qmail-newvpw's file.
The programs themselves (fd 3, exits, setuid, exec) are run in tests/e2e/test_pop3_auth.py."""

import pytest

from qmail.checkpassword import (DUMMY_HASH, Credentials, parse_input, shadow_hash,
                                 verify_crypt)
from qmail.newvpw import VpasswdError, parse_vpasswd
from qmail.vchkpw import apop_digest, cram_digest, parse_record, verify_secret

# Made by openssl passwd and the C library's crypt(3), not by libpass.
HASHES = {
    b"$1$saltsalt$9xy1btjgzLYfb7hivXtC//": "md5-crypt",
    b"$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA": "sha256-crypt",
    b"$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN"
    b".Pq.H91p5hVO1": "sha512-crypt",
    b"abNANd1rDfiNc": "des-crypt",
    b"$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW": "bcrypt",
}


@pytest.mark.parametrize("data, parsed", [
    (b"bob\0pw\0<1.2@h>\0", (b"bob", b"pw", b"<1.2@h>")),
    (b"bob\0pw\0", (b"bob", b"pw", b"")),
    (b"bob\0pw\0stamp", (b"bob", b"pw", b"stamp")),
    (b"bob\0pw\0s\0more\0", (b"bob", b"pw", b"s")),
    (b"\0pw\0", (b"", b"pw", b"")),
    (b"bob\0\0", (b"bob", b"", b"")),
    (b"", None), (b"bob", None), (b"bob\0", None), (b"bob\0pw", None), (b"\0", None),
])
def test_parse_input(data, parsed):
    cred = parse_input(bytearray(data))
    assert (cred and (cred.login, bytes(cred.password), cred.stamp)) == parsed


@pytest.mark.parametrize("stored", HASHES, ids=HASHES.values())
def test_verify_crypt(stored):
    if HASHES[stored] == "bcrypt":
        pytest.importorskip("crypt", reason="bcrypt: no libpass backend and no crypt module")
    assert verify_crypt(b"secret", stored)
    assert verify_crypt(bytearray(b"secret"), stored)
    assert not verify_crypt(b"secreT", stored)
    assert not verify_crypt(b"", stored)


@pytest.mark.parametrize("stored", [b"", b"x", b"*", b"!", b"!$6$saltsalt$abc", b"$6$bad",
                                    b"$y$j9T$abc$def", b"\xff\xfe"])
def test_locked_empty_and_malformed_hashes_refuse(stored):
    assert not verify_crypt(b"secret", stored)
    assert not verify_crypt(b"", stored)


def test_dummy_hash_is_valid_and_refuses():
    assert DUMMY_HASH.startswith(b"$6$") and not verify_crypt(b"secret", DUMMY_HASH)


def test_shadow_lookup(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.write_bytes(b"root:*:1::::::\nbob:$6$s$h:19000:0:99999:7:::\nbo:x:1::::::\n")
    assert shadow_hash(b"bob", str(shadow)) == b"$6$s$h"
    assert shadow_hash(b"b", str(shadow)) is None
    assert shadow_hash(b"bob", str(tmp_path / "missing")) is None


def cred(password: bytes, stamp: bytes = b"<1896.697170952@dbc.mtview.ca.us>") -> Credentials:
    return Credentials(b"bob", bytearray(password), stamp)


def test_apop_with_a_plain_secret():
    # RFC 1939's example: tanstaaf, digest c4c9334bac560ecc979e58001b3e22fb
    digest = apop_digest(b"<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf")
    assert digest == b"c4c9334bac560ecc979e58001b3e22fb"
    assert verify_secret(cred(digest), b"{PLAIN}tanstaaf")
    assert verify_secret(cred(digest.upper()), b"{PLAIN}tanstaaf")
    assert verify_secret(cred(b"tanstaaf"), b"{PLAIN}tanstaaf")
    assert not verify_secret(cred(digest, stamp=b"<other@x>"), b"{PLAIN}tanstaaf")
    assert not verify_secret(cred(b"tanstaaF"), b"{PLAIN}tanstaaf")
    assert not verify_secret(cred(b""), b"{PLAIN}")


def test_cram_md5_with_a_plain_secret():
    # RFC 2195's example: tim / tanstaaftanstaaf
    challenge = b"<1896.697170952@postoffice.reston.mci.net>"
    digest = b"b913a602c7eda7a495b4e6e7334d3890"
    assert cram_digest(challenge, b"tanstaaftanstaaf") == digest
    assert verify_secret(cred(digest, challenge), b"{PLAIN}tanstaaftanstaaf")
    assert not verify_secret(cred(digest, b"<other@x>"), b"{PLAIN}tanstaaftanstaaf")


def test_apop_is_impossible_with_a_hash():
    stored = next(h for h, kind in HASHES.items() if kind == "sha512-crypt")
    digest = apop_digest(b"<1896.697170952@dbc.mtview.ca.us>", b"secret")
    assert not verify_secret(cred(digest), stored)
    assert verify_secret(cred(b"secret"), stored)


def test_vpasswd_file():
    text = (b"# users\n\nbob@example.org:$6$s$h:1001:1002:/home/v/bob\n"
            b"al:{PLAIN}pw:7:8:/srv/a:b\r\n")
    assert list(parse_vpasswd(text)) == [
        (b"bob@example.org", b"$6$s$h:1001:1002:/home/v/bob"), (b"al", b"{PLAIN}pw:7:8:/srv/a:b")]
    assert parse_record(b"al", b"{PLAIN}pw:7:8:/srv/a:b")[1].home == b"/srv/a:b"
    assert parse_record(b"al", b"x:y:8:/h") is None


@pytest.mark.parametrize("line", [b"bob:x:1:2", b":x:1:2:/h", b"bob::1:2:/h", b"bob:x:a:2:/h",
                                  b"bob:x:1:-2:/h", b"bob:x:1:2:rel", b"a:x:1:2:/h\na:y:1:2:/h"])
def test_vpasswd_errors(line):
    with pytest.raises(VpasswdError):
        list(parse_vpasswd(line))


def test_only_our_own_pop3d_script_runs_in_process(tmp_path):
    from support import ours
    from qmail.checkpassword import _is_our_pop3d
    script = ours("qmail-pop3d").encode()
    assert _is_our_pop3d(script)
    link = tmp_path / "qmail-pop3d"
    link.symlink_to(script.decode())
    assert _is_our_pop3d(bytes(link))
    copy = tmp_path / "copy"
    copy.write_bytes(open(script, "rb").read())
    copy.chmod(0o755)
    assert not _is_our_pop3d(bytes(copy))               # not the file next to our Python
    assert not _is_our_pop3d(b"/bin/true")
    assert not _is_our_pop3d(bytes(tmp_path / "none"))
