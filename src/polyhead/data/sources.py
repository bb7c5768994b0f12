"""Data sources: where a task's examples come from, and their train / dev / test splits.

`DataSource` is the `data:` section of a config (declared here, next to the code that reads
it; `polyhead.config` embeds it). Tasks whose sources are equal label the same sentences
(intent + slots) and form one `SourceData`.

A source is files (`path`, or `train` / `dev` / `test`), a `datasets` name or folder (`hf`),
or data given in Python (`DataSource.in_memory`: `memory` is its content fingerprint, and the
examples stay in this process: a copy of the config made here finds them by that key).
"""

from __future__ import annotations

import json
import logging
import random
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from polyhead.data.arrow import ArrowSplit, read_table
from polyhead.data.example import Example
from polyhead.data.frames import Columns, TableData
from polyhead.data.readers import read_examples
from polyhead.data.schemes import TAG_SCHEMES
from polyhead.data.words import MODES as WORDS_MODES
from polyhead.errors import ConfigError

log = logging.getLogger("polyhead")

SPLITS = ("train", "dev", "test")
DEFAULT_DEV_FRACTION = 0.1  # carved from train when a source has no dev data
# In-memory data by fingerprint, alive while a config that holds it is.
_IN_MEMORY: weakref.WeakValueDictionary[str, TableData] = weakref.WeakValueDictionary()
# `hf:` files by suffix -> the `datasets` builder that reads them.
_BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
# Words shared by neighbouring training windows of a long token-task example (prediction
# windows are the tokenizer's, in tokens: polyhead.predict.DEFAULT_STRIDE).
WINDOW_STRIDE = 8


