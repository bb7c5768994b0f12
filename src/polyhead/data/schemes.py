"""Tag schemes users write: BIO (IOB2), IOB1, BIOES (IOBES), BILOU and IO.

Everything inside polyhead is BIO: readers detect a file's scheme (or take the one given),
convert its tags with `to_bio`, and `from_bio` writes predictions back in the user's scheme.

| scheme | prefixes | an entity starts with                 | one-word entity | last word |
|--------|----------|---------------------------------------|-----------------|-----------|
| bio    | B I      | B                                     | B               | B or I    |
| iob1   | B I      | I; B only right after its own type    | I (or B)        | B or I    |
| bioes  | B I E S  | B                                     | S               | E         |
| bilou  | B I L U  | B                                     | U               | L         |
| io     | I        | I (adjacent entities of a type merge) | I               | I         |
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from seqeval.scheme import BILOU, IOBES

from polyhead.data.labels import repair_bio
from polyhead.data.textfile import warn_repairs
from polyhead.errors import DataError

log = logging.getLogger("polyhead")

SCHEMES = ("bio", "iob1", "bioes", "bilou", "io")
ALIASES = {"iob2": "bio", "iobes": "bioes"}
TAG_SCHEMES = ("auto", *SCHEMES, *ALIASES)  # what a reader's `tag_scheme` accepts

_PREFIXES = {"bio": "BI", "iob1": "BI", "bioes": "BIES", "bilou": "BILU", "io": "I"}
_ALL_PREFIXES = "BIESLU"
_AS_BIO = {"B": "B", "I": "I", "E": "I", "S": "B", "L": "I", "U": "B"}
_ENDS = {"bioes": ("E", "S"), "bilou": ("L", "U")}  # (last word of a span, single-word span)


def scheme_name(scheme: str) -> str:
    """The canonical name of a scheme or alias ("IOBES" -> "bioes")."""
    name = ALIASES.get(scheme.lower(), scheme.lower())
    if name not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {TAG_SCHEMES}")
    return name


def parse_tag(tag: str, prefixes: str = _ALL_PREFIXES) -> tuple[str, str]:
    """'S-PER' -> ('S', 'PER'); 'O' -> ('O', ''). ValueError for a prefix not in `prefixes`."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if len(prefix) != 1 or prefix not in prefixes or not sep or not kind:
        raise ValueError(tag)
    return prefix, kind


def _expected(prefixes: str) -> str:
    names = ["O", *(f"{p}-<type>" for p in prefixes)]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _fail(path, lines, s: int, t: int, message: str):
    if lines:
        raise DataError(path or "<tags>", lines[s][t], message)
    raise DataError(path or "<tags>", None, f"sequence {s + 1}: {message}")


def detect_scheme(
    tag_sequences: Sequence[Sequence[str]],
    path: object = None,
    lines: Sequence[Sequence[int]] = (),
) -> str:
    """The scheme the tags are written in, from the prefixes seen.

    E or S -> bioes; L or U -> bilou; only I (and O) -> io; B and I -> iob1 when every B-X
    directly follows an X word and some I-X starts a span, else bio (an I-X starting a span
    next to B-X starting others is a BIO error that `repair_bio` reads as B-X). `lines[s][t]`,
    when given, is the line of tag t of sequence s in `path`, for the one-line errors: a tag
    in no scheme, or a file that mixes BIOES and BILOU prefixes.
    """
    first: dict[str, tuple[str, int, int]] = {}  # scheme family -> first tag that showed it
    has_b = b_start = i_start = False
    for s, tags in enumerate(tag_sequences):
        prev = ""
        for t, tag in enumerate(tags):
            try:
                prefix, kind = parse_tag(tag)
            except ValueError:
                _fail(
                    path,
                    lines,
                    s,
                    t,
                    f"tag {t + 1} is {tag!r}; expected {_expected(_ALL_PREFIXES)}",
                )
            family = "bioes" if prefix in "ES" else "bilou" if prefix in "LU" else None
            if family:
                first.setdefault(family, (tag, s, t))
                if len(first) == 2:
                    _mixed(path, lines, first, family, tag, s, t)
            has_b |= prefix == "B"
            b_start |= prefix == "B" and prev != kind
            i_start |= prefix == "I" and prev != kind
            prev = kind
    if first:
        return next(iter(first))
    if i_start and not b_start:
        return "iob1" if has_b else "io"
    return "bio"


def _mixed(path, lines, first, family, tag, s, t):
    other = "bilou" if family == "bioes" else "bioes"
    seen, s0, t0 = first[other]
    at = f"line {lines[s0][t0]}" if lines else f"sequence {s0 + 1}, tag {t0 + 1}"
    _fail(
        path,
        lines,
        s,
        t,
        f"tag {t + 1} is {tag!r} ({family.upper()}) but {seen!r} ({at}) is "
        f"{other.upper()}; expected one tag scheme per file",
    )


