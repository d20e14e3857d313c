"""qmail-inject's pure parts: token822, header splitting, address rewriting, added fields
(spec/qmail.md §8.1; qmail's token822.c, headerbody.c, hfield.c, newfield.c)."""
import pytest

from qmail import inject, token822 as tk
from qmail.inject import Fatal, Injector

NOW, PID = 1795553487, 4242
CONTROLS = {"defaultdomain": b"example.com", "defaulthost": b"mx.example.com",
            "plusdomain": b"plus.example", "idhost": b"id.example"}


def injector(**env):
    base = {b"USER": b"joe"}
    base.update({k.encode(): v.encode() for k, v in env.items()})
    return Injector(env=base, controls=CONTROLS, now=NOW, pid=PID)


def run(message, args=(), **env):
    inj = injector(**env)
    strategy, queue, rest = inject.parse_options(inj, list(args))
    return inject.inject(inj, message, strategy, queue, rest)


def test_tokens_round_trip():
    field = b'To: "Joe Q." <joe@[1.2.3.4]> (a (nested) comment), x\\)y@z\n'
    tokens = tk.parse(field)
    assert tokens == [(tk.ATOM, b"To"), (tk.COLON, b""), (tk.QUOTE, b"Joe Q."), (tk.LEFT, b""),
                      (tk.ATOM, b"joe"), (tk.AT, b""), (tk.LITERAL, b"1.2.3.4"),
                      (tk.RIGHT, b""), (tk.COMMENT, b"a nested comment"), (tk.COMMA, b""),
                      (tk.QUOTE, b"x)y"), (tk.AT, b""), (tk.ATOM, b"z")]
    # no space between ">" and a comment, as needspace() in the C
    assert tk.unparse(tokens, 80) == b'To: "Joe Q." <joe@[1.2.3.4]>(a nested comment), "x\\)y"@z\n'
    assert tk.unparse(tokens, 30) == b'To: "Joe Q." <joe@[1.2.3.4]>(a nested comment),\n  "x\\)y"@z\n'
    assert tk.unquote(tokens[2:]) == b'Joe Q.<joe@[1.2.3.4]>,x)y@z'


@pytest.mark.parametrize("bad", [b"To: ) a\n", b'To: "open\n', b"To: (open\n", b"To: [1.2\n"])
def test_parse_failures(bad):
    assert tk.parse(bad) is None


def test_unparse_folds_long_lists_after_commas():
    addresses = b", ".join(b"user%02d@example.com" % i for i in range(8))
    out = tk.unparse(tk.addrlist(tk.parse(b"To: " + addresses + b"\n"), lambda a: None), 80)
    lines = out.split(b"\n")
    assert lines[-1] == b""
    assert all(len(line) <= 80 for line in lines)
    assert all(line.startswith(b"  user") for line in lines[1:-1])
    assert out.replace(b"\n  ", b" ") == b"To: " + addresses + b"\n"


def test_addrlist_hands_over_each_address_reversed():
    seen = []
    tokens = tk.parse(b"To: a@b, Name <c@d>, group: e@f, g@h;, <>\n")
    out = tk.addrlist(tokens, lambda addr: seen.append(tk.unquote(addr[::-1])))
    assert seen == [b"", b"g@h", b"e@f", b"c@d", b"a@b"]
    assert tk.unparse(out, 0) == b"To: a@b, Name <c@d>, group: e@f, g@h;, <>\n"
    assert tk.addrlist(tk.parse(b"To: x: a\n"), lambda a: None) is None   # ":" outside a group


def test_field_types_and_validity():
    assert inject.field_type(b"To: x\n") == inject.H_TO
    assert inject.field_type(b"RESENT-cc \t: x\n") == inject.H_R_CC
    assert inject.field_type(b"Toto: x\n") == 0
    assert inject.field_valid(b"X-Any: y\n")
    assert not inject.field_valid(b"No colon\n")
    assert not inject.field_valid(b"Bad name: y\n")
    assert not inject.field_valid(b": y\n")


def test_split_header():
    assert inject.split_header(b"From x Mon\nA: 1\n  more\nB: 2\n\nbody") == (
        [b"MBOX-Line: From x Mon\n", b"A: 1\n  more\n", b"B: 2\n"], b"\nbody\n")
    assert inject.split_header(b"A: 1\nnot a field\nrest\n") == (
        [b"A: 1\n"], b"\nnot a field\nrest\n")
    assert inject.split_header(b"A: 1") == ([b"A: 1\n"], b"")


def test_added_fields_and_rewriting():
    message, sender, recips = run(
        b"To: bob, Eric <eric@mammoth.cs+>, <>, x@[]\nBcc: carol@else.where\n"
        b"Content-Length: 3\nReturn-Path: <ignored@x.y>\nSubject: hi\n\nbody\n",
        QMAILNAME="Joe Q. User")
    assert message == (
        b"Date: 24 Nov 2026 20:51:27 -0000\n"
        b"Message-ID: <20261124205127.4242.qmail@id.example>\n"
        b'From: "Joe Q. User" <joe@mx.example.com>\n'
        b"To: bob@mx.example.com, Eric <eric@mammoth.cs.plus.example>, <>, x@[]\n"
        b"Subject: hi\n\nbody\n")
    assert sender == b"ignored@x.y"
    # each field's addresses are walked right to left, as token822_addrlist does
    assert recips == [b"x@[]", b"", b"eric@mammoth.cs.plus.example", b"bob@mx.example.com",
                      b"carol@else.where"]


