"""CoNLL-style column files (token, ..., tag per line; blank line between sentences)."""

from __future__ import annotations

from pathlib import Path

from polyhead.data.example import Example
from polyhead.data.schemes import tags_to_bio
from polyhead.data.textfile import read_text, text_lines
from polyhead.errors import DataError

DOCSTART = "-DOCSTART-"


def read_conll(
    path: Path, tag_column: int = -1, strict_bio: bool = False, tag_scheme: str = "auto"
) -> list[Example]:
    """One Example per sentence. A line of only whitespace (some files use a lone TAB) ends a
    sentence; a -DOCSTART- line starts a document (`Example.document`); a file with one column
    gives tokens without tags.
    Tags in any scheme of data/schemes.py are read as BIO.
    """
    sentences, documents = _sentences(path, text_lines(read_text(path)))
    if not sentences:
        raise DataError(path, 1, f"no sentences (only {DOCSTART} lines); expected token lines")
    n_cols = len(sentences[0][0][1])
    examples = []
    for rows, document in zip(sentences, documents, strict=True):
        tokens, tags = _columns(path, rows, n_cols, tag_column)
        ex = Example(tokens, tags, source=f"{path}:{rows[0][0]}")
        ex.document = document
        examples.append(ex)
    if n_cols > 1:
        lines = [[number for number, _ in rows] for rows in sentences]
        bio, scheme = tags_to_bio(path, [ex.tags for ex in examples], lines, tag_scheme, strict_bio)
        for ex, tags in zip(examples, bio, strict=True):
            ex.tags, ex.tag_scheme = tags, scheme
    return examples


def _sentences(path: Path, lines: list[str]):
    """Group (line number, columns) rows into sentences, and name each sentence's document:
    the line of the -DOCSTART- that opened it ("path:line"), None in a file without any."""
    sentences, documents, current, document = [], [], [], None
    for number, line in enumerate(lines, start=1):
        cols = _split(line)
        if not cols or cols[0] == DOCSTART:
            if current:
                sentences.append(current)
                documents.append(document)
            current = []
            if cols:
                document = f"{path}:{number}"
            continue
        current.append((number, cols))
    if current:
        sentences.append(current)
        documents.append(document)
    return sentences, documents


def _split(line: str) -> list[str]:
    # Tab-separated files may hold tokens with spaces; otherwise any whitespace separates.
    if "\t" in line and line.strip():
        return [c.strip() for c in line.strip().split("\t")]
    return line.split()


def _columns(path: Path, rows, n_cols: int, tag_column: int):
    tokens, tags = [], []
    for number, cols in rows:
        if len(cols) != n_cols:
            raise DataError(
                path,
                number,
                f"{len(cols)} columns; expected {n_cols} (as on the file's first token line)",
            )
        tokens.append(cols[0])
        if n_cols > 1:
            tags.append(_tag(path, number, cols, tag_column))
    return tokens, (tags if n_cols > 1 else None)


def _tag(path: Path, number: int, cols: list[str], tag_column: int) -> str:
    if not -len(cols) <= tag_column < len(cols):
        raise DataError(
            path,
            number,
            f"no column {tag_column} (line has {len(cols)} columns); "
            "expected tag_column to index an existing column",
        )
    return cols[tag_column]
