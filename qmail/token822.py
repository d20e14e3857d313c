"""RFC 822 header tokens as qmail-inject handles them (qmail's token822.c, pure).

A token is a (type, text) tuple. parse() splits a whole header field (name and colon
included); addrlist() walks an address list right to left, handing each address (its tokens
in reverse order) to a callback that may rewrite it in place; unparse() prints tokens back,
folding the field after commas so that lines stay within LINELEN where possible.
"""

COMMA, AT, DOT, LEFT, RIGHT, SEMI, COLON, ATOM, QUOTE, LITERAL, COMMENT = range(1, 12)

Token = tuple[int, bytes]

_SPECIAL = {ord("."): DOT, ord(","): COMMA, ord("@"): AT, ord("<"): LEFT, ord(">"): RIGHT,
            ord(":"): COLON, ord(";"): SEMI}
_SPACE = frozenset(b" \t\r\n")
_NOT_ATOM = frozenset(b' \t\r\n(["<>;:@,.')
_CHAR = {DOT: b".", COMMA: b",", AT: b"@", LEFT: b"<", RIGHT: b">", COLON: b":", SEMI: b";"}
_ESCAPED = frozenset(b'"[]()\\\r\n')
_OPEN = {ATOM: b"", QUOTE: b'"', LITERAL: b"[", COMMENT: b"("}
_CLOSE = {ATOM: b"", QUOTE: b'"', LITERAL: b"]", COMMENT: b")"}
_WORDS = (ATOM, LITERAL, QUOTE, COMMENT)

COMMA_TOKEN: Token = (COMMA, b"")


def parse(field: bytes) -> list[Token] | None:
    """Tokens of FIELD, or None when it has a stray `)`/`]` or an unterminated comment,
    quoted string or domain literal."""
    tokens: list[Token] = []
    n = len(field)
    i = 0
    while i < n:
        ch = field[i]
        if ch in _SPECIAL:
            tokens.append((_SPECIAL[ch], b""))
        elif ch in _SPACE:
            pass
        elif ch in b")]":
            return None
        elif ch in b'("[':
            kind, close = {40: (COMMENT, 41), 34: (QUOTE, 34), 91: (LITERAL, 93)}[ch]
            text = bytearray()
            level = 1
            while level:
                i += 1
                if i >= n:
                    return None
                c = field[i]
                if c == close:
                    level -= 1
                elif c == 40 and kind == COMMENT:
                    level += 1                    # nested parentheses are not kept, as in the C
                elif c == 92:
                    i += 1
                    if i >= n:
                        return None
                    text.append(field[i])
                else:
                    text.append(c)
            tokens.append((kind, bytes(text)))
        else:
            text = bytearray()
            while True:
                if field[i] == 92:
                    i += 1
                    if i >= n:
                        break
                text.append(field[i])
                i += 1
                if i >= n or field[i] in _NOT_ATOM:
                    break
            kind = ATOM
            if any(c < 32 or c > 126 or c in b")]\\" for c in text):
                kind = QUOTE
            tokens.append((kind, bytes(text)))
            continue
        i += 1
    return tokens


def _needspace(t1: int, t2: int) -> bool:
    if not t1:
        return False
    if t1 in (COLON, COMMA) or t2 == LEFT:
        return True
    return t1 in _WORDS and t2 in _WORDS


def unparse(tokens: list[Token], linelen: int) -> bytes:
    """The field text, ending in LF, folded as `,` LF two spaces where a line would exceed
    LINELEN."""
    s = bytearray()
    lineb = 0
    linee = -1

    def fold() -> None:
        nonlocal lineb, linee
        pos = len(s)
        s.extend(b"\n ")
        if linee >= 0 and (not linelen or pos - lineb <= linelen):
            del s[linee:linee + 2]
            linee = pos - 2
        else:
            if linee >= 0:
                lineb = linee + 1
            linee = pos

    last = 0
    for kind, text in tokens:
        if _needspace(last, kind):
            s.append(32)
        last = kind
        if kind == COMMA:
            s.append(44)
            fold()
        elif kind in _CHAR:
            s += _CHAR[kind]
        else:
            s += _OPEN[kind]
            for c in text:
                if c in _ESCAPED:
                    s.append(92)
                s.append(c)
            s += _CLOSE[kind]
    fold()
    del s[-1]
    return bytes(s)


def unquote(tokens: list[Token]) -> bytes:
    """The tokens as one address string: quotes dropped, comments left out."""
    out = bytearray()
    for kind, text in tokens:
        if kind in _CHAR:
            out += _CHAR[kind]
        elif kind == LITERAL:
            out += b"[" + text + b"]"
        elif kind in (ATOM, QUOTE):
            out += text
    return bytes(out)


def addrlist(tokens: list[Token], callback) -> list[Token] | None:
    """The field with every address rewritten by CALLBACK(reversed address tokens), or None
    for a malformed list. The first two tokens (field name and colon) are kept as they are."""
    out: list[Token] = []
    addr: list[Token] = []

    def got() -> None:
        callback(addr)
        out.extend(addr)
        addr.clear()

    ingroup = False
    wordok = True
    beginning = 2
    t = len(tokens) - 1
    while t >= beginning:
        kind = tokens[t][0]
        if kind == SEMI:
            if addr:
                got()
                out.append(COMMA_TOKEN)
            if ingroup:
                return None
            ingroup = True
            wordok = True
        elif kind == COLON:
            if addr:
                got()
            if not ingroup:
                return None
            ingroup = False
            while t >= beginning and tokens[t][0] != COMMA:
                out.append(tokens[t])
                t -= 1
            if t >= beginning:
                out.append(tokens[t])
                t -= 1
            wordok = True
            continue
        elif kind == RIGHT:
            if addr:
                got()
                out.append(COMMA_TOKEN)
            out.append(tokens[t])
            t -= 1
            while t >= beginning and tokens[t][0] != LEFT:
                addr.append(tokens[t])
                t -= 1
            got()                                  # even when empty: <>
            if t < beginning:
                return None
            out.append(tokens[t])
            t -= 1
            while t >= beginning and tokens[t][0] in (COMMENT, ATOM, QUOTE, AT, DOT):
                out.append(tokens[t])
                t -= 1
            wordok = False
            continue
        elif kind in (ATOM, QUOTE, LITERAL):
            if not wordok and addr:
                got()
                out.append(COMMA_TOKEN)
            wordok = False
            addr.append(tokens[t])
            t -= 1
            continue
        elif kind == COMMENT:
            pass                                   # lexically a space
        elif kind == COMMA:
            if addr:
                got()
            wordok = True
        else:
            wordok = True
            addr.append(tokens[t])
            t -= 1
            continue
        out.append(tokens[t])
        t -= 1
    if addr:
        got()
    t += 1
    while t > 0:
        t -= 1
        out.append(tokens[t])
    out.reverse()
    return out
