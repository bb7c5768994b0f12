"""The server's unit of work is a window, not a text: a long text is split over model calls,
and a small request waits for at most one call whatever the other requests' text lengths."""

from __future__ import annotations

import asyncio
import threading

import httpx

from polyhead.serve.batcher import MicroBatcher

LONG = " ".join(f"set an alarm for {i} pm" for i in range(18))  # ~100 tokens: windows of 32
SMALL = "play the rolling stones"


def same_answers(got: list[dict], want: list[dict]) -> None:
    """Windows batched with other windows are padded differently: the same answer up to float
    noise in the scores."""
    assert [g["text"] for g in got] == [w["text"] for w in want]
    assert [g["slots"] for g in got] == [w["slots"] for w in want]
    assert [g["intent"]["label"] for g in got] == [w["intent"]["label"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert abs(g["intent"]["score"] - w["intent"]["score"]) < 1e-4


class HeldFirstCall:
    """The predictor's `run`, recording each call's windows; the first call waits for
    `release`, so other requests can queue behind it."""

    def __init__(self, predictor):
        self.predictor, self.calls = predictor, []
        self.release = threading.Event()

    def __call__(self, windows):
        self.calls.append(list(windows))
        if len(self.calls) == 1:
            assert self.release.wait(30), "the test never released the first call"
        return self.predictor.run(windows)


async def _until(condition):
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


def test_a_small_request_waits_one_window_not_a_whole_long_text(reference):
    run = HeldFirstCall(reference)
    batcher = MicroBatcher(run, max_batch=8, max_wait=0.0, max_batch_tokens=32)
    long, small = reference.prepare([LONG]), reference.prepare([SMALL])
    assert len(long.windows) >= 4 and {w.tokens for w in long.windows[:-1]} == {32}

    async def scenario():
        await batcher.start()
        try:
            first = asyncio.create_task(batcher.submit(long.windows, [32] * len(long.windows)))
            await _until(lambda: len(run.calls) == 1)  # the long text's first window runs
            second = asyncio.create_task(
                batcher.submit(small.windows, [w.tokens for w in small.windows])
            )
            await _until(lambda: batcher._queue.qsize() == 1)
            run.release.set()
            return await asyncio.gather(first, second)
        finally:
            await batcher.stop()

    long_out, small_out = asyncio.run(scenario())
    # before window scheduling the long text was one call and the small request ran after it
    assert run.calls[0] == [long.windows[0]] and run.calls[1] == small.windows
    assert len(run.calls) == len(long.windows) + 1
    got = reference.assemble(long, long_out) + reference.assemble(small, small_out)
    same_answers(got, reference.predict([LONG, SMALL]))


def test_the_server_splits_a_long_text_into_calls_of_windows(server, reference):
    batcher = server.server.config.app.state.batcher
    before = len(batcher.calls)
    res = httpx.post(f"{server.url}/predict", json={"texts": [LONG, SMALL]}, timeout=30)
    assert res.status_code == 200
    same_answers(res.json()["predictions"], reference.predict([LONG, SMALL]))
    windows = len(reference.prepare([LONG, SMALL]).windows)
    calls = list(batcher.calls)[before:]
    # max_batch_tokens 64 over windows of up to 32 tokens: at most two windows per call
    assert sum(calls) == windows and len(calls) >= windows // 2 and max(calls) <= 2


def test_embed_runs_only_each_texts_first_window(server, reference):
    batcher = server.server.config.app.state.batcher
    before = len(batcher.calls)
    res = httpx.post(f"{server.url}/embed", json={"texts": [LONG]}, timeout=30)
    assert res.status_code == 200
    assert list(batcher.calls)[before:] == [1]
    want = reference.predict([LONG], embeddings=True)[0]["embedding"]
    assert max(abs(a - b) for a, b in zip(res.json()["embeddings"][0], want, strict=True)) < 1e-5
