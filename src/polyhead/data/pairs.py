"""Sentence pairs for training and scoring the embedding: `read_pairs(path) -> list[Pair]`.

Two kinds of record, one kind per file:
- retrieval triples `{"anchor", "positive", "negative"?}` (in-batch negatives loss);
- scored pairs `{"text", "text_pair", "score"}` (CoSENT / cosine loss, STS-style scoring);
  `sentence1` / `sentence2` are read as `text` / `text_pair` (GLUE's STS-B column names).
Files are JSON lines or CSV with a header naming those columns, or CSV without a header of
rows `text,text_pair,score` (the STS benchmark files as distributed, e.g. stsb-multi-mt).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from polyhead.data.jsonl import field, json_records
from polyhead.data.textfile import read_text
from polyhead.errors import DataError

TRIPLE = ("anchor", "positive", "negative")
SCORED = ("text", "text_pair", "score")
_ALIASES = {"sentence1": "text", "sentence2": "text_pair"}
_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass
class Pair:
    """Two sentences and how they relate: a gold `score` (scored pairs) or an optional hard
    `negative` for `text` (retrieval triples, where `text_pair` is the positive)."""

    text: str
    text_pair: str
    score: float | None = None
    negative: str | None = None
    source: str | None = None  # "path:line", for error messages downstream


def read_pairs(path: str | Path) -> list[Pair]:
    """Pairs from a JSONL or CSV file (by suffix, else by a first character `{`).

    Malformed input raises DataError naming `path:line` and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "no such file; expected a JSONL or CSV file of pairs")
    text = read_text(path)
    records = _json_rows(path) if _is_json(path, text) else _csv_rows(path, text)
    pairs, kind = [], None
    for line, record in records:
        kind = kind or _kind(record, path, line)
        pairs.append(_pair(record, kind, path, line))
    return pairs


def _is_json(path: Path, text: str) -> bool:
    if path.suffix.lower() in _JSON_SUFFIXES:
        return True
    return path.suffix.lower() != ".csv" and text.lstrip().startswith("{")


def _kind(record: dict, path: Path, line: int) -> tuple[str, ...]:
    """The first record decides the file's kind; later records must follow it."""
    if "anchor" in record:
        return TRIPLE
    if "text" in record:
        return SCORED
    raise DataError(path, line, f"fields {sorted(record)}; expected {_expected()}")


def _pair(record: dict, kind: tuple[str, ...], path: Path, line: int) -> Pair:
    where = (path, line)
    first, second = (_sentence(record, name, where, kind) for name in kind[:2])
    source = f"{path}:{line}"
    if kind == TRIPLE:
        negative = record.get("negative")
        if negative is not None:
            negative = _sentence(record, "negative", where, kind)
        return Pair(first, second, negative=negative, source=source)
    return Pair(first, second, score=_score(record.get("score"), where), source=source)


def _sentence(record: dict, name: str, where: tuple[Path, int], kind) -> str:
    if name not in record:
        present = sorted(record)
        raise DataError(*where, f"missing field {name!r}; present {present}; expected {kind}")
    value = field(record, name, str, where)
    if not value.strip():
        raise DataError(*where, f"field {name!r} is empty; expected a sentence")
    return value


def _score(value, where: tuple[Path, int]) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise DataError(*where, f"score {value!r}; expected a number") from None
    if value is None:
        raise DataError(*where, f"missing score; expected {SCORED}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(*where, f"score {value!r}; expected a finite number")
    return float(value)


def _json_rows(path: Path) -> Iterator[tuple[int, dict]]:
    for line, record in json_records(path):
        yield line, {_ALIASES.get(k, k): v for k, v in record.items()}


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    """(line, record) per CSV row; a header is recognised by its column names."""
    rows = _physical_rows(path, text)
    first = next(rows, None)
    if first is None:
        return
    line, header = first
    columns = [_ALIASES.get(c.strip(), c.strip()) for c in header]
    if not set(columns) & {"anchor", "text"}:
        if not (len(header) == 3 and _is_number(header[2])):
            raise DataError(path, line, f"first row {header}; expected a header {_expected()}")
        columns = list(SCORED)  # headerless STS layout: the first row is data
        yield line, dict(zip(columns, header, strict=True))
    for line, row in rows:
        if len(row) != len(columns):
            raise DataError(path, line, f"{len(row)} fields; expected {len(columns)}: {columns}")
        # an empty negative cell means "no hard negative"; any other empty cell is an error
        yield line, {c: v for c, v in zip(columns, row, strict=True) if v or c != "negative"}


def _physical_rows(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line each starts on (quoted fields may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # unclosed quote: error
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(path, start, f"CSV error ({e}); expected well-formed CSV") from None
        if row:
            yield start, row


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _expected() -> str:
    return f"{list(TRIPLE[:2])} (+ optional 'negative') or {list(SCORED)}"
