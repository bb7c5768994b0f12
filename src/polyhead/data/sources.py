"""Data sources: where a task's examples come from, and their train / dev / test splits.

`DataSource` is the `data:` section of a config (declared here, next to the code that reads
it; `polyhead.config` embeds it). Tasks whose sources are equal label the same sentences
(intent + slots) and form one `SourceData`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from polyhead.data.example import Example
from polyhead.data.readers import read_examples
from polyhead.data.schemes import TAG_SCHEMES
from polyhead.data.words import MODES as WORDS_MODES
from polyhead.errors import ConfigError

SPLITS = ("train", "dev", "test")
# Words shared by neighbouring training windows of a long token-task example (prediction
# windows are the tokenizer's, in tokens: polyhead.predict.DEFAULT_STRIDE).
WINDOW_STRIDE = 8


class DataSource(BaseModel):
    """Where a task's examples come from: one file/folder with splits, or a file per split."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    path: str | None = None
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    format: Literal["conll", "massive", "jsonl", "csv", "seqio"] | None = None
    train_split: str = "train"
    dev_split: str = "dev"
    test_split: str = "test"
    tag_column: int = -1
    text_field: str = "text"
    label_field: str = "label"
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
    dev_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="carve dev from train")
    max_train_examples: int | None = Field(None, gt=0)
    max_eval_examples: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _has_train(self) -> DataSource:
        if not (self.path or self.train):
            raise ValueError("give `path` (one file with splits) or `train` (and dev/test)")
        return self

    def window_stride(self) -> int:
        """Words shared by neighbouring windows; 0: no windows (truncate at max_length)."""
        return self.stride if self.windows else 0

    def key(self) -> tuple:
        """Tasks with the same key label the same sentences (e.g. intent + slots)."""
        return tuple(sorted(self.model_dump().items()))


@dataclass
class SourceData:
    """One data source and the tasks it labels, with its examples per split."""

    index: int
    config: DataSource | None
    tasks: list[str]
    splits: dict[str, list[Example]] = field(default_factory=dict)


def group_sources(task_sources: dict[str, DataSource]) -> list[SourceData]:
    """task -> its source, grouped: tasks with equal sources share one SourceData."""
    by_key: dict[tuple, SourceData] = {}
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
    """Read a source into train/dev/test, carving dev from train when asked."""
    if src.path:
        examples = _read(src, src.path)
        names = {"train": src.train_split, "dev": src.dev_split, "test": src.test_split}
        if all(ex.split is None for ex in examples):
            splits = {"train": examples, "dev": [], "test": []}
        else:
            splits = {k: [ex for ex in examples if ex.split == v] for k, v in names.items()}
    else:
        splits = {k: (_read(src, getattr(src, k)) if getattr(src, k) else []) for k in SPLITS}
    rng = random.Random(seed)
    if not splits["dev"] and src.dev_fraction > 0:
        train = splits["train"][:]
        rng.shuffle(train)
        n_dev = max(1, int(len(train) * src.dev_fraction))
        splits["dev"], splits["train"] = train[:n_dev], train[n_dev:]
    splits["train"] = _subsample(splits["train"], src.max_train_examples, rng)
    for k in ("dev", "test"):
        splits[k] = _subsample(splits[k], src.max_eval_examples, rng)
    if not splits["train"]:
        where = src.path or src.train
        raise ConfigError("data", f"{where}: no training examples (split '{src.train_split}')")
    return splits


def _subsample(examples: list[Example], limit: int | None, rng: random.Random) -> list[Example]:
    """A seeded random subset (not the first N: files are often sorted by label)."""
    if limit is None or len(examples) <= limit:
        return examples
    idx = sorted(rng.sample(range(len(examples)), limit))
    return [examples[i] for i in idx]
