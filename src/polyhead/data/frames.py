"""Data where users have it: Python lists of dicts, pandas DataFrames and Hugging Face
`datasets` (a `Dataset`, a `DatasetDict`, or a dict of splits of any of them) -> Examples.

Columns are found by name (`CANDIDATES`) or named in `columns:`. `ClassLabel` features give
the label names and `Sequence(ClassLabel)` the tag names, as in the Hub's banking77,
conll2003 and MASSIVE layouts; MASSIVE's inline `annot_utt` gives words and tags. The other
task kinds read the label cell as JSONL does (polyhead.data.kind_labels): a list of label
names or a `Sequence(ClassLabel)` label (multilabel), a number or a list of numbers
(regression); a `text_pair` / `sentence2` column is a pair task's second text. A missing
or mistyped column is one line naming the column and the data's columns with their types.
pandas and datasets are never imported here: objects are recognised by their module.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from polyhead.data.example import Example, split_words
from polyhead.data.jsonl import parse_brackets
from polyhead.data.kind_labels import is_number, record_label
from polyhead.data.labels import repair_bio
from polyhead.data.tabular import LABEL_COLUMNS, TEXT_COLUMNS
from polyhead.data.textfile import warn_repairs
from polyhead.errors import DataError

log = logging.getLogger("polyhead")

# Tried in order when `columns:` does not name the column of a role.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "tokens": ("tokens", "words"),
    "text": (*TEXT_COLUMNS, "sentence1"),
    "text_pair": ("text_pair", "sentence2"),
    "label": LABEL_COLUMNS,
    "tags": ("tags", "ner_tags"),
    "annotated": ("annot_utt",),
}
# Split names as datasets on the Hub spell them -> polyhead's train / dev / test.
SPLIT_NAMES = {"train": ("train",), "dev": ("dev", "validation", "valid", "val"), "test": ("test",)}


class Columns(BaseModel):
    """`data.columns`: which column holds what (unset: found by name, see CANDIDATES)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    tokens: str | None = None
    text_pair: str | None = None  # a pair task's second text
    label: str | None = None
    tags: str | None = None
    annotated: str | None = None  # inline "[slot : words]" annotation, MASSIVE's annot_utt


@dataclass(eq=False)  # eq=False keeps it hashable, so a weak reference can hold it
class TableData:
    """Examples per split read from one in-memory or `datasets` source."""

    where: str  # how messages name the source: "data", "banking77", ...
    splits: dict[str, list[Example]]
    columns: dict[str, str]  # role -> the column it was read from
    described: str  # the columns and their types, for messages
    fingerprint: str  # sha256 of every example's words, tags, label and split

    def require(self, role: str, task: str) -> None:
        """One line naming the column a task needs when the data has none."""
        found = role in self.columns or (role == "tags" and "annotated" in self.columns)
        if not found:
            tried = ", ".join(repr(c) for c in CANDIDATES[role])
            raise DataError(
                self.where,
                None,
                f"no {role} column for task '{task}' (tried {tried}; set data.columns.{role}); "
                f"the data has: {self.described}",
            )


@dataclass
class Table:
    """One split as columns: name -> type text, values by name, ClassLabel names by name."""

    types: dict[str, str]
    values: Callable[[str], list]
    names: dict[str, list[str]]
    n_rows: int


def read_table_data(
    data,
    columns: Columns | None = None,
    where: str = "data",
    split_names: dict[str, str] | None = None,
    strict_bio: bool = False,
) -> TableData:
    """Examples per split from `data`; `split_names` maps train/dev/test to the names tried
    first (before SPLIT_NAMES)."""
    columns = columns or Columns()
    by_split = splits_of(data, where, split_names or {})  # split -> (how to name it, object)
    tables = {split: table_of(obj, label) for split, (label, obj) in by_split.items()}
    chosen = resolve_columns(tables["train"], columns, where)
    splits, n_repaired = {}, 0
    for split, table in tables.items():
        label = by_split[split][0]
        check_columns(table, chosen, label)
        splits[split], n = _examples(table, chosen, label, strict_bio)
        n_repaired += n
    warn_repairs(where, n_repaired)
    for split in ("dev", "test"):
        splits.setdefault(split, [])
    return TableData(where, splits, chosen, describe_columns(tables["train"]), fingerprint(splits))


