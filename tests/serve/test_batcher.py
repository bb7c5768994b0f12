"""Micro-batching: concurrent submissions share model calls; each gets its own results."""

from __future__ import annotations

import asyncio
import threading

import pytest

from polyhead.serve.batcher import MicroBatcher


def fake_model(calls: list):
    lock = threading.Lock()

    def run(texts, embeddings):
        with lock:
            calls.append(list(texts))
        return [{"text": t, "n": len(t), "embedding": [0.0]} for t in texts]

    return run


async def _submit_all(batcher, requests):
    await batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(t, e) for t, e in requests))
    finally:
        await batcher.stop()


def test_concurrent_requests_share_one_call_and_are_split_back():
    calls: list = []
    batcher = MicroBatcher(fake_model(calls), max_batch=100, max_wait=0.05)
    requests = [([f"r{i}-a", f"r{i}-bb"], i == 3) for i in range(10)]
    results = asyncio.run(_submit_all(batcher, requests))
    assert len(calls) == 1 and len(calls[0]) == 20  # all ten requests in one model call
    for i, res in enumerate(results):
        assert [r["text"] for r in res] == [f"r{i}-a", f"r{i}-bb"]
        assert ("embedding" in res[0]) == (i == 3)  # only the request that asked


def test_max_batch_caps_a_call_and_no_batching_is_one_call_per_request():
    calls: list = []
    batcher = MicroBatcher(fake_model(calls), max_batch=4, max_wait=0.05)
    asyncio.run(_submit_all(batcher, [([f"t{i}"], False) for i in range(10)]))
    assert [len(c) for c in calls] == [4, 4, 2]
    calls.clear()
    batcher = MicroBatcher(fake_model(calls), max_batch=4, max_wait=0.05, enabled=False)
    asyncio.run(_submit_all(batcher, [([f"t{i}"], False) for i in range(5)]))
    assert [len(c) for c in calls] == [1] * 5


def test_a_failing_call_fails_its_requests_and_the_worker_lives_on():
    state = {"fail": True}

    def run(texts, embeddings):
        if state.pop("fail", False):
            raise RuntimeError("boom")
        return [{"text": t} for t in texts]

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
