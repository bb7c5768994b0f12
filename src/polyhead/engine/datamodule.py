"""The Lightning DataModule: every source read, labelled and encoded once (polyhead.data),
served as shuffled training batches (one source per batch, or mixed) and per-source eval
loaders, with the loop position saved in checkpoints for exact resume."""

from __future__ import annotations

import logging
from collections import Counter

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from polyhead.config import RunConfig
from polyhead.data.arrow import ArrowSplit
from polyhead.data.labels import LabelSet
from polyhead.data.pair_rows import ChainRows, collate_any
from polyhead.data.rows import EncodeStats, RowDataset, build_label_sets, encode_source
from polyhead.data.sampling import TaskBatchSampler
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

    def _loader(self, rows, batch_size, shuffle, sampler=None) -> DataLoader:
        return DataLoader(
            RowDataset(rows),
            batch_size=batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            collate_fn=lambda b: collate_any(b, self.pad_id),
            num_workers=self.cfg.trainer.num_workers,
        )

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
        one source each, chosen by the task sampler (polyhead.engine.sampling)."""
        self.set_epoch(self._resume["epoch"])
        per_source = self.train_parts()
        # indexes each source's rows lazily (copies none): pairs from labels change each epoch
        rows = ChainRows(per_source)
        t = self.cfg.trainer
        rank, world = self._replicas()
        if t.sampling == "mixed" or sum(1 for rows in per_source if rows) < 2:
            # trainer.batch_size is the global batch: each of `world` processes takes a share.
            replay = ReplaySampler(RowDataset(rows), t.seed, world, rank)
            replay.set_epoch(self._resume["epoch"])  # on resume Lightning sets it after iter()
            replay.skip = self._resume["batches_done"] * self._device_batch(world)
            return self._loader(rows, self._device_batch(world), shuffle=False, sampler=replay)
        # Epoch and skip as constructor arguments: under DDP Lightning re-creates the sampler
        # from them, so attributes set here would be lost.
        sampler = self.task_sampler(self._device_batch(world), **self._resume)
        names = ["+".join(s.tasks) for s in self.sources] + [p.task for p in self.pair_sources]
        log.info("%s", sampler.describe(names))
        return DataLoader(
            RowDataset(rows),
            batch_sampler=sampler,
            collate_fn=lambda b: collate_any(b, self.pad_id),
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

    def task_sampler(
        self, batch_size: int | None = None, epoch: int = 0, batches_done: int = 0
    ) -> TaskBatchSampler:
        t = self.cfg.trainer
        sizes = [len(rows) for rows in self.train_parts()]
        batch = batch_size or t.batch_size
        return TaskBatchSampler(
            sizes, batch, t.sampling, t.temperature, t.seed, epoch=epoch, skip=batches_done
        )

    def eval_dataloaders(self, split: str) -> list[DataLoader]:
        """One loader per source that has examples in `split` (rows carry their source)."""
        return [
            self._loader(rows, self.cfg.trainer.eval_batch_size, shuffle=False)
            for rows in self.rows(split)
            if rows
        ]

    def pair_eval_dataloaders(self, split: str) -> list[DataLoader]:
        """One loader per pairs file with pairs in `split` (embedding metrics)."""
        return [
            self._loader(p.rows[split], self.cfg.trainer.eval_batch_size, shuffle=False)
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