def fingerprint(splits: dict[str, list[Example]]) -> str:
    """Content hash of the examples: the same data in another object is the same data."""
    h = hashlib.sha256()
    for split in sorted(splits):
        for ex in splits[split]:
            own = [ex.labels, ex.target, ex.text_pair]  # the other task kinds' labels, pairs
            h.update(json.dumps([split, ex.tokens, ex.tags, ex.label, ex.text, *own]).encode())
            h.update(b"\n")
    return h.hexdigest()


# ---- which object, which splits -----------------------------------------------------------


def data_kind(obj) -> str | None:
    module = type(obj).__module__.split(".")[0]
    if module == "pandas" and hasattr(obj, "columns"):
        return "frame"
    if module == "datasets" and hasattr(obj, "features") and hasattr(obj, "column_names"):
        return "dataset"
    if isinstance(obj, list):
        return "records"
    return None


def splits_of(data, where: str, split_names: dict[str, str]) -> dict[str, tuple[str, object]]:
    """train/dev/test -> (how messages name it: `data` or `data['validation']`, the object)."""
    if data_kind(data) is not None:
        return {"train": (where, data)}
    if not isinstance(data, Mapping):
        raise DataError(
            where,
            None,
            f"a {type(data).__name__}; expected a list of dicts, a pandas DataFrame, a datasets "
            "Dataset or DatasetDict, or a dict of splits of them",
        )
    out, used = {}, set()
    for split, aliases in SPLIT_NAMES.items():
        tried = [split_names.get(split), *aliases]
        name = next((n for n in tried if n is not None and n in data), None)
        if name is not None:
            out[split] = (f"{where}[{name!r}]", data[name])
            used.add(name)
    if "train" not in out:
        raise DataError(where, None, f"no train split; it has {sorted(data)}")
    unused = sorted(set(data) - used)
    if unused:
        log.info("%s: splits %s not used (train, dev/validation and test are)", where, unused)
    return out


def table_of(obj, where: str) -> Table:
    kind = data_kind(obj)
    if kind == "frame":
        types = {str(c): str(obj[c].dtype) for c in obj.columns}
        return Table(types, lambda c: obj[c].tolist(), {}, len(obj))
    if kind == "dataset":
        arrow = obj.with_format("arrow")  # column reads honour select/shuffle indices
        types = {name: _feature_type(f) for name, f in obj.features.items()}
        names = {name: n for name, f in obj.features.items() if (n := _class_names(f))}
        return Table(types, lambda c: arrow[c].to_pylist(), names, len(obj))
    if kind == "records":
        return _records_table(obj, where)
    raise DataError(where, None, f"a {type(obj).__name__}; expected a list, DataFrame or Dataset")


def _records_table(records: list, where: str) -> Table:
    types: dict[str, str] = {}
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DataError(
                f"{where}[{i}]", None, f"a {type(record).__name__}; expected a dict of columns"
            )
        for key, value in record.items():
            if value is not None:
                types.setdefault(str(key), _value_type(value))
    return Table(types, lambda c: [r.get(c) for r in records], {}, len(records))


def _value_type(value) -> str:
    if isinstance(value, list | tuple) and value:
        return f"list[{type(value[0]).__name__}]"
    return type(value).__name__


def _feature_type(feature) -> str:
    inner = getattr(feature, "feature", None)
    if inner is not None:  # Sequence / List
        return f"list[{_feature_type(inner)}]"
    if type(feature).__name__ == "ClassLabel":
        return f"ClassLabel: {feature.num_classes} names"
    return str(getattr(feature, "dtype", type(feature).__name__))


