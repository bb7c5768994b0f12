"""CSV with a header row: one sentence per record, a text column and a label column."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from polyhead.data.example import Example
from polyhead.data.textfile import read_text
from polyhead.errors import DataError

# Tried, in order, when the configured column name is the default and is not in the header.
TEXT_COLUMNS = ("text", "sentence", "utterance", "utt", "query")
LABEL_COLUMNS = ("label", "category", "intent", "class")


def read_csv(path: Path, text_field: str = "text", label_field: str = "label") -> list[Example]:
    """Examples from a CSV file parsed by the csv module (quoted fields may hold newlines).

    Error line numbers are the physical line where the record starts.
    """
    # strict: a quote never closed is an error, not a field that swallows the rest of the file
    reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
    header = _next_row(reader, path)
    text_col = _column(path, header, text_field, TEXT_COLUMNS, "text")
    label_col = None
    if len(header) > 1 or label_field != "label":
        label_col = _column(path, header, label_field, LABEL_COLUMNS, "label")
    pair_col = header.index("text_pair") if "text_pair" in header else None
    examples = []
    while True:
        start = reader.line_num + 1
        row = _next_row(reader, path, start)
        if row is None:
            break
        if not row:
            continue  # blank line
        if len(row) != len(header):
            raise DataError(
                path, start, f"{len(row)} fields; expected {len(header)} like the header {header}"
            )
        label = row[label_col] if label_col is not None else None
        ex = Example.from_text(row[text_col], label=label, source=f"{path}:{start}")
        if pair_col is not None:  # pair tasks: the second text, encoded with the first
            ex.text_pair = row[pair_col]
        examples.append(ex)
    return examples


def _next_row(reader, path: Path, start: int | None = None) -> list[str] | None:
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as e:
        raise DataError(
            path,
            start or reader.line_num,  # the record's first line: where its quote opened
            f"CSV error ({e}); expected well-formed CSV with quoted fields closed",
        ) from None


def _column(path: Path, header: list[str], name: str, fallbacks: tuple, role: str) -> int:
    if name in header:
        return header.index(name)
    default = fallbacks[0]
    if name == default:
        for candidate in fallbacks:
            if candidate in header:
                return header.index(candidate)
    hint = f"'{name}'" if name != default else " or ".join(repr(c) for c in fallbacks)
    raise DataError(
        path,
        1,
        f"header {header} has no {role} column; expected {hint} (set {role}_field to choose one)",
    )
