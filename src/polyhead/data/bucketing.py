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

import random
from collections.abc import Sequence

POOL = 64  # batches per sorted pool (2,048 rows at batch 32)


def bucketed(
    rows: list[int], lengths: Sequence[int], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """`rows` (shuffled) -> batches of similar length, in shuffled order. As many batches as
    plain cutting gives (ceil(len(rows) / batch_size)): a pool is a whole number of batches,
    so only the last pool's last batch is short. The sort is stable: equal lengths keep
    their shuffled order."""
    span = batch_size * POOL
    # one C array read once (RowLengths.as_array): a Python call per row to a lazy view
    # was most of a second per million rows before the first step
    key = (lengths.as_array() if hasattr(lengths, "as_array") else lengths).__getitem__
    batches = []
    for start in range(0, len(rows), span):
        pool = sorted(rows[start : start + span], key=key)
        batches += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    rng.shuffle(batches)
    return batches
