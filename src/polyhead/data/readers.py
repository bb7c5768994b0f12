"""One entry point for every supported data format: `read_examples(path) -> list[Example]`."""

from __future__ import annotations

import json
from pathlib import Path

from polyhead.data.conll import read_conll
from polyhead.data.example import Example
from polyhead.data.jsonl import MASSIVE_FIELDS, read_jsonl, read_massive
from polyhead.data.pair_examples import read_pair_examples
from polyhead.data.schemes import scheme_name
from polyhead.data.seqio import is_seqio_folder, read_seqio
from polyhead.data.tabular import read_csv
from polyhead.data.words import MODES as WORDS_MODES
from polyhead.errors import DataError

FORMATS = ("conll", "massive", "jsonl", "csv", "seqio", "pairs")
_BY_SUFFIX = {
    ".conll": "conll",
    ".conllu": "conll",
    ".bio": "conll",
    ".iob": "conll",
    ".iob2": "conll",
    ".tsv": "conll",
    ".txt": "conll",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
}


def read_examples(
    path: str | Path,
    format: str | None = None,
    split: str | None = None,
    *,
    tag_column: int = -1,
    text_field: str = "text",
    label_field: str = "label",
    strict_bio: bool = False,
    tag_scheme: str = "auto",
    words_mode: str = "whitespace",
) -> list[Example]:
    """Read a data file (or seq.in/seq.out folder) into Examples.

    `format` overrides detection (see `detect_format`). `split` keeps only examples of that
    split (MASSIVE `partition`, a JSONL `split` field, a seqio subfolder); it is ignored
    for files that carry no split information. `tag_scheme` is the scheme token tags are
    written in (data/schemes.py; "auto" detects it per file); tags are returned as BIO.
    `words_mode` splits a JSONL `text` into words (data/words.py; other formats give their
    words one per line or separated by spaces).
    Malformed input raises DataError naming `path:line` and what was expected.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise DataError(
            path, None, "a symbolic link that leads nowhere (a loop, or a missing target)"
        )
    if not path.exists():
        raise DataError(path, None, "no such file or directory; expected a data file or folder")
    if tag_scheme != "auto":
        scheme_name(tag_scheme)  # an unknown name fails even for a file without tags
    if words_mode not in WORDS_MODES:
        raise ValueError(f"unknown words mode {words_mode!r}; expected one of {WORDS_MODES}")
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(path, None, f"unknown format {fmt!r}; expected one of {FORMATS}")
    if fmt == "seqio":
        examples = read_seqio(path, split, strict_bio, tag_scheme)
    elif path.is_dir():
        raise DataError(path, None, f"a folder; expected a {fmt} file")
    elif fmt == "conll":
        examples = read_conll(path, tag_column, strict_bio, tag_scheme)
    elif fmt == "massive":
        examples = read_massive(path)
    elif fmt == "jsonl":
        examples = read_jsonl(path, text_field, label_field, strict_bio, tag_scheme, words_mode)
    elif fmt == "pairs":  # scored text pairs (STS): only by name, never detected
        examples = read_pair_examples(path)
    else:
        examples = read_csv(path, text_field, label_field)
    return _only_split(path, examples, split)


def _only_split(path: Path, examples: list[Example], split: str | None) -> list[Example]:
    present = sorted({ex.split for ex in examples if ex.split is not None})
    if split is None or not present:
        return examples
    if split not in present:
        raise DataError(path, None, f"no examples in split {split!r}; expected one of {present}")
    return [ex for ex in examples if ex.split == split]


def detect_format(path: str | Path) -> str:
    """The format name for a path: by folder layout, then extension, then first line.

    A JSONL file whose first record has MASSIVE's `annot_utt` and `utt` keys is "massive".
    """
    path = Path(path)
    if path.is_dir():
        if is_seqio_folder(path):
            return "seqio"
        raise DataError(
            path,
            None,
            "a folder without seq.in files; expected a data file or a seq.in/seq.out/label folder",
        )
    fmt = _BY_SUFFIX.get(path.suffix.lower())
    first = _first_line(path)
    if fmt in (None, "jsonl") and first.lstrip().startswith("{"):
        return "massive" if _is_massive(first) else "jsonl"
    if fmt is None and "\t" in first:
        fmt = "conll"  # e.g. WNUT's emerging.test.annotated
    if fmt is None:
        raise DataError(
            path,
            None,
            f"cannot tell the format from suffix {path.suffix!r} or "
            f"content; expected one of {sorted(_BY_SUFFIX)} or format= {FORMATS}",
        )
    return fmt


def _first_line(path: Path) -> str:
    """The first non-blank line, decoded leniently (the reader reports bad bytes properly)."""
    with path.open("rb") as f:
        for raw in f:
            line = raw.decode("utf-8-sig", errors="replace").strip()
            if line:
                return line
    return ""


def _is_massive(line: str) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and all(k in record for k in MASSIVE_FIELDS)
