"""Task samplers: homogeneous batches, the documented epoch length, and the promised
proportions of batches per source over many batches."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from polyhead.data.sampling import TaskBatchSampler, source_probabilities

SIZES = [900, 100, 300]  # rows of sources 0, 1, 2, laid end to end
BATCH = 16


def source_of(index: int, sizes=SIZES) -> int:
    edge = 0
    for s, n in enumerate(sizes):
        edge += n
        if index < edge:
            return s
    raise AssertionError(index)


def batch_sources(sampler: TaskBatchSampler, epochs: int) -> list[int]:
    out = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in sampler:
            sources = {source_of(i) for i in batch}
            assert len(sources) == 1, "a batch mixes sources"
            assert 0 < len(batch) <= BATCH
            out.append(sources.pop())
    return out


@pytest.mark.parametrize("mode", ["proportional", "temperature", "round_robin"])
def test_an_epoch_is_the_proportional_number_of_batches(mode):
    sampler = TaskBatchSampler(SIZES, BATCH, mode, temperature=2.0, seed=1)
    expected = sum(math.ceil(n / BATCH) for n in SIZES)  # 57 + 7 + 19
    assert len(sampler) == expected == 83
    assert len(list(sampler)) == expected


def test_proportional_shows_every_row_once_per_epoch():
    sampler = TaskBatchSampler(SIZES, BATCH, "proportional", seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        rows = [i for batch in sampler for i in batch]
        assert sorted(rows) == list(range(sum(SIZES)))
    counts = Counter(batch_sources(sampler, 1))
    assert counts == {0: 57, 1: 7, 2: 19}


def test_temperature_follows_n_to_the_one_over_t():
    sampler = TaskBatchSampler(SIZES, BATCH, "temperature", temperature=2.0, seed=0)
    drawn = batch_sources(sampler, 60)  # ~5,000 batches
    share = {s: c / len(drawn) for s, c in Counter(drawn).items()}
    root = [n**0.5 for n in SIZES]  # 30, 10, 17.3
    for s, r in enumerate(root):
        assert share[s] == pytest.approx(r / sum(root), abs=0.02)
    assert share[1] > 100 / sum(SIZES) + 0.08  # the small source is up-sampled


def test_temperature_one_is_proportional_and_large_t_near_uniform():
    assert source_probabilities(SIZES, "temperature", 1.0) == pytest.approx(
        source_probabilities(SIZES, "proportional")
    )
    assert source_probabilities(SIZES, "temperature", 1000.0) == pytest.approx(
        [1 / 3] * 3, abs=0.01
    )


def test_round_robin_takes_turns():
    sampler = TaskBatchSampler(SIZES, BATCH, "round_robin", seed=0)
    drawn = batch_sources(sampler, 10)
    assert drawn[:6] == [0, 1, 2, 0, 1, 2]
    counts = Counter(drawn)
    assert max(counts.values()) - min(counts.values()) <= 10  # one per epoch at most


def test_small_sources_repeat_when_drawn_more_than_their_rows():
    sampler = TaskBatchSampler(SIZES, BATCH, "round_robin", seed=0)
    rows = [i for batch in sampler for i in batch if source_of(i) == 1]
    assert len(rows) > 100 and set(rows) == set(range(900, 1000))


def test_epochs_differ_and_repeat_with_the_seed():
    a = TaskBatchSampler(SIZES, BATCH, "temperature", seed=5)
    b = TaskBatchSampler(SIZES, BATCH, "temperature", seed=5)
    first = list(a)
    assert first == list(b)
    a.set_epoch(1)
    assert list(a) != first


def test_processes_split_the_batches_evenly():
    ranks = [TaskBatchSampler(SIZES, BATCH, "proportional", 2.0, 0, r, 2) for r in (0, 1)]
    got = [list(s) for s in ranks]
    assert len(got[0]) == len(got[1]) == 42  # ceil(83 / 2)
    seen = [i for batches in got for batch in batches for i in batch]
    assert set(seen) == set(range(sum(SIZES)))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="proportional, temperature, round_robin"):
        TaskBatchSampler(SIZES, BATCH, "uniform")


def test_lightning_reaches_set_epoch_through_the_sampler_attribute():
    """Lightning calls set_epoch on `batch_sampler.sampler` only (fabric's
    _set_sampler_epoch): each epoch must still get its own order (before, every epoch
    replayed epoch 0's)."""
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    from polyhead.data.sampling import TaskBatchSampler

    sampler = TaskBatchSampler([2000, 1000], 32, seed=1)
    loader = DataLoader(range(3000), batch_sampler=sampler)
    _set_sampler_epoch(loader, 0)
    first = list(sampler)
    _set_sampler_epoch(loader, 1)
    assert sampler.epoch == 1 and list(sampler) != first