class DataSource(BaseModel):
    """Where a task's examples come from: one file/folder with splits, a file per split, a
    `datasets` dataset, or data given in Python."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    path: str | None = None
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    format: Literal["conll", "massive", "jsonl", "csv", "seqio", "pairs"] | None = None
    train_split: str = "train"
    dev_split: str = "dev"
    test_split: str = "test"
    tag_column: int = -1
    text_field: str = "text"
    label_field: str = "label"
    label_separator: str | None = Field(
        None, min_length=1, description="multilabel / vector targets in one text cell: 'a|b'"
    )
    strict_bio: bool = False
    tag_scheme: Literal[TAG_SCHEMES] = Field(
        "auto", description="how token tags are written; auto detects it per file (logged)"
    )
    words: Literal[WORDS_MODES] | None = Field(
        None, description="how a JSONL `text` becomes words; None: model.words, else whitespace"
    )
    windows: bool = Field(
        True,
        description="token tasks: an example longer than max_length becomes overlapping "
        "windows, so every word trains and is scored once; false truncates it",
    )
    stride: int = Field(WINDOW_STRIDE, ge=1, description="words shared by neighbouring windows")
    context: Literal["sentence", "document"] = Field(
        "sentence",
        description="token tasks: document fills a sentence's window with its neighbours in "
        "the same document (CoNLL -DOCSTART-, JSONL doc_id); they carry no loss (FLERT)",
    )
    dev_fraction: float | None = Field(
        None, ge=0.0, lt=1.0, description="carve dev from train (unset: 0.1 when no dev data)"
    )
    max_train_examples: int | None = Field(None, gt=0)
    max_eval_examples: int | None = Field(None, gt=0)
    hf: str | None = Field(None, description="datasets.load_dataset name, folder or file")
    name: str | None = Field(None, description="hf: the dataset's configuration")
    revision: str | None = Field(None, description="hf: a Hub branch, tag or commit")
    columns: Columns = Field(default_factory=Columns, description="hf / in-memory columns")
    memory: str | None = Field(None, description="fingerprint of data given in Python")
    _table: TableData | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _has_train(self) -> DataSource:
        origins = [o for o in ("files", "hf", "memory") if self._origin(o)]
        if not origins:
            raise ValueError(
                "give `path` (one file with splits), `train` (and dev/test), or `hf` (a "
                "datasets name or folder)"
            )
        if len(origins) > 1:
            raise ValueError(f"give one of path/train, hf or in-memory data, not {origins}")
        if self.columns != Columns() and not (self.hf or self.memory):
            raise ValueError("`columns` is for hf or in-memory data; files use text_field")
        return self

    def _origin(self, kind: str) -> bool:
        return bool({"files": self.path or self.train, "hf": self.hf, "memory": self.memory}[kind])

    @classmethod
    def in_memory(cls, table: TableData, **settings) -> DataSource:
        """A source for examples already read in this process (polyhead.data.frames)."""
        _IN_MEMORY[table.fingerprint] = table
        src = cls(memory=table.fingerprint, **settings)
        src._table = table
        return src

    def window_stride(self) -> int:
        """Words shared by neighbouring windows; 0: no windows (truncate at max_length)."""
        return self.stride if self.windows else 0

    def key(self) -> str:
        """Tasks with the same key label the same sentences (e.g. intent + slots)."""
        return json.dumps(self.model_dump(), sort_keys=True)

    def table(self) -> TableData | None:
        """The examples of an hf or in-memory source (read once); None for files."""
        if self._table is None and self.memory:
            self._table = _IN_MEMORY.get(self.memory)
            if self._table is None:
                raise ConfigError(
                    "data.memory",
                    "data given in Python is not in this process; pass it again with "
                    "polyhead.train(config, data=...)",
                )
        if self._table is None and self.hf:
            split_names = {"train": self.train_split, "dev": self.dev_split}
            split_names["test"] = self.test_split
            self._table = read_table(
                load_hf(self.hf, self.name, self.revision),
                self.columns,
                where=self.hf,
                split_names=split_names,
                strict_bio=self.strict_bio,
            )
        return self._table

    def content_id(self) -> str | None:
        """A content hash of hf or in-memory data (feature cache keys); None for files."""
        table = self.table()
        return table.fingerprint if table is not None else None


# A config's `data:` fields that apply to data given in Python too.
SHARED_SETTINGS = (
    "dev_fraction",
    "max_train_examples",
    "max_eval_examples",
    "strict_bio",
    "windows",
    "stride",
    "label_separator",
    "columns",
    "train_split",
    "dev_split",
    "test_split",
)
_PLAIN = (str, int, float, bool, dict, type(None))


def data_section(data, settings: dict | None = None, where: str = "data") -> dict | DataSource:
    """What data given in Python puts in a config's `data:` field. A path -> files, a dict of
    source fields (`{"hf": "banking77"}`) -> those fields, a DataSource as is; a list of dicts,
    DataFrame, Dataset, DatasetDict or dict of splits -> read now (polyhead.data.frames) into
    an in-memory source. `settings`: the config's own `data:` fields; those in
    SHARED_SETTINGS still apply (limits, dev_fraction, columns)."""
    if isinstance(data, DataSource):
        return data
    keep = {k: v for k, v in (settings or {}).items() if k in SHARED_SETTINGS and v is not None}
    if isinstance(data, str | Path):
        keep.pop("columns", None)
        return {**keep, "path": str(Path(data).expanduser().resolve())}
    fields = isinstance(data, Mapping) and all(k in DataSource.model_fields for k in data)
    if fields and all(isinstance(v, _PLAIN) for v in data.values()):
        return {**keep, **data}
    try:
        columns = Columns.model_validate(keep.get("columns") or {})
    except ValidationError as e:
        bad = ".".join(str(p) for p in e.errors()[0]["loc"])
        roles = ", ".join(Columns.model_fields)
        raise ConfigError(f"data.columns.{bad}", f"unknown; columns are {roles}") from None
    names = {s: keep[f"{s}_split"] for s in SPLITS if f"{s}_split" in keep}
    table = read_table(data, columns, where, names, keep.get("strict_bio", False))
    return DataSource.in_memory(table, **keep)


def write_jsonl(src: DataSource, folder) -> dict:
    """An hf or in-memory source as one JSONL file (a `split` per line, read back by
    polyhead.data.jsonl), for a process that cannot share this one's memory: returns the
    source's fields with that file in place of the data. Named by content, written once."""
    table = src.table()
    path = Path(folder) / f"data-{table.fingerprint[:16]}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for split, examples in table.splits.items():
                for ex in examples:
                    record = {"text": ex.text, "tokens": ex.tokens, "split": split}
                    pairs = (("label", _label_value(ex)), ("tags", ex.tags))
                    record.update({k: v for k, v in pairs if v is not None})
                    if ex.text_pair is not None:
                        record["text_pair"] = ex.text_pair
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
        tmp.replace(path)
    limits = ("dev_fraction", "max_train_examples", "max_eval_examples", "strict_bio")
    kept = (*limits, "windows", "stride", "label_separator")  # tags are BIO: no tag_scheme
    return {**src.model_dump(include=set(kept)), "path": str(path), "format": "jsonl"}


def _label_value(ex: Example):
    """The JSON label that reads back as `ex`'s (polyhead.data.kind_labels.record_label):
    a list of names, a list of numbers, a number (its label text kept: 3 stays "3") or text."""
    if ex.labels is not None:
        return ex.labels
    if ex.target is None:
        return ex.label
    if ex.label is None or len(ex.target) != 1:
        return ex.target
    return int(ex.label) if ex.label.lstrip("-").isdigit() else ex.target[0]


