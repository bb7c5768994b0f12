"""The Lightning DataModule: every source read, labelled and encoded once (polyhead.data),
served as shuffled training batches (one source per batch, or mixed; of similar length under
`trainer.bucketing`) and per-source eval loaders sorted by length, with the loop position saved
in checkpoints for exact resume."""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from functools import partial

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from polyhead.config import RunConfig
from polyhead.data.arrow import ArrowSplit
from polyhead.data.labels import LabelSet
from polyhead.data.pair_rows import ChainRows, RowLengths, collate_any
from polyhead.data.rows import (
    PAD_MULTIPLE,
    EncodeStats,
    RowDataset,
    build_label_sets,
    encode_source,
    padding_tokens,
    sorted_by_length,
)
from polyhead.data.sampling import LengthBucketSampler, TaskBatchSampler
from polyhead.data.sources import group_sources, load_splits
from polyhead.data.words import word_counts
from polyhead.engine.faults import ReplaySampler, loop_position
from polyhead.engine.pair_data import build_pair_sources
from polyhead.errors import ConfigError

log = logging.getLogger("polyhead")


class MultiTaskDataModule(pl.LightningDataModule):
    """Reads, labels and encodes every source once; serves shuffled train and per-source eval."""

    def __init__(self, cfg: RunConfig, tokenizer, label_sets: dict[str, LabelSet] | None = None):
        super().__init__()
        self.cfg, self.tokenizer = cfg, tokenizer
        self.kinds = cfg.kinds()
        self.sources = group_sources(cfg.task_sources())
        for src in self.sources:
            src.splits = load_splits(src.config, cfg.trainer.seed)
        self.label_sets = label_sets or build_label_sets(self.kinds, self.sources)
        self.train_stats = EncodeStats()
        self._encoded: dict[str, list[list[dict]]] = {}
        self._resume = {"epoch": 0, "batches_done": 0}  # set by load_state_dict
        # embedding tasks: their pairs sources, after the head sources (polyhead.engine.pair_data)
        self.pair_sources = build_pair_sources(cfg, self.sources, self.rows, tokenizer)
        # Widths batches are padded to (polyhead.data.rows.static_widths) when the model is
        # compiled for static shapes; None: the longest row (a multiple of 8 on CUDA).
        self.widths: tuple[int, ...] | None = None
        self._row_lengths: RowLengths | None = None  # of the training rows, read once

    def rows(self, split: str) -> list[list[dict]]:
        """Encoded rows per source (cached): one per example, or per window of a long
        token-task example (data.windows)."""
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
                    stats,
                    stride=s.config.window_stride(),
                    context=s.config.context,
                )
                for s in self.sources
            ]
            if split == "train":
                self._log_lengths(stats)
        return self._encoded[split]

    def _log_lengths(self, stats: EncodeStats) -> None:
        max_length = self.cfg.model.max_length
        if stats.n_truncated_examples:
            log.warning(
                "max_length %d truncated %d of %d training examples (%d words lost)",
                max_length,
                stats.n_truncated_examples,
                stats.n_examples,
                stats.n_truncated_words,
            )
        if stats.n_windowed_examples:
            log.info(
                "max_length %d: %d of %d training examples split into windows (%d rows)",
                max_length,
                stats.n_windowed_examples,
                stats.n_examples,
                stats.n_rows,
            )

    def train_words(self) -> Counter[str]:
        """Each distinct training word's count, what `model.words: auto` and the trimmed
        punctuation are decided from: the token-task sources' words (entities are where words
        matter), else all. An Arrow split counts in Arrow (no Python object per row)."""
        token = [s for s in self.sources if any(self.kinds[t] == "token" for t in s.tasks)]
        counts: Counter[str] = Counter()
        for s in token or self.sources:
            train = s.splits["train"]
            if isinstance(train, ArrowSplit):
                counts.update(train.word_counts())
            else:
                counts.update(word_counts(ex.tokens for ex in train))
        return counts

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0

    def _on_cuda(self) -> bool:
        t = self.trainer
        return t is not None and t.strategy.root_device.type == "cuda"

    def _multiple(self) -> int:
        """Widths a multiple of 8 on GPUs (tensor-core tiles); the longest row on CPU, where a
        padded token costs as much as a real one (polyhead.data.rows.PAD_MULTIPLE)."""
        return PAD_MULTIPLE if self._on_cuda() else 1

    def _loader_options(self) -> dict:
        """Padding (to the compiled widths when the module set them), workers, pinning."""
        workers = self.cfg.trainer.num_workers
        if workers == "auto":  # on CPU worker processes would take cores from the model
            workers = min(4, (os.cpu_count() or 1) // 2) if self._on_cuda() else 0
        return {
            "collate_fn": partial(
                collate_any, pad_id=self.pad_id, widths=self.widths, multiple=self._multiple()
            ),
            "num_workers": workers,
            "pin_memory": self._on_cuda(),
        }

    def _loader(self, rows, batch_size, sampler=None) -> DataLoader:
        return DataLoader(RowDataset(rows), batch_size, sampler=sampler, **self._loader_options())

    def train_parts(self) -> list:
        """The training rows of each source in the sampler's order: head sources, then the
        pairs sources of the embedding tasks that train (an idle one has no rows)."""
        pairs = [p.rows["train"] if p.trains else [] for p in self.pair_sources]
        return [*self.rows("train"), *pairs]

    def set_epoch(self, epoch: int) -> None:
        """Pairs made from labels are new each epoch (PolyheadModule calls this)."""
        for p in self.pair_sources:
            if hasattr(p.rows["train"], "set_epoch"):
                p.rows["train"].set_epoch(epoch)

    def train_dataloader(self) -> DataLoader:
        """One source, or `sampling: mixed`: a shuffled pass over all rows. Else batches of
        one source each, chosen by the task sampler (polyhead.data.sampling)."""
        self.set_epoch(self._resume["epoch"])
        # indexes each source's rows lazily (copies none): pairs from labels change each epoch
        rows = ChainRows(self.train_parts())
        rank, world = self._replicas()
        batch = self._device_batch(world)
        if not self._per_source():
            if self.cfg.trainer.bucketing:
                sampler = self.bucket_sampler(**self._resume)
                return DataLoader(RowDataset(rows), batch_sampler=sampler, **self._loader_options())
            # trainer.batch_size is the global batch: each of `world` processes takes a share.
            replay = self._replay(world, rank, self._resume["epoch"])
            replay.skip = self._resume["batches_done"] * batch
            return self._loader(rows, batch, sampler=replay)
        # Epoch and skip as constructor arguments: under DDP Lightning re-creates the sampler
        # from them, so attributes set here would be lost.
        sampler = self.task_sampler(batch, **self._resume)
        names = ["+".join(s.tasks) for s in self.sources] + [p.task for p in self.pair_sources]
        log.info("%s", sampler.describe(names))
        return DataLoader(RowDataset(rows), batch_sampler=sampler, **self._loader_options())

    def steps_per_epoch(self) -> int:
        """Optimizer steps in one training epoch (global batches: the same on any number of
        processes, since trainer.batch_size is the global batch)."""
        if self._per_source():
            return self.task_sampler().batches_per_epoch
        rows = sum(len(part) for part in self.train_parts())
        return math.ceil(rows / self.cfg.trainer.batch_size)

    def _per_source(self) -> bool:
        """Batches of one source each (the task sampler), or of all rows together."""
        several = sum(1 for rows in self.train_parts() if rows) > 1
        return several and self.cfg.trainer.sampling != "mixed"

    def _lengths(self) -> RowLengths:
        """Each training row's bucketing length (a pairs row: its longest side), read from
        the rows as they are this epoch."""
        if self._row_lengths is None:
            self._row_lengths = RowLengths(self.train_parts())
        return self._row_lengths

    def _replay(self, world: int, rank: int, epoch: int) -> ReplaySampler:
        replay = ReplaySampler(RowDataset(self._lengths()), self.cfg.trainer.seed, world, rank)
        replay.set_epoch(epoch)  # on resume Lightning sets it after iter()
        return replay

    def bucket_sampler(self, epoch: int = 0, batches_done: int = 0) -> LengthBucketSampler:
        """Over all rows; `trainer.batch_size` is the global batch (split over processes)."""
        t = self.cfg.trainer
        return LengthBucketSampler(self._lengths(), t.batch_size, t.seed, epoch=epoch,
                                   skip=batches_done)  # fmt: skip

    def padding_ratio(self, epoch: int) -> float:
        """Padded / real tokens over the training batches of `epoch`, all processes (the
        batches are a pure function of seed and epoch, so they are rebuilt here)."""
        lengths, (_, world), t = self._lengths(), self._replicas(), self.cfg.trainer
        batch, shares = self._device_batch(world), []
        for r in range(world):
            if self._per_source():
                sampler = self.task_sampler(batch, epoch, rank=r, world=world)
            elif t.bucketing:
                sampler = LengthBucketSampler(lengths, t.batch_size, t.seed, r, world, epoch=epoch)
            else:
                order = list(self._replay(world, r, epoch))
                sampler = [order[i : i + batch] for i in range(0, len(order), batch)]
            shares += list(sampler)
        padded, real = padding_tokens(shares, lengths.sides(), self.widths, self._multiple())
        return padded / max(1, real)

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

    def task_sampler(
        self,
        batch_size: int | None = None,
        epoch: int = 0,
        batches_done: int = 0,
        rank: int | None = None,
        world: int | None = None,
    ) -> TaskBatchSampler:
        t = self.cfg.trainer
        sizes = [len(rows) for rows in self.train_parts()]
        return TaskBatchSampler(
            sizes, batch_size or t.batch_size, t.sampling, t.temperature, t.seed, rank, world,
            epoch=epoch, skip=batches_done, lengths=self._lengths() if t.bucketing else None,
        )  # fmt: skip

    def eval_dataloaders(self, split: str) -> list[DataLoader]:
        """One loader per source that has examples in `split` (rows carry their source),
        longest rows first."""
        size = self.cfg.trainer.eval_batch_size
        return [self._loader(sorted_by_length(rows), size) for rows in self.rows(split) if rows]

    def pair_eval_dataloaders(self, split: str) -> list[DataLoader]:
        """One loader per pairs file with pairs in `split` (embedding metrics)."""
        return [
            self._loader(p.rows[split], self.cfg.trainer.eval_batch_size)
            for p in self.pair_sources
            if p.splits.get(split)
        ]

    def has_split(self, split: str) -> bool:
        return any(src.splits[split] for src in self.sources) or any(
            p.splits.get(split) for p in self.pair_sources
        )

    def val_dataloader(self):
        return self.eval_dataloaders("dev") + self.pair_eval_dataloaders("dev")

    def test_dataloader(self):
        return self.eval_dataloaders("test") + self.pair_eval_dataloaders("test")
