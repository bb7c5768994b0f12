"""Examples -> encoded rows -> padded batches, for any mix of tasks and data sources.

Tasks that share a data source label the same sentences (intent + slots): one row carries
labels for all of them. Tasks from different sources contribute rows that carry only their own
labels; every other task's label is IGNORE_INDEX there, so each row adds loss only to the
tasks it labels.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from polyhead.config import DataSource, RunConfig
from polyhead.data import Example, LabelSet, encode_words, read_examples
from polyhead.engine.faults import ReplaySampler, loop_position
from polyhead.engine.sampling import TaskBatchSampler
from polyhead.errors import ConfigError
from polyhead.model.multitask import IGNORE_INDEX

log = logging.getLogger("polyhead")
SPLITS = ("train", "dev", "test")


@dataclass
class SourceData:
    """One data source and the tasks it labels, with its examples per split."""

    index: int
    config: DataSource
    tasks: list[str]
    splits: dict[str, list[Example]] = field(default_factory=dict)


def group_sources(cfg: RunConfig) -> list[SourceData]:
    by_key: dict[tuple, SourceData] = {}
    for name in cfg.tasks:
        src = cfg.source(name)
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


def build_label_sets(cfg: RunConfig, sources: list[SourceData]) -> dict[str, LabelSet]:
    out = {}
    for src in sources:
        train = src.splits["train"]
        for task in src.tasks:
            kind = cfg.tasks[task].kind
            if kind == "sentence" and any(ex.label is None for ex in train):
                raise ConfigError(
                    f"tasks.{task}", "sentence task but training examples lack labels"
                )
            if kind == "token" and any(ex.tags is None for ex in train):
                raise ConfigError(f"tasks.{task}", "token task but training examples lack tags")
            out[task] = (
                LabelSet.for_sentences(train) if kind == "sentence" else LabelSet.for_tags(train)
            )
    return out


@dataclass
class EncodeStats:
    n_examples: int = 0
    n_truncated_examples: int = 0
    n_truncated_words: int = 0


def encode_source(
    tokenizer,
    src: SourceData,
    split: str,
    kinds: dict[str, str],
    labels: dict[str, LabelSet],
    max_length: int,
    all_tasks: list[str],
    stats: EncodeStats | None = None,
) -> list[dict]:
    """Rows with input ids, word ids and `labels.<task>` for every task (ignored if absent)."""
    examples = src.splits[split]
    token_tasks = [t for t in src.tasks if kinds[t] == "token"]
    tag_ids = None
    if token_tasks and examples and examples[0].tags is not None:
        ls = labels[token_tasks[0]]
        tag_ids = [[ls.id(t) if t in ls else IGNORE_INDEX for t in ex.tags] for ex in examples]
    enc = encode_words(tokenizer, [ex.tokens for ex in examples], max_length, tags=tag_ids)
    if stats is not None:
        stats.n_examples += len(examples)
        stats.n_truncated_examples += enc.n_truncated_examples
        stats.n_truncated_words += enc.n_truncated_words
    rows = []
    for i, ex in enumerate(examples):
        row = {
            "input_ids": enc.input_ids[i],
            "attention_mask": enc.attention_mask[i],
            "word_ids": [-1 if w is None else w for w in enc.word_ids[i]],
            "index": i,
            "source": src.index,
        }
        if enc.token_type_ids is not None:
            row["token_type_ids"] = enc.token_type_ids[i]
        for task in all_tasks:
            row[f"labels.{task}"] = _row_label(task, kinds[task], src, ex, enc, i, labels)
        rows.append(row)
    return rows


def _row_label(task, kind, src, ex, enc, i, labels):
    if kind == "token":
        if task in src.tasks and enc.labels is not None:
            return enc.labels[i]
        return [IGNORE_INDEX] * len(enc.input_ids[i])
    if task in src.tasks and ex.label is not None and ex.label in labels[task]:
        return labels[task].id(ex.label)
    return IGNORE_INDEX


class RowDataset(Dataset):
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


def collate(rows: list[dict], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad to the longest row: ids with pad_id, masks with 0, labels and word ids ignored."""
    width = max(len(r["input_ids"]) for r in rows)
    batch: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if not isinstance(values[0], list):
            batch[key] = torch.tensor(values)
            continue
        fill = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": 0}.get(key, -100)
        if key == "word_ids":
            fill = -1
        padded = [v + [fill] * (width - len(v)) for v in values]
        batch[key] = torch.tensor(padded)  # (B, T)
    return batch


