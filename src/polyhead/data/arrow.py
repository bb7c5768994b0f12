"""`datasets` data kept in Arrow: rows are read, checked and tokenized by `Dataset.map`
(batched, written to an Arrow file named by the input's fingerprint, so a second run only
memory-maps it) and the training loop reads rows by index. No Python object per example is
kept for the whole dataset.

Two cached steps, both in $POLYHEAD_CACHE/arrow (else ~/.cache/polyhead/arrow):
- `read_table`: the user's columns -> canonical `row, tokens, text, tags, label, repaired`
  (and the other task kinds' `labels`, `target`, `text_pair`),
  through the same per-row checks as the Example path (`frames.row_example`: same one-line
  errors, ClassLabel names, BIO repair), so both paths see the same examples.
- `encode_split` (via `data.rows.encode_source`): words -> input ids, word ids and label ids
  with `align.encode_words`, the one alignment rule; served by `ArrowRows`.

Label sets come from Arrow compute (`unique` over the label column, the flattened tags).
Other data (lists, DataFrames, files) keeps the Example path (`frames.read_table_data`).
`datasets` / `pyarrow` are optional (polyhead[hf]) and imported only when such data is used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from polyhead.data.example import Example
from polyhead.data.frames import (
    Columns,
    TableData,
    check_columns,
    data_kind,
    describe_columns,
    read_table_data,
    resolve_columns,
    row_example,
    splits_of,
    table_of,
)
from polyhead.data.labels import LabelSet
from polyhead.data.textfile import warn_repairs

READ_VERSION = "2"  # bump when the canonical columns or their checks change
BATCH = 1000  # rows per map batch (and per write)


def cache_dir() -> Path:
    """$POLYHEAD_CACHE/arrow, else ~/.cache/polyhead/arrow (the feature cache's root)."""
    root = os.environ.get("POLYHEAD_CACHE") or Path.home() / ".cache" / "polyhead"
    path = Path(root) / "arrow"
    path.mkdir(parents=True, exist_ok=True)
    return path


FACTS_VERSION = "1"  # bump when what ArrowSplit._on_disk stores changes


def digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def read_table(
    data,
    columns: Columns | None = None,
    where: str = "data",
    split_names: dict[str, str] | None = None,
    strict_bio: bool = False,
) -> TableData:
    """`frames.read_table_data`, except that a `datasets.Dataset` (or a DatasetDict / dict of
    them) stays in Arrow: its splits are `ArrowSplit`s over a memory-mapped, checked copy."""
    by_split = splits_of(data, where, split_names or {})
    if not all(data_kind(obj) == "dataset" for _, obj in by_split.values()):
        return read_table_data(data, columns, where, split_names, strict_bio)
    tables = {split: table_of(obj, label) for split, (label, obj) in by_split.items()}
    chosen = resolve_columns(tables["train"], columns or Columns(), where)
    splits: dict = {}
    n_repaired = 0
    for split, (label, obj) in by_split.items():
        check_columns(tables[split], chosen, label)
        splits[split] = _canonical(obj, chosen, tables[split].names, label, strict_bio)
        n_repaired += splits[split].sum("repaired")
    warn_repairs(where, n_repaired)
    print_id = digest(*[(s, splits[s].dataset._fingerprint) for s in sorted(splits)])
    for split in ("dev", "test"):
        splits.setdefault(split, [])
    return TableData(where, splits, chosen, describe_columns(tables["train"]), print_id)


def _canonical(obj, chosen: dict, class_names: dict, where: str, strict: bool) -> ArrowSplit:
    """The rows of one split as canonical columns, checked row by row (errors name the row
    as the user indexes it: `data['train'][7]`), written once per input fingerprint."""
    datasets = require_datasets()
    names = {role: class_names.get(column) for role, column in chosen.items()}
    key = digest(READ_VERSION, obj._fingerprint, chosen, names, strict)

    def canonical(batch: dict, indices: list[int]) -> dict:
        get = {role: batch[column] for role, column in chosen.items()}
        out: dict[str, list] = {k: [] for k in CANONICAL}
        for j, i in enumerate(indices):
            ex, n = row_example(get, names, chosen, j, f"{where}[{i}]", strict)
            for k, v in (("row", i), ("tokens", ex.tokens), ("text", ex.text)):
                out[k].append(v)
            for k, v in (("tags", ex.tags), ("label", ex.label), ("repaired", n)):
                out[k].append(v)
            for k in ("labels", "target", "text_pair"):
                out[k].append(getattr(ex, k))
        return out

    dataset = obj.with_format(None).map(
        canonical,
        batched=True,
        batch_size=BATCH,
        with_indices=True,
        remove_columns=obj.column_names,
        features=datasets.Features({k: _feature(datasets, kind) for k, kind in CANONICAL.items()}),
        cache_file_name=str(cache_dir() / f"read-{key[:40]}.arrow"),
        new_fingerprint=key[:32],
        desc="polyhead: reading rows",
    )
    return ArrowSplit(dataset, where)


CANONICAL = {
    "row": "int64",  # the row as the user indexes it (messages, Example.source)
    "tokens": "strings",
    "text": "string",
    "tags": "strings",  # null without a tags column
    "label": "string",  # null when unlabelled
    "repaired": "int32",  # tags BIO-repaired in this row
    "labels": "strings",  # multilabel: the row's label names (null: none given)
    "target": "floats",  # regression: the row's numbers (null: none given)
    "text_pair": "string",  # pair tasks: the second text (null: none)
}


def _feature(datasets, kind: str):
    if kind == "strings":
        return datasets.Sequence(datasets.Value("string"))
    if kind == "floats":
        return datasets.Sequence(datasets.Value("float64"))
    return datasets.Value(kind)


def require_datasets():
    try:
        import datasets  # optional (polyhead[hf]); only data that is already Arrow gets here
    except ImportError as e:  # pragma: no cover - the caller passed a datasets object
        raise ImportError(
            "Arrow data needs the datasets package: pip install 'polyhead[hf]'"
        ) from e
    return datasets


class ArrowSplit(Sequence):
    """One split of canonical rows, memory-mapped; a read-only sequence of Examples built one
    at a time (evaluation reads the gold labels this way). Training never builds them: it
    tokenizes `dataset` with `Dataset.map` (polyhead.data.rows.encode_source)."""

    def __init__(self, dataset, where: str):
        self.dataset, self.where = dataset, where
        self._column_facts: dict[str, tuple[int, list]] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.select(range(len(self))[i])
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self._example(self.dataset[i])

    def __iter__(self):
        for batch in self.dataset.iter(batch_size=BATCH):
            for j in range(len(batch["row"])):
                yield self._example({k: v[j] for k, v in batch.items()})

    def _example(self, row: dict) -> Example:
        source = f"{self.where}[{row['row']}]"
        ex = Example(row["tokens"], row["tags"], row["label"], text=row["text"], source=source)
        ex.labels, ex.target, ex.text_pair = row["labels"], row["target"], row["text_pair"]
        return ex

    def select(self, indices) -> ArrowSplit:
        """These rows (an index mapping over the same memory-mapped file, not a copy)."""
        import numpy as np

        return ArrowSplit(self.dataset.select(np.asarray(indices, dtype=np.int64)), self.where)

    def column(self, name: str):
        """One column as Arrow (the split's row selection applied)."""
        return self.dataset.with_format("arrow")[name]

    def _facts(self, name: str) -> tuple[int, list]:
        """(null count, distinct non-null values) of a column, list columns flattened; kept,
        since gathering a selection of a million rows takes seconds."""
        import pyarrow.compute as pc

        def compute() -> tuple[int, list]:
            column = self.column(name)
            values = pc.list_flatten(column) if name == "tags" else column
            return column.null_count, pc.unique(values).drop_null().to_pylist()

        if name not in self._column_facts:
            self._column_facts[name] = tuple(self._on_disk(f"facts-{name}", compute))
        return self._column_facts[name]

    def _on_disk(self, what: str, compute):
        """`compute()`'s JSON value for these rows, kept beside the tokenized files under the
        split's fingerprint: a cached run then skips every pass over the rows before training."""
        key = digest(FACTS_VERSION, what, self.dataset._fingerprint)
        path = cache_dir() / f"{what}-{key[:40]}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # absent, or torn by a killed run: compute again
            value = compute()
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)
        return value

    def word_counts(self) -> dict[str, int]:
        """Each distinct word of the `tokens` column and how often it occurs."""
        import pyarrow.compute as pc

        def compute() -> dict[str, int]:
            counts = pc.value_counts(pc.list_flatten(self.column("tokens")))
            words, ns = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
            return dict(zip(words, ns, strict=True))

        return self._on_disk("words", compute) if len(self) else {}

    def sum(self, name: str) -> int:
        """A number column's sum, kept on disk like the facts: the column is spread over
        every record batch of the file, and reading it faulted in ~90 MB of a million-row
        file (the kernel reads around each page) that training never reads."""
        import pyarrow.compute as pc

        def compute() -> int:
            return int(pc.sum(self.column(name)).as_py() or 0)

        return self._on_disk(f"sum-{name}", compute) if len(self) else 0

    def lacks(self, role: str) -> bool:
        """Some row has no label (`label`) or no tags (`tags`)."""
        return self._facts(role)[0] > 0

    def label_set(self, kind: str) -> LabelSet:
        """The task's labels, as `LabelSet.for_sentences` / `for_tags` would find them, from
        the distinct values (Arrow compute: no Python object per row)."""
        if kind == "sentence":
            return LabelSet(sorted(self._facts("label")[1]))
        return LabelSet.for_tag_names(self._facts("tags")[1])
