"""Length-bucketed batches: every row once per epoch, less padding than random batches, a
pure function of (seed, epoch), equal disjoint shares per process, resumable by skipping;
padding to a multiple of 8 (or to the compiled widths) in collate."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from polyhead.data.bucketing import POOL, bucketed
from polyhead.data.rows import PAD_MULTIPLE, collate, pad_width, padding_tokens, static_widths
from polyhead.data.sampling import LengthBucketSampler, TaskBatchSampler

# utterance-like lengths: mostly 8-20 subwords, a long tail to 60
_rng = random.Random(0)
LENGTHS = [min(60, 6 + int(_rng.expovariate(1 / 8))) for _ in range(3000)]
BATCH = 16


def plain_batches(n: int, seed: int) -> list[list[int]]:
    rows = list(range(n))
    random.Random(seed).shuffle(rows)
    return [rows[i : i + BATCH] for i in range(0, n, BATCH)]


def test_bucketed_batches_hold_every_row_once_and_pad_far_less():
    rows = list(range(len(LENGTHS)))
    random.Random(1).shuffle(rows)
    batches = bucketed(rows, LENGTHS, BATCH, np.random.default_rng(1))
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    assert len(batches) == math.ceil(len(LENGTHS) / BATCH)
    assert sum(len(b) < BATCH for b in batches) <= 1  # only the last pool's last batch
    padded, real = padding_tokens(batches, LENGTHS)
    plain_padded, plain_real = padding_tokens(plain_batches(len(LENGTHS), 1), LENGTHS)
    assert real == plain_real == sum(LENGTHS)
    # random batches of this length mix pad ~2x; sorted pools leave little beyond the
    # rounding to 8
    assert plain_padded / plain_real > 1.6
    assert padded / real < 1.3


def test_batches_are_shuffled_not_sorted():
    rows = list(range(len(LENGTHS)))
    batches = bucketed(rows, LENGTHS, BATCH, np.random.default_rng(2))
    widths = [max(LENGTHS[i] for i in b) for b in batches]
    assert widths != sorted(widths) and widths != sorted(widths, reverse=True)
    # a pool is POOL batches: rows sort only within their pool of POOL * BATCH rows
    first_pool = set(rows[: POOL * BATCH])
    assert any(set(b) <= first_pool for b in batches)


def test_order_is_a_function_of_seed_and_epoch():
    a, b = LengthBucketSampler(LENGTHS, BATCH, seed=7), LengthBucketSampler(LENGTHS, BATCH, seed=7)
    assert list(a) == list(b)
    epoch0 = list(a)
    a.set_epoch(1)
    assert list(a) != epoch0
    assert list(LengthBucketSampler(LENGTHS, BATCH, seed=8)) != epoch0


@pytest.mark.parametrize("world", [2, 3])
def test_processes_take_equal_disjoint_shares_of_the_same_global_batches(world):
    one = list(LengthBucketSampler(LENGTHS, BATCH, seed=3))
    shares = [list(LengthBucketSampler(LENGTHS, BATCH, 3, r, world)) for r in range(world)]
    assert len({len(s) for s in shares}) == 1 and len(shares[0]) == len(one)
    for k, batch in enumerate(one):
        parts = [s[k] for s in shares]
        assert len({len(p) for p in parts}) == 1  # equal size
        merged = [i for p in parts for i in p]
        if len(batch) % world == 0:  # disjoint, and together the single process's batch
            assert sorted(merged) == sorted(batch)
        else:  # the short last batch is topped up with rows of the first batch
            assert set(batch) <= set(merged) and set(merged) - set(batch) <= set(one[0])


def test_skip_resumes_where_the_interrupted_epoch_stopped():
    full = list(LengthBucketSampler(LENGTHS, BATCH, seed=4, epoch=2))
    resumed = LengthBucketSampler(LENGTHS, BATCH, seed=4, epoch=2, skip=5)
    assert list(resumed) == full[5:]
    assert list(resumed) == full  # the skip applies to the next iteration only


def test_task_sampler_buckets_within_each_source():
    sizes = [2000, 1000]
    plain = TaskBatchSampler(sizes, BATCH, "proportional", seed=0)
    sampler = TaskBatchSampler(sizes, BATCH, "proportional", seed=0, lengths=LENGTHS)
    batches = list(sampler)
    assert len(batches) == len(plain) == 125 + 63
    assert sorted(i for b in batches for i in b) == list(range(3000))
    assert all(max(b) < 2000 or min(b) >= 2000 for b in batches)  # one source per batch
    assert padding_tokens(batches, LENGTHS)[0] < 0.8 * padding_tokens(list(plain), LENGTHS)[0]
    drawn = TaskBatchSampler(sizes, BATCH, "temperature", seed=0, lengths=LENGTHS)
    assert len(list(drawn)) == len(batches)


def test_collate_pads_to_a_multiple_of_8_or_to_the_compiled_widths():
    rows = [{"input_ids": [5] * n, "attention_mask": [1] * n, "labels.x": 1} for n in (3, 9)]
    assert collate(rows, pad_id=0)["input_ids"].shape == (2, 9)  # default: the longest row
    batch = collate(rows, pad_id=0, multiple=PAD_MULTIPLE)  # what the engine asks for on CUDA
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"].sum().item() == 12  # padding is masked out
    assert collate(rows, widths=(32, 64))["input_ids"].shape == (2, 32)
    assert [pad_width(n) for n in (1, 8, 9, 64)] == [8, 8, 16, 64]
    assert static_widths(64) == (16, 32, 48, 64)
    assert static_widths(50) == (16, 32, 48, 56)
    assert pad_width(70, static_widths(64)) == 72  # past the widths: multiple of 8


def test_lightning_reaches_set_epoch_through_the_sampler_attribute():
    """Lightning calls set_epoch on `batch_sampler.sampler` only (fabric's
    _set_sampler_epoch): each epoch must still get its own order (the task sampler's
    test: tests/data/sampling/test_sampler.py)."""
    sampler = LengthBucketSampler(LENGTHS, BATCH, seed=1)
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    loader = DataLoader(range(3000), batch_sampler=sampler)
    _set_sampler_epoch(loader, 0)
    first = list(sampler)
    _set_sampler_epoch(loader, 1)
    assert sampler.epoch == 1 and list(sampler) != first
