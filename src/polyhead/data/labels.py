"""Label inventories (ordered names <-> ids) and BIO tag checking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from polyhead.data.example import Example
from polyhead.errors import DataError

OUTSIDE = "O"


class LabelSet:
    """An ordered list of label names; a label's id is its position.

    The order is fixed when the set is built from training data and saved with the model,
    so ids mean the same thing at training, evaluation and prediction time.
    """

    def __init__(self, names: Iterable[str]):
        self.names: list[str] = list(names)
        self._ids = {name: i for i, name in enumerate(self.names)}
        if len(self._ids) != len(self.names):
            dupes = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"duplicate label names: {dupes}")

    @classmethod
    def for_sentences(cls, examples: Iterable[Example]) -> LabelSet:
        """Sorted sentence labels seen in examples (unlabelled examples are skipped)."""
        return cls(sorted({ex.label for ex in examples if ex.label is not None}))

    @classmethod
    def for_tags(cls, examples: Iterable[Example]) -> LabelSet:
        """'O', then B-X and I-X for every entity type X seen, types sorted.

        Both B and I are included even if only one was seen, so a model can predict a
        continuation of any type it knows.
        """
        return cls.for_tag_names(t for ex in examples for t in (ex.tags or []))

    @classmethod
    def for_tag_names(cls, tags: Iterable[str]) -> LabelSet:
        """The tag set of `for_tags` from the tags seen (each may appear any number of times)."""
        types = {split_tag(t)[1] for t in tags if t != OUTSIDE}
        return cls([OUTSIDE] + [f"{p}-{x}" for x in sorted(types) for p in ("B", "I")])

    def id(self, name: str) -> int:
        try:
            return self._ids[name]
        except KeyError:
            raise KeyError(f"unknown label {name!r} (known: {len(self)} labels)") from None

    def encode(self, name: str, unknown: int = -1) -> int:
        """Id of name, or `unknown` for a label the set has never seen (never raises)."""
        return self._ids.get(name, unknown)

    def name(self, i: int) -> str:
        return self.names[i]

    def __contains__(self, name: object) -> bool:
        return name in self._ids

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return iter(self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSet) and self.names == other.names

    def __repr__(self) -> str:
        return f"LabelSet({self.names!r})"

    def to_dict(self) -> dict:
        return {"names": list(self.names)}

    @classmethod
    def from_dict(cls, data: dict) -> LabelSet:
        return cls(data["names"])


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''). Raises ValueError for anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, kind = tag.partition("-")
    if prefix not in ("B", "I") or not sep or not kind:
        raise ValueError(tag)
    return prefix, kind


def repair_bio(
    tags: Sequence[str],
    strict: bool = False,
    where: str = "",
    *,
    lines: Sequence[int] = (),
    written: Sequence[str] = (),
) -> tuple[list[str], int]:
    """Make tags valid BIO: an I-X that does not continue an X span becomes B-X.

    Returns (tags, number repaired). With strict=True such an I-X raises instead. `where`
    ("path:line") prefixes error messages; `lines`, when given, is each tag's own line number
    so the message points at the tag; `written`, when given, is each tag as the file wrote
    it in another scheme (data/schemes.py), for the message. Tags outside O / B-x / I-x
    always raise.
    """
    out, repaired, prev = [], 0, ""
    for i, tag in enumerate(tags):
        try:
            prefix, kind = split_tag(tag)
        except ValueError:
            _fail(where, lines, i, f"tag {i + 1} is {tag!r}; expected O, B-<type> or I-<type>")
        if prefix == "I" and prev != kind:
            if strict:
                shown = (
                    f"{written[i]!r} (BIO {tag!r})" if written and written[i] != tag else repr(tag)
                )
                _fail(
                    where,
                    lines,
                    i,
                    f"tag {i + 1} is {shown} but does not continue a {kind} span "
                    f"(expected B-{kind}; strict_bio is on)",
                )
            tag, repaired = f"B-{kind}", repaired + 1
        out.append(tag)
        prev = kind
    return out, repaired


def _fail(where: str, lines: Sequence[int], i: int, message: str):
    path, _, line = where.rpartition(":")
    if path and line.isdigit():
        raise DataError(path, lines[i] if lines else int(line), message)
    raise DataError(where or "<tags>", None, message)
