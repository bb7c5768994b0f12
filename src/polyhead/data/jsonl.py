"""JSON-lines readers: generic (text/tokens, label, tags or entity spans) and MASSIVE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from polyhead.data.example import Example, split_words
from polyhead.data.kind_labels import record_label
from polyhead.data.schemes import tags_to_bio
from polyhead.data.textfile import read_text, text_lines
from polyhead.data.words import split_words as split_text
from polyhead.errors import DataError

MASSIVE_FIELDS = ("utt", "annot_utt", "intent")


def json_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; each must be one JSON object."""
    for number, line in enumerate(text_lines(read_text(path)), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                path,
                number,
                f"invalid JSON ({e.msg} at column {e.colno}); expected one JSON object per line",
            ) from None
        if not isinstance(record, dict):
            raise DataError(path, number, f"a JSON {type(record).__name__}; expected an object")
        yield number, record


def field(record: dict, name: str, kind: type | tuple, where: tuple[Path, int], required=True):
    """record[name] checked against kind; None when absent and not required."""
    if name not in record or record[name] is None:
        if required:
            raise DataError(*where, f"missing field {name!r}; present: {sorted(record)}")
        return None
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(*where, f"field {name!r} is a {type(value).__name__}; expected {names}")
    return value


def _string_list(record: dict, name: str, where: tuple[Path, int]) -> list[str] | None:
    values = field(record, name, list, where, required=False)
    if values is not None and not all(isinstance(v, str) for v in values):
        raise DataError(*where, f"field {name!r} holds a non-string; expected a list of strings")
    return values


# --- MASSIVE -------------------------------------------------------------------------------


def read_massive(path: Path) -> list[Example]:
    """MASSIVE rows: words of `utt`, BIO tags from `annot_utt`, label `intent`, split
    `partition`."""
    examples = []
    for number, record in json_records(path):
        where = (path, number)
        utt, annot, intent = (field(record, k, str, where) for k in MASSIVE_FIELDS)
        words, offsets = split_words(utt)
        annot_words, tags = parse_brackets(annot, where)
        if annot_words != words:
            raise DataError(
                *where,
                f"annot_utt without its brackets gives {annot_words}; "
                f"expected the words of utt {words}",
            )
        examples.append(
            Example(
                words,
                tags,
                intent,
                text=utt,
                offsets=offsets,
                split=field(record, "partition", str, where, required=False),
                source=f"{path}:{number}",
            )
        )
    return examples


def parse_brackets(annot: str, where=None) -> tuple[list[str], list[str]]:
    """Words and BIO tags of an inline `[slot : words]` annotation (whitespace words).

    A word takes the slot of its first character; the first word of each bracket is B-.
    """
    plain, char_slots = _strip_brackets(annot, where)
    words, offsets = split_words(plain)
    tags, previous_span = [], None
    for start, _ in offsets:
        span = char_slots[start]
        if span is None:
            tags.append("O")
        else:
            tags.append(("I-" if span == previous_span else "B-") + span[1])
        previous_span = span
    return words, tags


def _strip_brackets(annot: str, where=None) -> tuple[str, list]:
    """(text without brackets, per character (bracket index, slot) or None outside slots)."""
    plain: list[str] = []
    slots: list = []
    pos = 0
    while pos < len(annot):
        if annot[pos] == "]":
            _bracket_error(where, f"']' at column {pos + 1} closes no '['")
        if annot[pos] != "[":
            plain.append(annot[pos])
            slots.append(None)
            pos += 1
            continue
        end = _closing(annot, pos, where)
        slot, words = _slot_and_words(annot[pos + 1 : end], pos, where)
        plain.extend(words)
        slots.extend([(pos, slot)] * len(words))
        pos = end + 1
    return "".join(plain), slots


def _closing(annot: str, pos: int, where) -> int:
    for i in range(pos + 1, len(annot)):
        if annot[i] == "[":
            _bracket_error(
                where, f"'[' at column {i + 1} is nested inside the '[' at column {pos + 1}"
            )
        if annot[i] == "]":
            return i
    _bracket_error(where, f"'[' at column {pos + 1} is never closed")
    raise AssertionError  # unreachable; _bracket_error raises


def _slot_and_words(inner: str, pos: int, where) -> tuple[str, str]:
    slot, sep, words = inner.partition(" : ")
    if not sep or not slot.strip() or not words.strip():
        _bracket_error(where, f"'[{inner}]' at column {pos + 1} is not '[slot : words]'")
    return slot.strip(), words.strip()