def test_default_sender_host_without_dot_and_source_route():
    message, sender, recips = run(b"Cc: <@route1,@route2:u@host>\n\nb\n", ["-H", "extra"],
                                  QMAILSUSER="ret", QMAILSHOST="bounces", QMAILINJECT="c",
                                  NAME="Joe")
    assert sender == b"ret@bounces.example.com"
    assert recips == [b"extra@mx.example.com", b"u@host.example.com"]
    assert b"From: joe@mx.example.com (Joe)\n" in message
    assert b"Cc: <u@host.example.com>\n" in message
    assert b"recipient list not shown" not in message


def test_arguments_only_and_n_shows_return_path():
    message, sender, recips = run(b"To: hdr@x.y\n\nb\n", ["-n", "-a", "-f", "me@my.host", "arg@a.b"])
    assert message.startswith(b"Return-Path: <me@my.host>\nDate: ")
    assert (sender, recips) == (b"me@my.host", [b"arg@a.b"])


def test_header_recipients_by_default_and_resent():
    _, _, recips = run(b"To: a@x.y\nCc: b@x.y\nApparently-To: c@x.y\n\n")
    assert recips == [b"a@x.y", b"b@x.y", b"c@x.y"]
    message, _, recips = run(b"To: a@x.y\nResent-To: r@x.y\nResent-Bcc: s@x.y\n\n")
    assert recips == [b"r@x.y", b"s@x.y"]
    assert message.startswith(b"Resent-Date: 24 Nov 2026 20:51:27 -0000\nResent-Message-ID: <")
    assert b"Resent-From: joe@mx.example.com\n" in message
    assert b"s@x.y" not in message


def test_qmailinject_deletions_and_verp():
    message, sender, _ = run(b"From: old@x.y\nMessage-ID: <1@x>\nReturn-Path: <r@x.y>\n\n",
                             ["a@b.c"], QMAILINJECT="fisr", QMAILSHOST="h.example")
    assert b"old@x.y" not in message and b"<1@x>" not in message
    assert sender == b"joe-@h.example-@[]"
    _, sender, _ = run(b"\n", ["a@b.c"], QMAILINJECT="m", QMAILSHOST="h.example")
    assert sender == b"joe-1795553487.4242@h.example"


def test_unparseable_fields():
    with pytest.raises(Fatal) as e:
        run(b"From: (unclosed\n\n")
    assert (e.value.code, e.value.text) == (
        100, b"qmail-inject: fatal: unable to parse this line:\nFrom: (unclosed\n")
    message, _, recips = run(b"To: (unclosed\n\n", ["a@b.c"])
    assert b"To: (unclosed\n" in message and recips == [b"a@b.c"]
    with pytest.raises(Fatal) as e:
        run(b"\n", ["-x"])
    assert e.value.text == b"qmail-inject: illegal option -- x\n"
    with pytest.raises(Fatal) as e:
        run(b"\n", ["a@)b"])
    assert e.value.text == b"qmail-inject: fatal: unable to parse address: a@)b\n"


def test_mail_followup_to():
    inj = Injector(env={b"USER": b"joe"}, controls=CONTROLS, now=NOW, pid=PID,
                   mft={b"list@lists.example"})
    strategy, queue, rest = inject.parse_options(inj, [])
    message, _, _ = inject.inject(inj, b"To: a@x.y, List@lists.example\n\n", strategy, queue, rest)
    assert b"Mail-Followup-To: a@x.y,\n  List@lists.example\n" in message


@pytest.mark.parametrize("now, date, msgid", [
    (0, b"Date: 1 Jan 1970 00:00:00 -0000\n", b"Message-ID: <19700101000000.7.qmail@h>\n")])
def test_new_fields(now, date, msgid):
    assert inject.date_field(now) == date
    assert inject.msgid_field(b"h", now, 7) == msgid


from hypothesis import given, settings, strategies as st  # noqa: E402

FIELD_BYTES = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" "))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"To", b"Cc", b"From", b"Reply-To", b"Bcc",
                                           b"Return-Path", b"Resent-To", b"X-Other"]),
                          FIELD_BYTES), max_size=4),
       st.binary(max_size=40), st.lists(st.sampled_from(["a@b.c", "plain", "x y@z"]), max_size=2))
def test_inject_never_crashes(fields, body, args):
    message = b"".join(name + b": " + value + b"\n" for name, value in fields) + b"\n" + body
    try:
        out, sender, recips = run(message, args)
    except Fatal as e:
        assert e.code == 100 and e.text.startswith(b"qmail-inject: fatal: unable to parse")
        return
    assert out.endswith(body if body.endswith(b"\n") or not body else body + b"\n")
    assert isinstance(sender, bytes) and all(isinstance(r, bytes) for r in recips)
    assert b"Message-ID: <" in out and b"Date: " in out
