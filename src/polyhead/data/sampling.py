"""Task sampling across data sources: which source each training batch comes from.

When tasks come from different files (BANKING77 intents, WNUT-17 entities), every batch holds
rows of one source only: its rows label that source's tasks, so a batch adds loss to exactly
those tasks, and no batch pads short utterances to the length of long tweets of another
source. Sources that label the same sentences (intent + slots) are one source.

Which source the next batch comes from:

- `proportional`: each source in proportion to its size. Within an epoch every row is seen
  exactly once: each source's shuffled rows are cut into batches and the batches of all
  sources are shuffled together.
- `temperature`: source s with probability n_s**(1/T) / sum_k n_k**(1/T), drawn per batch.
  T = 1 is proportional in expectation, large T approaches uniform; T = 2 is the usual
  up-sampling of small tasks (multilingual BERT/XLM-R use T ~ 3 on languages).
- `round_robin`: the sources take turns, one batch each.

Temperature and round-robin read each source as an endless stream (reshuffled at the end of
every pass), so small sources repeat and large ones are not exhausted within an epoch.

**One epoch is the same number of batches for every sampler**: sum over sources of
ceil(n_s / batch_size), the number of batches the proportional sampler needs to show every
row once. Epoch-based settings (schedules, patience, unfreezing) thus mean the same amount of
training whichever sampler is chosen.

(`trainer.sampling: mixed` does not use this sampler: the rows of all sources are shuffled
together, so batches mix sources.)

Under `trainer.bucketing` (polyhead.data.bucketing) each source's batches hold rows of
similar length (`lengths`); one source, or `mixed`, gets `LengthBucketSampler` over all rows.

Under distributed training each process takes every world_size-th batch of the same
seeded sequence (the last few are repeated so all processes step equally often).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import BatchSampler

from polyhead.data.bucketing import bucketed, epoch_rng

SAMPLERS = ("proportional", "temperature", "round_robin")


def source_probabilities(sizes: list[int], mode: str, temperature: float = 1.0) -> list[float]:
    """The chance that a batch comes from each source (in expectation, per epoch)."""
    if mode == "round_robin":
        weights = [1.0 if n else 0.0 for n in sizes]
    elif mode == "temperature":
        weights = [n ** (1.0 / temperature) for n in sizes]
    elif mode == "proportional":
        weights = [float(n) for n in sizes]
    else:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLERS)}, got {mode!r}")
    total = sum(weights)
    return [w / total for w in weights]


class EpochHook:
    """A batch sampler's `sampler` attribute that passes `set_epoch` on to it. Lightning calls
    `set_epoch` at every epoch start on `dataloader.sampler` and `batch_sampler.sampler`,
    never on a batch sampler itself: without this hook every epoch replayed epoch 0's order,
    and a run resumed at a later epoch took another order than the original."""

    def __init__(self, owner):
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.epoch = epoch


def replicas(rank: int | None = None, world: int | None = None) -> tuple[int, int]:
    """(rank, world size): the given ones, else torch.distributed's, else (0, 1)."""
    if world is not None:
        return rank or 0, world
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class TaskBatchSampler(BatchSampler):
    """A batch sampler over the rows of several sources laid end to end (source 0's rows,
    then source 1's, ...): yields lists of row indices, each list from one source.

    A `BatchSampler` subclass with a `sampler` argument only so that Lightning, under DDP,
    can re-create it with its distributed sampler; that sampler is ignored, because this
    one splits its own batches across processes (same seeded order everywhere).
    """

    drop_last = False

    def __init__(
        self,
        sizes: list[int],
        batch_size: int,
        mode: str = "proportional",
        temperature: float = 2.0,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        sampler=None,
        epoch: int = 0,
        skip: int = 0,
        lengths: Sequence[int] | None = None,
    ):
        if mode not in SAMPLERS:
            raise ValueError(f"sampling must be one of {', '.join(SAMPLERS)}, got {mode!r}")
        if not any(sizes):
            raise ValueError("no training rows in any source")
        self.sizes, self.batch_size, self.mode = list(sizes), batch_size, mode
        self.temperature, self.seed, self.epoch = temperature, seed, epoch
        # Batches of this process to drop from the next iteration only: the part of an epoch a
        # resumed run already trained on. Constructor arguments (like `epoch`), because under
        # DDP Lightning re-creates the sampler from them.
        self.skip = skip
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.probabilities = source_probabilities(self.sizes, mode, temperature)
        self._rank, self._world = rank, world_size
        self.sampler = EpochHook(self)  # how Lightning's set_epoch reaches this sampler
        # Bucketing lengths of the rows laid end to end, by reference: a lazy view
        # (polyhead.data.pair_rows.RowLengths) reads rows that change each epoch as they are now.
        self.lengths = lengths

    @property
    def batches_per_epoch(self) -> int:
        """Summed over processes: what the proportional sampler needs to show every row once."""
        return sum(math.ceil(n / self.batch_size) for n in self.sizes)

    def _replicas(self) -> tuple[int, int]:
        return replicas(self._rank, self._world)

    def __len__(self) -> int:
        return math.ceil(self.batches_per_epoch / self._replicas()[1])

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this at every epoch start: each epoch gets its own order."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        rng = epoch_rng(self.seed, self.epoch)
        batches = self._proportional(rng) if self.mode == "proportional" else self._drawn(rng)
        rank, world = self._replicas()
        n = len(self) * world
        while len(batches) < n:  # every process steps equally often
            batches += batches[: n - len(batches)]
        skip, self.skip = self.skip, 0
        for batch in batches[rank:n:world][skip:]:
            yield batch.tolist()  # Python ints for one batch at a time, not for the epoch

    # ---- the orders ----------------------------------------------------------------------
    def _proportional(self, rng: np.random.Generator) -> list[np.ndarray]:
        batches = []
        for s in range(len(self.sizes)):
            batches += self._cut(self._shuffled(s, rng), rng)
        return [batches[i] for i in rng.permutation(len(batches))]

    def _drawn(self, rng: np.random.Generator) -> list[np.ndarray]:
        streams = [self._stream(s, rng) for s in range(len(self.sizes))]
        live = [s for s, n in enumerate(self.sizes) if n]
        if self.mode == "round_robin":
            order = [live[i % len(live)] for i in range(self.batches_per_epoch)]
        else:
            order = rng.choice(len(self.sizes), size=self.batches_per_epoch, p=self.probabilities)
        return [next(streams[s]) for s in order]

    def _stream(self, s: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """Endless batches of source s: a fresh shuffle at the end of every pass."""
        while self.sizes[s]:
            yield from self._cut(self._shuffled(s, rng), rng)

    def _cut(self, rows: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Shuffled rows -> batches: by length with `lengths`, else plain slices."""
        if self.lengths is not None:
            return bucketed(rows, self.lengths, self.batch_size, rng)
        return [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]

    def _shuffled(self, s: int, rng: np.random.Generator) -> np.ndarray:
        return self.offsets[s] + rng.permutation(self.sizes[s])

    def describe(self, names: list[str]) -> str:
        share = ", ".join(f"{n} {p:.0%}" for n, p in zip(names, self.probabilities, strict=True))
        how = f"temperature T={self.temperature:g}" if self.mode == "temperature" else self.mode
        return f"task sampling {how}: {share} of batches; epoch = {self.batches_per_epoch} batches"


class LengthBucketSampler(BatchSampler):
    """Bucketed batches over all rows (one source, or `sampling: mixed`), for every process.

    `batch_size` is the global batch: each of `world` processes takes rows rank, rank+world,
    ... of every global batch, so N processes train on exactly the batches one process
    would (a short last batch is topped up with rows of the first one, as torch's
    DistributedSampler tops up its shards). `skip` drops the first batches of the next
    iteration only (the part of an epoch a resumed run already trained on). A
    `BatchSampler` with a `sampler` argument only so Lightning can re-create it under DDP
    (from these constructor arguments); that sampler is ignored.
    """

    drop_last = False

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        sampler=None,
        epoch: int = 0,
        skip: int = 0,
    ):
        if not lengths:
            raise ValueError("no training rows")
        # lengths by reference, as in TaskBatchSampler
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.epoch, self.skip = epoch, skip
        self._rank, self._world = rank, world_size
        self.sampler = EpochHook(self)  # the `sampler` argument (Lightning's) is ignored

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this at every epoch start: each epoch gets its own order."""
        self.epoch = epoch

    def global_batches(self) -> list[np.ndarray]:
        """This epoch's batches of all processes together (a pure function of seed, epoch)."""
        rng = epoch_rng(self.seed, self.epoch)
        return bucketed(rng.permutation(len(self.lengths)), self.lengths, self.batch_size, rng)

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = replicas(self._rank, self._world)
        batches = self.global_batches()
        skip, self.skip = self.skip, 0
        first = batches[0].tolist()
        for batch in batches[skip:]:
            filled = batch.tolist() + [first[i % len(first)] for i in range(-len(batch) % world)]
            yield filled[rank::world]