def load_hf(name: str, config: str | None = None, revision: str | None = None):
    """`datasets` data: a save_to_disk folder, a data file, a folder of data files, or a Hub
    dataset (from the HF cache when offline)."""
    try:
        import datasets  # optional dependency (polyhead[hf]); heavy, so only when used
    except ImportError:
        raise ConfigError(
            "data.hf", "needs the datasets package: pip install 'polyhead[hf]'"
        ) from None
    path = Path(name).expanduser()
    saved = ("dataset_dict.json", "state.json")
    try:
        if path.is_dir() and any((path / f).exists() for f in saved):
            return datasets.load_from_disk(str(path))
        if path.is_file():
            builder = _BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise ConfigError(
                    "data.hf", f"{path}: expected a {', '.join(_BUILDERS)} file or a folder"
                )
            return datasets.load_dataset(builder, data_files=str(path))
        return datasets.load_dataset(name, config, revision=revision)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - offline, unknown name, bad files: one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError("data.hf", f"{name}: cannot load ({first})") from None


@dataclass
class SourceData:
    """One data source and the tasks it labels, with its examples per split."""

    index: int
    config: DataSource | None
    tasks: list[str]
    splits: dict[str, list[Example]] = field(default_factory=dict)


def group_sources(task_sources: dict[str, DataSource]) -> list[SourceData]:
    """task -> its source, grouped: tasks with equal sources share one SourceData."""
    by_key: dict[str, SourceData] = {}
    for name, src in task_sources.items():
        entry = by_key.setdefault(src.key(), SourceData(len(by_key), src, []))
        entry.tasks.append(name)
    return list(by_key.values())


def _read(src: DataSource, path: str) -> list[Example]:
    return read_examples(
        path,
        format=src.format,
        tag_column=src.tag_column,
        text_field=src.text_field,
        label_field=src.label_field,
        strict_bio=src.strict_bio,
        tag_scheme=src.tag_scheme,
        words_mode=src.words or "whitespace",
    )


def load_splits(src: DataSource, seed: int) -> dict[str, list[Example]]:
    """Read a source into train/dev/test, carving dev from train when asked, or when the
    source has no dev data (a seeded 10 %, said in one line)."""
    table = src.table()
    if table is not None:
        splits = {k: table.splits[k] for k in SPLITS}  # Arrow splits stay Arrow
    elif src.path:
        examples = _read(src, src.path)
        names = {"train": src.train_split, "dev": src.dev_split, "test": src.test_split}
        if all(ex.split is None for ex in examples):
            splits = {"train": examples, "dev": [], "test": []}
        else:
            splits = {k: [ex for ex in examples if ex.split == v] for k, v in names.items()}
    else:
        splits = {k: (_read(src, getattr(src, k)) if getattr(src, k) else []) for k in SPLITS}
    if not splits["dev"]:
        _carve_dev(splits, src, seed)
    rng = random.Random(seed)
    splits["train"] = _subsample(splits["train"], src.max_train_examples, rng)
    for k in ("dev", "test"):
        splits[k] = _subsample(splits[k], src.max_eval_examples, rng)
    if not splits["train"]:
        where = src.path or src.train or src.hf or "in-memory data"
        raise ConfigError("data", f"{where}: no training examples (split '{src.train_split}')")
    return splits


def _carve_dev(splits: dict[str, list[Example]], src: DataSource, seed: int) -> None:
    import numpy as np

    fraction = DEFAULT_DEV_FRACTION if src.dev_fraction is None else src.dev_fraction
    train = splits["train"]
    if fraction == 0 or len(train) < 2:
        return
    # row indices, not examples: Arrow splits and lists get the same split. numpy: a Python
    # shuffle of a million indices took a second and a Python int per row
    order = np.random.default_rng(seed).permutation(len(train))
    n_dev = max(1, int(len(train) * fraction))
    dev, rest = np.sort(order[:n_dev]), np.sort(order[n_dev:])
    splits["dev"], splits["train"] = _take(train, dev), _take(train, rest)
    if src.dev_fraction is None:
        where = src.path or src.train or src.hf or "in-memory data"
        log.warning(
            "%s: no dev data; a seeded %d%% of train (%d examples) is the dev set "
            "(set data.dev_fraction, or 0 for none)",
            where,
            round(fraction * 100),
            n_dev,
        )


def _subsample(examples: list[Example], limit: int | None, rng: random.Random) -> list[Example]:
    """A seeded random subset (not the first N: files are often sorted by label)."""
    if limit is None or len(examples) <= limit:
        return examples
    return _take(examples, sorted(rng.sample(range(len(examples)), limit)))


def _take(examples, idx):
    """These examples (`idx`: a list or an int array): a list, or an ArrowSplit's row
    selection (no Example is built)."""
    if isinstance(examples, ArrowSplit):
        return examples.select(idx)
    return [examples[i] for i in idx]