def check_scheme(
    tag_sequences: Sequence[Sequence[str]],
    scheme: str,
    path: object = None,
    lines: Sequence[Sequence[int]] = (),
) -> None:
    """Every tag is O or a prefix of `scheme`; else a one-line error at the tag."""
    prefixes = _PREFIXES[scheme_name(scheme)]
    for s, tags in enumerate(tag_sequences):
        for t, tag in enumerate(tags):
            try:
                parse_tag(tag, prefixes)
            except ValueError:
                _fail(
                    path,
                    lines,
                    s,
                    t,
                    f"tag {t + 1} is {tag!r}, not {scheme_name(scheme).upper()}; "
                    f"expected {_expected(prefixes)}",
                )


def to_bio(tags: Sequence[str], scheme: str) -> list[str]:
    """Tags of `scheme` rewritten in BIO (E and L read as I, S and U as B; in iob1 and io an
    I-X that continues no X span starts one).

    Well-formed input gives well-formed BIO. An ill-formed continuation in bio, bioes or
    bilou (I-X or E-X after O) stays I-X, for `repair_bio` to count, repair or refuse.
    """
    scheme = scheme_name(scheme)
    out, prev = [], ""
    for tag in tags:
        prefix, kind = parse_tag(tag, _PREFIXES[scheme])
        if prefix != "O":
            prefix = _AS_BIO[prefix]
            if scheme in ("iob1", "io") and prefix == "I" and prev != kind:
                prefix = "B"
        out.append("O" if prefix == "O" else f"{prefix}-{kind}")
        prev = kind
    return out


def from_bio(tags: Sequence[str], scheme: str) -> list[str]:
    """BIO tags written in `scheme` (for predictions in the user's own scheme).

    An I-X that continues no span is read as B-X first. Round trips: `to_bio(from_bio(t, s),
    s) == t` for well-formed BIO `t` and every scheme but io, which cannot tell two adjacent
    entities of one type from one entity.
    """
    scheme = scheme_name(scheme)
    bio, _ = repair_bio(tags)
    spans = [parse_tag(tag, "BI") for tag in bio]
    out, prev = [], ""
    for i, (prefix, kind) in enumerate(spans):
        continued = i + 1 < len(spans) and spans[i + 1] == ("I", kind)
        if prefix != "O":
            if scheme == "io" or (scheme == "iob1" and prev != kind):
                prefix = "I"  # iob1 keeps B only where an entity follows one of its type
            elif scheme in _ENDS and not continued:
                prefix = _ENDS[scheme][prefix == "B"]
        out.append("O" if prefix == "O" else f"{prefix}-{kind}")
        prev = kind
    return out


def seqeval_mode(scheme: str) -> dict:
    """Keyword arguments for seqeval's metrics on tags written in `scheme`.

    bioes and bilou get seqeval's strict mode with their scheme: the default (conlleval)
    mode does not know L- and U- at all, and strict mode refuses ill-formed entities in
    either. bio, iob1 and io are read right by the default mode.
    """
    scheme = scheme_name(scheme)
    strict = {"bioes": IOBES, "bilou": BILOU}
    return {"mode": "strict", "scheme": strict[scheme]} if scheme in strict else {}


def tags_to_bio(
    path: object,
    tag_sequences: Sequence[Sequence[str]],
    lines: Sequence[Sequence[int]],
    tag_scheme: str = "auto",
    strict_bio: bool = False,
) -> tuple[list[list[str]], str]:
    """All tag sequences of one file, in BIO, and the scheme they were written in: the
    scheme detected (`auto`) or checked, logged once, the tags converted, and I-X that
    continue nothing repaired (one warning for the file) or refused (`strict_bio`).
    `lines[s][t]` is the file line of tag t of sequence s. Readers keep the scheme on each
    Example (`tag_scheme`), so evaluation scores in its seqeval mode.

    With `strict_bio`, `auto` never picks iob1 or io: their I-X starting a span is exactly
    what strict BIO refuses, and a file with no B-X after O cannot tell them from broken BIO.
    """
    if tag_scheme == "auto":
        scheme = detect_scheme(tag_sequences, path, lines)
        if strict_bio and scheme in ("iob1", "io"):
            scheme = "bio"
    else:
        scheme = scheme_name(tag_scheme)
        check_scheme(tag_sequences, scheme, path, lines)
    if any(tag_sequences):
        how = "detected" if tag_scheme == "auto" else "given"
        log.info("%s: tags read as %s (%s)", path, scheme.upper(), how)
    out, n_repaired = [], 0
    for tags, tag_lines in zip(tag_sequences, lines, strict=True):
        where = f"{path}:{tag_lines[0]}" if tag_lines else str(path)
        bio, n = repair_bio(to_bio(tags, scheme), strict_bio, where, lines=tag_lines, written=tags)
        out.append(bio)
        n_repaired += n
    warn_repairs(path, n_repaired)
    return out, scheme
