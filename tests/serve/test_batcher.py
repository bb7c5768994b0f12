"""Micro-batching: concurrent submissions share model calls; each gets its own outputs."""

from __future__ import annotations

import asyncio
import threading

import pytest

from polyhead.serve.batcher import MicroBatcher


def fake_model(calls: list):
    lock = threading.Lock()

    def run(items):
        with lock:
            calls.append(list(items))
        return [{"text": t, "n": len(t)} for t in items]

    return run


async def _submit_all(batcher, requests):
    await batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(items) for items in requests))
    finally:
        await batcher.stop()


def test_concurrent_requests_share_one_call_and_are_split_back():
    calls: list = []
    batcher = MicroBatcher(fake_model(calls), max_batch=100, max_wait=0.05)
    requests = [[f"r{i}-a", f"r{i}-bb"] for i in range(10)]
    results = asyncio.run(_submit_all(batcher, requests))
    assert len(calls) == 1 and len(calls[0]) == 20  # all ten requests in one model call
    for i, res in enumerate(results):
        assert res == [{"text": f"r{i}-a", "n": 4}, {"text": f"r{i}-bb", "n": 5}]


def test_max_batch_caps_a_call_and_no_batching_is_one_call_per_request():
    calls: list = []
    batcher = MicroBatcher(fake_model(calls), max_batch=4, max_wait=0.05)
    asyncio.run(_submit_all(batcher, [[f"t{i}"] for i in range(10)]))
    assert [len(c) for c in calls] == [4, 4, 2]
    calls.clear()
    batcher = MicroBatcher(fake_model(calls), max_batch=4, max_wait=0.05, enabled=False)
    asyncio.run(_submit_all(batcher, [[f"t{i}"] for i in range(5)]))
    assert [len(c) for c in calls] == [1] * 5


def test_a_failing_call_fails_its_requests_and_the_worker_lives_on():
    state = {"fail": True}

    def run(items):
        if state.pop("fail", False):
            raise RuntimeError("boom")
        return [{"text": t} for t in items]

    async def scenario():
        batcher = MicroBatcher(run, max_batch=8, max_wait=0.0)
        await batcher.start()
        try:
            with pytest.raises(RuntimeError, match="boom"):
                await batcher.submit(["a"])
            return await batcher.submit(["b"])
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) == [{"text": "b"}]


def test_a_large_request_is_split_by_texts_and_tokens_and_reassembled_in_order():
    calls: list = []
    batcher = MicroBatcher(fake_model(calls), max_batch=4, max_wait=0.0, max_batch_tokens=8)
    texts = [f"t{i}" for i in range(10)]
    tokens = [3, 3, 3, 9, 1, 1, 1, 1, 1, 2]

    async def scenario():
        await batcher.start()
        try:
            return await batcher.submit(texts, tokens=tokens)
        finally:
            await batcher.stop()

    result = asyncio.run(scenario())
    assert [r["text"] for r in result] == texts
    # at most 4 texts and 8 tokens per call; the 9-token text is over the budget: alone
    assert calls == [["t0", "t1"], ["t2"], ["t3"], ["t4", "t5", "t6", "t7"], ["t8", "t9"]]


class BlockingModel:
    """A fake model whose first call waits for `release`, so requests can queue behind it."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.release = threading.Event()

    def __call__(self, items):
        self.calls.append(list(items))
        if len(self.calls) == 1:
            assert self.release.wait(10), "the test never released the first call"
        return [{"text": t} for t in items]


async def _until(condition):
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


def test_a_small_request_waits_behind_at_most_one_call_of_large_ones():
    model = BlockingModel()
    batcher = MicroBatcher(model, max_batch=4, max_wait=0.0)
    big1 = [f"a{i}" for i in range(12)]
    big2 = [f"b{i}" for i in range(12)]

    async def scenario():
        await batcher.start()
        try:
            first = asyncio.create_task(batcher.submit(big1))
            await _until(lambda: len(model.calls) == 1)  # big1's first call holds the model
            second = asyncio.create_task(batcher.submit(big2))
            small = asyncio.create_task(batcher.submit(["small"]))
            await _until(lambda: batcher._queue.qsize() == 2)
            model.release.set()
            return await asyncio.gather(first, second, small)
        finally:
            await batcher.stop()

    got1, got2, got_small = asyncio.run(scenario())
    # the very next call, not after big1 and big2; big1 had its turn, so big2 leads
    assert model.calls[1] == ["b0", "small", "a4", "b1"]
    assert all(len(c) <= 4 for c in model.calls)
    assert [r["text"] for r in got1] == big1 and [r["text"] for r in got2] == big2
    assert got_small == [{"text": "small"}]


def test_a_small_request_goes_before_the_next_text_of_a_long_one():
    """Each long text is over the token budget, so it runs alone: the small request that
    arrived during the first one runs next, not after the second."""
    model = BlockingModel()
    batcher = MicroBatcher(model, max_batch=4, max_wait=0.0, max_batch_tokens=50)

    async def scenario():
        await batcher.start()
        try:
            long = asyncio.create_task(batcher.submit(["L0", "L1", "L2"], tokens=[100] * 3))
            await _until(lambda: len(model.calls) == 1)
            small = asyncio.create_task(batcher.submit(["small"], tokens=[5]))
            await _until(lambda: batcher._queue.qsize() == 1)
            model.release.set()
            return await asyncio.gather(long, small)
        finally:
            await batcher.stop()

    got_long, got_small = asyncio.run(scenario())
    assert model.calls == [["L0"], ["small"], ["L1"], ["L2"]]
    assert [r["text"] for r in got_long] == ["L0", "L1", "L2"]


def test_a_failed_call_drops_the_rest_of_its_request_and_others_go_on():
    calls: list = []

    def run(items):
        calls.append(list(items))
        if len(calls) == 2:
            raise RuntimeError("boom")
        return [{"text": t} for t in items]

    async def scenario():
        batcher = MicroBatcher(run, max_batch=2, max_wait=0.0)
        await batcher.start()
        try:
            with pytest.raises(RuntimeError, match="boom"):
                await batcher.submit([f"x{i}" for i in range(8)])
            return await batcher.submit(["after"])
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) == [{"text": "after"}]
    assert calls == [["x0", "x1"], ["x2", "x3"], ["after"]]  # x4..x7 never ran


def test_a_request_whose_client_left_is_not_run_further():
    model = BlockingModel()
    batcher = MicroBatcher(model, max_batch=4, max_wait=0.0)

    async def scenario():
        await batcher.start()
        try:
            gone = asyncio.create_task(batcher.submit([f"g{i}" for i in range(12)]))
            await _until(lambda: len(model.calls) == 1)
            gone.cancel()
            model.release.set()
            return await batcher.submit(["next"])
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) == [{"text": "next"}]
    assert model.calls == [["g0", "g1", "g2", "g3"], ["next"]]


def test_a_call_is_bounded_by_its_padded_size():
    """Items are padded to the longest in the call: one long item does not bring short ones
    along when together they would pass the budget (counting their sum, it would)."""
    calls: list = []
    batcher = MicroBatcher(fake_model(calls), max_batch=10, max_wait=0.0, max_batch_tokens=8)

    async def scenario():
        await batcher.start()
        try:
            return await batcher.submit(["long", "a", "b", "c", "d"], tokens=[5, 1, 1, 1, 2])
        finally:
            await batcher.stop()

    asyncio.run(scenario())
    assert calls == [["long"], ["a", "b", "c", "d"]]  # 2 x 5 > 8; then 4 x 2 = 8