def _bracket_error(where, problem: str):
    raise DataError(
        *(where or ("<annot_utt>", None)),
        f"annot_utt: {problem}; expected '[slot : words]' brackets",
    )


# --- generic JSONL -------------------------------------------------------------------------


def read_jsonl(
    path: Path,
    text_field: str = "text",
    label_field: str = "label",
    strict_bio: bool = False,
    tag_scheme: str = "auto",
    words_mode: str = "whitespace",
) -> list[Example]:
    """Objects with `text` or `tokens`, optional `label`, `split`, `doc_id` (the document a
    sentence belongs to, in order), and `tags` or `entities`.

    `tags` may be in any scheme of data/schemes.py (read as BIO); `entities` give BIO.
    A `text` is split into words by `words_mode` (data/words.py).
    """
    examples, tagged = [], []
    for number, record in json_records(path):
        ex = _jsonl_example(record, (path, number), text_field, label_field, words_mode)
        if record.get("tags") is not None:
            tagged.append((ex, number))
        examples.append(ex)
    if tagged:
        tags = [ex.tags for ex, _ in tagged]
        lines = [[number] * len(t) for (_, number), t in zip(tagged, tags, strict=True)]
        bio, scheme = tags_to_bio(path, tags, lines, tag_scheme, strict_bio)
        for (ex, _), ex_tags in zip(tagged, bio, strict=True):
            ex.tags, ex.tag_scheme = ex_tags, scheme
    return examples


def _jsonl_example(
    record: dict, where, text_field: str, label_field: str, words_mode: str
) -> Example:
    tokens = _string_list(record, "tokens", where)
    text = field(record, text_field, str, where, required=tokens is None)
    if tokens is None and text is None:
        raise DataError(*where, f"missing field {text_field!r} or 'tokens'")
    if tokens is not None:
        ex = Example(tokens, text=text or "")
    elif words_mode == "whitespace":
        ex = Example.from_text(text)
    else:
        words, offsets = split_text(text, words_mode)
        ex = Example(words, text=text, offsets=offsets)
    # a string or integer is a sentence label; lists and numbers serve the other task kinds
    record_label(ex, record.get(label_field), where)
    ex.text_pair = field(record, "text_pair", str, where, required=False)
    ex.split = field(record, "split", str, where, required=False)
    document = field(record, "doc_id", (str, int), where, required=False)
    ex.document = None if document is None else str(document)
    ex.source = f"{where[0]}:{where[1]}"
    ex.tags = _tags(record, ex, where)
    return ex


def _tags(record: dict, ex: Example, where) -> list[str] | None:
    tags = _string_list(record, "tags", where)
    if tags is not None and "entities" in record:
        raise DataError(*where, "both 'tags' and 'entities'; expected one of them")
    if tags is not None:
        if len(tags) != len(ex.tokens):
            raise DataError(
                *where, f"{len(tags)} tags for {len(ex.tokens)} tokens; expected one tag per token"
            )
        return tags
    entities = field(record, "entities", list, where, required=False)
    if entities is None:
        return None
    return tags_from_spans(ex.offsets, [_span(e, len(ex.text), where) for e in entities])


def _span(entity, text_len: int, where) -> tuple[int, int, str]:
    if isinstance(entity, dict):
        values = [entity.get(k) for k in ("start", "end", "type")]
    elif isinstance(entity, list) and len(entity) == 3:
        values = entity
    else:
        values = [None]
    ok = (
        len(values) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in values[:2])
        and isinstance(values[2], str)
    )
    if not ok or not 0 <= values[0] < values[1] <= text_len:
        raise DataError(
            *where,
            f"entity {entity!r}; expected {{'start': int, 'end': int, "
            f"'type': str}} or [start, end, type] with 0 <= start < end <= {text_len}",
        )
    return values[0], values[1], values[2]


def tags_from_spans(offsets: list[tuple[int, int]], spans: list[tuple[int, int, str]]) -> list[str]:
    """BIO tags over words (by char offsets): a word overlapping a span gets its type.

    Where spans overlap, the earlier-starting one keeps the word.
    """
    tags = ["O"] * len(offsets)
    for start, end, kind in sorted(spans):
        inside = [i for i, (ws, we) in enumerate(offsets) if ws < end and we > start]
        free = [i for i in inside if tags[i] == "O"]
        for n, i in enumerate(free):
            tags[i] = ("B-" if n == 0 else "I-") + kind
    return tags
