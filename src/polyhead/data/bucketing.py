"""Length-bucketed training batches (`trainer.bucketing`, on by default).

A batch is padded to its longest row, so random batches of short and long utterances spend
much of every step on padding. Bucketing cuts the rows (already shuffled) into pools of
`POOL` batches, sorts each pool by length and cuts it into batches, then shuffles the
batches: every batch holds rows of similar length, while which rows meet, and the order of
the batches, still change every epoch. A pool (not the whole split) keeps that randomness:
sorting the whole split would always put the same short rows together.

Everything is drawn from the generator the caller passes, seeded by (seed, epoch): the order
is a pure function of both, which exact resume and DDP rely on. The batch samplers that use
it (`LengthBucketSampler` over all rows, `TaskBatchSampler` within each source) are in
polyhead.data.sampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POOL = 64  # batches per sorted pool (2,048 rows at batch 32)


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch's order: a pure function of (seed, epoch). numpy, not
    `random.Random`: a Python shuffle of a million row indices took a second and kept a
    Python int per row until the epoch ended."""
    return np.random.default_rng([seed, epoch])  # seed: 0 .. 2**32 - 1 (TrainerConfig)


def bucketed(
    rows: Sequence[int], lengths: Sequence[int], batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """`rows` (shuffled) -> batches of similar length, in shuffled order. As many batches as
    plain cutting gives (ceil(len(rows) / batch_size)): a pool is a whole number of batches,
    so only the last pool's last batch is short. The sort is stable: equal lengths keep
    their shuffled order. Batches are int64 arrays (views of the sorted pools)."""
    rows = np.asarray(rows, dtype=np.int64)
    # one C array read once (RowLengths.as_array): a Python call per row to a lazy view
    # was most of a second per million rows before the first step
    lens = np.asarray(lengths.as_array() if hasattr(lengths, "as_array") else lengths)
    span = batch_size * POOL
    batches = []
    for start in range(0, len(rows), span):
        pool = rows[start : start + span]
        pool = pool[np.argsort(lens[pool], kind="stable")]
        batches += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