def _class_names(feature) -> list[str] | None:
    """ClassLabel names, also of a Sequence(ClassLabel) / List(ClassLabel) feature."""
    feature = getattr(feature, "feature", feature)
    return list(feature.names) if type(feature).__name__ == "ClassLabel" else None


def describe_columns(table: Table) -> str:
    return ", ".join(f"{name} ({kind})" for name, kind in table.types.items()) or "no columns"


# ---- columns -> examples ------------------------------------------------------------------


def resolve_columns(table: Table, columns: Columns, where: str) -> dict[str, str]:
    """role -> column. A named column must exist; otherwise the first candidate present.
    Words come from tokens, else text, else the inline annotation."""
    given = {role: c for role, c in columns.model_dump().items() if c is not None}
    for role, column in given.items():
        if column not in table.types:
            raise DataError(
                where,
                None,
                f"no column {column!r} (data.columns.{role}); it has: {describe_columns(table)}",
            )
    chosen = dict(given)
    for role, candidates in CANDIDATES.items():
        if role in chosen or _shadowed(role, given):
            continue
        found = next((c for c in candidates if c in table.types), None)
        if found is not None:
            chosen[role] = found
    if "tags" in chosen and "annotated" in chosen and "annotated" not in given:
        del chosen["annotated"]
    if not any(r in chosen for r in ("tokens", "text", "annotated")):
        tried = ", ".join(repr(c) for c in CANDIDATES["tokens"] + CANDIDATES["text"])
        raise DataError(
            where,
            None,
            f"no text column (tried {tried}; set data.columns.text or data.columns.tokens); "
            f"it has: {describe_columns(table)}",
        )
    return chosen


def check_columns(table: Table, chosen: dict[str, str], where: str) -> None:
    """Every split has the columns chosen from train."""
    for role, column in chosen.items():
        if column not in table.types:
            raise DataError(
                where, None, f"no column {column!r} ({role}); it has: {describe_columns(table)}"
            )


def _shadowed(role: str, given: dict[str, str]) -> bool:
    """A role the user's own choice replaces: text named -> no tokens found by name, tags or
    annotated named -> not the other."""
    rivals = {"tokens": ("text",), "tags": ("annotated",), "annotated": ("tags",)}
    return any(r in given for r in rivals.get(role, ()))


def _examples(table: Table, cols: dict[str, str], where: str, strict: bool):
    get = {role: table.values(column) for role, column in cols.items()}
    names = {role: table.names.get(column) for role, column in cols.items()}
    out, n_repaired = [], 0
    for i in range(table.n_rows):
        example, n = row_example(get, names, cols, i, f"{where}[{i}]", strict)
        out.append(example)
        n_repaired += n
    return out, n_repaired


def row_example(get: dict, names: dict, cols: dict[str, str], i: int, at: str, strict: bool):
    """Row `i` of the column values `get` (role -> values) as an Example, checked (errors
    name `at`), with its tags BIO-repaired; returns (example, number of tags repaired)."""
    words, text, offsets, tags = _words(get, i, at, cols)
    if "tags" in get:
        tags = _tags(get["tags"][i], names["tags"], len(words), at, cols["tags"])
    n_repaired = 0
    if tags is not None:
        tags, n_repaired = repair_bio(tags, strict, at)
    ex = Example(words, tags, text=text, offsets=offsets, source=at)
    if "label" in get:
        _put_label(ex, get["label"][i], names["label"], at, cols)
    if "text_pair" in get and get["text_pair"][i] is not None:
        ex.text_pair = _string(get["text_pair"][i], at, cols["text_pair"])
    return ex, n_repaired


