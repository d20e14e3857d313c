"""djb's sgetopt: getopt for the qmail programs (pure).

Options are clustered (`-nN`), an option taking an argument takes the rest of its word or the
next word, a word starting with `--` ends the options (and is skipped, as subgetopt.c does),
and so do the first non-option word (no permutation) and a lone `-`. An unknown option or a missing argument is reported, as the C does on stderr, as
`PROG: illegal option -- X` or `PROG: option requires an argument -- X`, and yields '?'.
"""

# (options, args, errors): options as (letter or '?', argument) pairs, the remaining
# arguments, and the lines sgetopt prints on stderr. A plain tuple (no dataclass): the
# programs using it start once per delivery or per connection.
Parsed = tuple[list[tuple[str, str | None]], list[str], list[str]]


def getopt(prog: str, argv: list[str], spec: str, attached: str = "") -> Parsed:
    """Parse argv (without argv[0]) against spec ("nNf:"); stops at the first '?' like callers do.
    Letters in ATTACHED take the rest of their word, possibly empty, as an optional argument
    (sendmail's -E and -J)."""
    options: list[tuple[str, str | None]] = []
    errors: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word.startswith("--"):       # subgetopt: any word starting "--" ends the options
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        pos = 1
        i += 1
        while pos < len(word):
            letter = word[pos]
            pos += 1
            where = spec.find(letter)
            if letter == ":" or where == -1:
                errors.append(f"{prog}: illegal option -- {letter}")
                options.append(("?", letter))
                return options, argv[i:], errors
            if letter in attached:
                options.append((letter, word[pos:]))
                break
            if spec[where + 1: where + 2] == ":":
                if pos < len(word):
                    options.append((letter, word[pos:]))
                elif i < len(argv):
                    options.append((letter, argv[i]))
                    i += 1
                else:
                    errors.append(f"{prog}: option requires an argument -- {letter}")
                    options.append(("?", letter))
                    return options, argv[i:], errors
                break
            options.append((letter, None))
    return options, argv[i:], errors
