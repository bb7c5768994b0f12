"""The seq.in / seq.out / label layout (ATIS, SNIPS): parallel files, one sentence per line.

Either the three files sit directly in the folder (no split), or each split has its own
subfolder (`train/seq.in`, ...) whose name becomes the examples' split.
"""

from __future__ import annotations

from pathlib import Path

from polyhead.data.example import Example
from polyhead.data.schemes import tags_to_bio
from polyhead.data.textfile import read_text, text_lines
from polyhead.errors import DataError

WORDS, TAGS, LABELS = "seq.in", "seq.out", "label"


def is_seqio_folder(path: Path) -> bool:
    return (path / WORDS).is_file() or bool(_split_folders(path))


def read_seqio(
    path: Path, split: str | None = None, strict_bio: bool = False, tag_scheme: str = "auto"
) -> list[Example]:
    if (path / WORDS).is_file():
        return _read_folder(path, None, strict_bio, tag_scheme)
    folders = _split_folders(path)
    if not folders:
        raise DataError(
            path,
            None,
            f"no {WORDS} here or in a split subfolder; expected "
            f"{WORDS}, {TAGS}, {LABELS} (or train/{WORDS}, ...)",
        )
    if split is not None:
        folders = [f for f in folders if f.name == split] or folders
    return [
        ex for folder in folders for ex in _read_folder(folder, folder.name, strict_bio, tag_scheme)
    ]


def _split_folders(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and (p / WORDS).is_file())


def _read_folder(
    folder: Path, split: str | None, strict_bio: bool, tag_scheme: str
) -> list[Example]:
    words_path = folder / WORDS
    lines = text_lines(read_text(words_path))
    tag_lines = _parallel(folder / TAGS, len(lines), words_path)
    labels = _parallel(folder / LABELS, len(lines), words_path)
    examples = []
    for i, line in enumerate(lines):
        ex = Example.from_text(line, split=split, source=f"{words_path}:{i + 1}")
        if labels is not None:
            ex.label = labels[i].strip()
        if tag_lines is not None:
            ex.tags = _tags(folder / TAGS, i + 1, tag_lines[i], ex)
        examples.append(ex)
    if tag_lines is not None:
        tags = [ex.tags for ex in examples]
        numbers = [[i + 1] * len(t) for i, t in enumerate(tags)]
        bio, scheme = tags_to_bio(folder / TAGS, tags, numbers, tag_scheme, strict_bio)
        for ex, ex_tags in zip(examples, bio, strict=True):
            ex.tags, ex.tag_scheme = ex_tags, scheme
    return examples


def _parallel(path: Path, n_lines: int, words_path: Path) -> list[str] | None:
    """Lines of a file parallel to seq.in (None if absent); its length must match."""
    if not path.is_file():
        return None
    lines = text_lines(read_text(path))
    if len(lines) != n_lines:
        raise DataError(
            path,
            min(len(lines), n_lines) + 1,
            f"{len(lines)} lines; expected {n_lines}, one per line of {words_path}",
        )
    return lines


def _tags(path: Path, number: int, line: str, ex: Example) -> list[str]:
    tags = line.split()
    if len(tags) != len(ex.tokens):
        raise DataError(
            path,
            number,
            f"{len(tags)} tags for {len(ex.tokens)} words of "
            f"{WORDS} line {number}; expected one tag per word",
        )
    return tags