def _words(get: dict, i: int, at: str, cols: dict):
    """(words, text, their character offsets or [] to find, tags of an inline annotation)."""
    text = get["text"][i] if "text" in get else None
    if text is not None and not isinstance(text, str):
        raise DataError(
            at, None, f"column {cols['text']!r} is a {type(text).__name__}; expected str"
        )
    if "tokens" in get:
        tokens = _string_list(get["tokens"][i], at, cols["tokens"])
        return (tokens, text, [], None) if text is not None else (tokens, *_joined(tokens), None)
    if "annotated" in get:
        annotated = _string(get["annotated"][i], at, cols["annotated"])
        words, tags = parse_brackets(annotated, (at, None))
        if text is None:
            return (words, *_joined(words), tags)
        if split_words(text)[0] != words:
            raise DataError(at, None, f"{cols['annotated']!r} without brackets is not the text")
        return words, text, split_words(text)[1], tags
    text = _string(text, at, cols["text"])
    words, offsets = split_words(text)
    return words, text, offsets, None


def _joined(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by spaces, with each word's offsets (known, so not searched for)."""
    offsets, pos = [], 0
    for word in words:
        offsets.append((pos, pos + len(word)))
        pos += len(word) + 1
    return " ".join(words), offsets


def _string(value, at: str, column: str) -> str:
    if not isinstance(value, str):
        raise DataError(at, None, f"column {column!r} is {value!r}; expected a string")
    return value


def _string_list(value, at: str, column: str) -> list[str]:
    if not isinstance(value, list) and hasattr(value, "tolist"):
        value = value.tolist()  # numpy arrays (parquet, DataFrames)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise DataError(at, None, f"column {column!r} is {value!r}; expected a list of strings")
    return list(value)


def _put_label(ex: Example, value, names: list[str] | None, at: str, cols: dict) -> None:
    """The label cell on `ex`: a class name (or ClassLabel id) -> `label`; a list of names
    (or of ClassLabel ids) -> `labels`; numbers -> `target` (a scalar also as `label`, as
    JSONL numbers are)."""
    if not isinstance(value, str) and hasattr(value, "tolist"):
        value = value.tolist()  # numpy arrays and scalars (DataFrames)
    if isinstance(value, list | tuple) and names is not None:  # Sequence(ClassLabel)
        if not all(isinstance(v, int) and 0 <= v < len(names) for v in value):
            raise DataError(
                at, None, f"column {cols['label']!r} is {value!r}; expected ids of its names"
            )
        ex.labels = [names[v] for v in value]
    elif isinstance(value, list | tuple) or (names is None and is_number(value)):
        if not (isinstance(value, float) and value != value):  # NaN: unlabelled
            record_label(ex, list(value) if isinstance(value, tuple) else value, (at, None))
    else:
        ex.label = _label(value, names, at, cols)


def _label(value, names: list[str] | None, at: str, cols: dict) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    if names is None:
        return str(value)
    if value == -1:  # datasets' "no label" (e.g. unlabelled test splits)
        return None
    if not 0 <= value < len(names):
        raise DataError(
            at, None, f"column {cols['label']!r} is {value}; its ClassLabel has {len(names)} names"
        )
    return names[value]


def _tags(value, names: list[str] | None, n_words: int, at: str, column: str) -> list[str]:
    if not isinstance(value, list) and hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list | tuple):
        raise DataError(at, None, f"column {column!r} is {value!r}; expected a list of tags")
    if names is not None:
        if not all(isinstance(v, int) and 0 <= v < len(names) for v in value):
            raise DataError(at, None, f"column {column!r} is {value!r}; expected ids of its names")
        value = [names[v] for v in value]
    elif not all(isinstance(v, str) for v in value):
        raise DataError(
            at,
            None,
            f"column {column!r} holds {value!r}: ids without tag names; give tag strings "
            "or a Sequence(ClassLabel) feature",
        )
    if len(value) != n_words:
        raise DataError(at, None, f"{len(value)} tags for {n_words} words; expected one per word")
    return list(value)