class MultiTaskDataModule(pl.LightningDataModule):
    """Reads, labels and encodes every source once; serves shuffled train and per-source eval."""

    def __init__(self, cfg: RunConfig, tokenizer, label_sets: dict[str, LabelSet] | None = None):
        super().__init__()
        self.cfg, self.tokenizer = cfg, tokenizer
        self.kinds = {name: t.kind for name, t in cfg.tasks.items()}
        self.sources = group_sources(cfg)
        for src in self.sources:
            src.splits = load_splits(src.config, cfg.trainer.seed)
        self.label_sets = label_sets or build_label_sets(cfg, self.sources)
        self.train_stats = EncodeStats()
        self._encoded: dict[str, list[list[dict]]] = {}
        self._resume = {"epoch": 0, "batches_done": 0}  # set by load_state_dict

    def rows(self, split: str) -> list[list[dict]]:
        """Encoded rows per source (cached)."""
        if split not in self._encoded:
            stats = self.train_stats if split == "train" else None
            self._encoded[split] = [
                encode_source(
                    self.tokenizer,
                    s,
                    split,
                    self.kinds,
                    self.label_sets,
                    self.cfg.model.max_length,
                    list(self.cfg.tasks),
                    stats,
                )
                for s in self.sources
            ]
            if split == "train" and stats.n_truncated_examples:
                log.warning(
                    "max_length %d truncated %d of %d training examples (%d words lost)",
                    self.cfg.model.max_length,
                    stats.n_truncated_examples,
                    stats.n_examples,
                    stats.n_truncated_words,
                )
        return self._encoded[split]

    def _pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0

    def _loader(self, rows, batch_size, shuffle, sampler=None) -> DataLoader:
        return DataLoader(
            RowDataset(rows),
            batch_size=batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            collate_fn=lambda b: collate(b, self._pad_id()),
            num_workers=self.cfg.trainer.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        """One source, or `sampling: mixed`: a shuffled pass over all rows. Else batches of
        one source each, chosen by the task sampler (polyhead.engine.sampling)."""
        per_source = self.rows("train")
        rows = [r for rows in per_source for r in rows]
        t = self.cfg.trainer
        rank, world = self._replicas()
        if t.sampling == "mixed" or sum(1 for rows in per_source if rows) < 2:
            # trainer.batch_size is the global batch: each of `world` processes takes a share.
            replay = ReplaySampler(RowDataset(rows), t.seed, world, rank)
            replay.set_epoch(self._resume["epoch"])  # on resume Lightning sets it after iter()
            replay.skip = self._resume["batches_done"] * self._device_batch(world)
            return self._loader(rows, self._device_batch(world), shuffle=False, sampler=replay)
        # Constructor arguments, not attributes: under DDP Lightning re-creates the sampler.
        sampler = self.task_sampler(self._device_batch(world))
        # Known gap (docs/issues/issue-8.md): under DDP Lightning re-creates this sampler and the
        # resume epoch is lost, so a resumed multi-source DDP run replays epoch 0's order once.
        sampler.set_epoch(self._resume["epoch"])
        names = ["+".join(s.tasks) for s in self.sources]
        log.info("%s", sampler.describe(names))
        return DataLoader(
            RowDataset(rows),
            batch_sampler=sampler,
            collate_fn=lambda b: collate(b, self._pad_id()),
            num_workers=t.num_workers,
        )

    # ---- processes and resume (polyhead.engine.faults) --------------------------------------
    def _replicas(self) -> tuple[int, int]:
        t = self.trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def _device_batch(self, world: int) -> int:
        if self.cfg.trainer.batch_size % world:
            raise ConfigError(
                "trainer.batch_size",
                f"{self.cfg.trainer.batch_size} (the global batch) does not split evenly over "
                f"{world} processes; use a multiple of {world}",
            )
        return self.cfg.trainer.batch_size // world

    def state_dict(self) -> dict:
        """Saved in every checkpoint: where the next training batch comes from."""
        return loop_position(self.trainer) if self.trainer is not None else {}

    def load_state_dict(self, state: dict) -> None:
        self._resume = {k: state.get(k, 0) for k in ("epoch", "batches_done")}

    def task_sampler(self, batch_size: int | None = None) -> TaskBatchSampler:
        t = self.cfg.trainer
        sizes = [len(rows) for rows in self.rows("train")]
        batch = batch_size or t.batch_size
        return TaskBatchSampler(sizes, batch, t.sampling, t.temperature, t.seed)

    def eval_dataloaders(self, split: str) -> list[DataLoader]:
        """One loader per source that has examples in `split` (rows carry their source)."""
        return [
            self._loader(rows, self.cfg.trainer.eval_batch_size, shuffle=False)
            for rows in self.rows(split)
            if rows
        ]

    def has_split(self, split: str) -> bool:
        return any(src.splits[split] for src in self.sources)

    def val_dataloader(self):
        return self.eval_dataloaders("dev")

    def test_dataloader(self):
        return self.eval_dataloaders("test")
