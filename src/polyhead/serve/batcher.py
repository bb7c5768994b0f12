"""Dynamic micro-batching with fair sharing: concurrent requests share model calls, and a
large request cannot hold the model while a small one waits.

The batcher schedules items (the server's are windows: a text of up to max_length tokens, or
one stretch of a longer text; `predict.Predictor.prepare`), never anything larger. Each
request's items join a queue. One worker forms each model call round-robin over the waiting
requests, one item from each in turn, until the call holds `max_batch` items or its padded
size (items x the longest) would pass `max_batch_tokens` (an item longer than the budget runs
alone). A large request, or a long text, is therefore split over many calls, and a small
request that arrives while one runs gets into the next call: it waits for at most one call's
work, whatever the length of the other requests' texts (with k large requests in progress, it
may wait for up to k calls while their items fill the budget ahead of it in turn). When nothing
is waiting, the first request waits up to `max_wait` for others to join it. With batching off,
a call holds items of one request only (still split by the same limits, requests taking turns).

The model runs in a worker thread, so the event loop keeps accepting requests meanwhile.
Model calls never overlap: one thread owns the model.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

# items of any requests -> one output per item, in order (one model call)
RunFn = Callable[[list], list]


@dataclass
class _Job:
    items: list
    tokens: list[int]
    future: asyncio.Future = field(repr=False)
    taken: int = 0  # items handed to model calls so far (they are taken in order)
    done: int = 0  # outputs received
    outputs: list = field(default_factory=list)

    def finish(self, index: int, output) -> None:
        self.outputs[index] = output
        self.done += 1
        if self.done == len(self.items) and not self.future.done():
            self.future.set_result(self.outputs)


class MicroBatcher:
    def __init__(
        self,
        run: RunFn,
        max_batch: int = 64,
        max_wait: float = 0.005,
        enabled: bool = True,
        max_batch_tokens: int | None = None,
    ):
        self.run, self.max_batch, self.max_wait, self.enabled = run, max_batch, max_wait, enabled
        self.max_batch_tokens = max_batch_tokens
        self.calls: deque[int] = deque(maxlen=1024)  # items per recent model call
        self._queue: asyncio.Queue[_Job] | None = None
        self._active: deque[_Job] = deque()  # requests with items not yet taken, in turn order
        self._first: _Job | None = None  # whose turn the last call was
        self._worker: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="polyhead-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._pool.shutdown(wait=True)

    async def submit(self, items: list, tokens: list[int] | None = None) -> list:
        """The model's outputs for `items`, in order. `tokens` (one count per item) feeds the
        per-call budget; without it items count as free."""
        if not items:
            return []
        tokens = list(tokens) if tokens is not None else [0] * len(items)
        if len(tokens) != len(items):
            raise ValueError(f"{len(tokens)} token counts for {len(items)} items")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(items), tokens, future, outputs=[None] * len(items)))
        return await future

    async def _loop(self) -> None:
        while True:
            if not self._active:
                self._active.append(await self._queue.get())
                await self._fill()
            while not self._queue.empty():  # arrived while the last call ran: join the turns
                self._active.append(self._queue.get_nowait())
            batch = self._take()
            if batch:
                await self._run(batch)

    async def _fill(self) -> None:
        """Idle server, first request in: wait up to `max_wait` for others to share its call."""
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while not self._call_would_be_full():
            left = deadline - loop.time()
            if left <= 0:
                return
            try:
                self._active.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                return

    def _call_would_be_full(self) -> bool:
        items = sum(len(j.items) - j.taken for j in self._active)
        tokens = sum(sum(j.tokens[j.taken :]) for j in self._active)  # at most the padded size
        budget = self.max_batch_tokens
        return items >= self.max_batch or (budget is not None and tokens >= budget)

    def _take(self) -> list[tuple[_Job, int]]:
        """The next call's items as (request, index): round-robin, one item per request per
        pass. The first request in turn always gets one item, so every request progresses, and
        the turn passes on with each call: a request that arrived during a call goes before
        the one whose turn that call was. A call's cost is its padded size (what the model
        computes): items x the longest item's tokens."""
        self._active = deque(j for j in self._active if not j.future.done())  # gone: skip
        if not self._active:
            return []
        if len(self._active) > 1 and self._active[0] is self._first:
            self._active.rotate(-1)
        first = self._first = self._active[0]
        jobs = list(self._active) if self.enabled else [first]
        batch: list[tuple[_Job, int]] = []
        longest, budget = 0, self.max_batch_tokens
        progress = True
        while progress and len(batch) < self.max_batch:
            progress = False
            for job in jobs:
                if len(batch) == self.max_batch:
                    break
                if job.taken == len(job.items):
                    continue
                cost = job.tokens[job.taken]
                padded = (len(batch) + 1) * max(longest, cost)
                if batch and budget is not None and padded > budget:
                    continue  # a shorter item of another request may still fit
                batch.append((job, job.taken))
                job.taken += 1
                longest = max(longest, cost)
                progress = True
        self._active = deque(j for j in self._active if j.taken < len(j.items))
        return batch

    async def _run(self, batch: list[tuple[_Job, int]]) -> None:
        items = [job.items[i] for job, i in batch]
        self.calls.append(len(items))
        try:
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(self._pool, self.run, items)
        except Exception as e:  # each request in this call gets the error, the worker lives on
            failed = {id(job) for job, _ in batch}
            for job, _ in batch:
                if not job.future.done():
                    job.future.set_exception(e)
            self._active = deque(j for j in self._active if id(j) not in failed)
            return
        for (job, i), output in zip(batch, outputs, strict=True):
            job.finish(i, output)
