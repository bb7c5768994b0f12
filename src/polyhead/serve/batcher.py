"""Dynamic micro-batching with fair sharing: concurrent requests share model calls, and a
large request cannot hold the model while a small one waits.

Each request's texts join a queue. One worker forms each model call round-robin over the
waiting requests, one text from each in turn, until the call holds `max_batch` texts or
`max_batch_tokens` tokens (a text longer than the budget runs alone). A large request is
therefore split over many calls, and a small request that arrives while one runs gets into the
next call: it waits for at most one call's work (with k large requests in progress, it may
wait for up to k calls while their texts fill the budget ahead of it in turn). When nothing is
waiting, the first request waits up to `max_wait` for others to join it. With batching off, a
call holds texts of one request only (still split by the same limits, requests taking turns).

The model runs in a worker thread, so the event loop keeps accepting requests meanwhile.
Model calls never overlap: one thread owns the model (and its tokenizer, which is not safe to
share between threads).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

# texts, embeddings wanted -> one result dict per text
RunFn = Callable[[list[str], bool], list[dict]]


@dataclass
class _Job:
    texts: list[str]
    tokens: list[int]
    embeddings: bool
    future: asyncio.Future = field(repr=False)
    taken: int = 0  # texts handed to model calls so far (they are taken in order)
    done: int = 0  # results received
    results: list = field(default_factory=list)

    def finish(self, index: int, result: dict) -> None:
        if not self.embeddings:
            result = {k: v for k, v in result.items() if k != "embedding"}
        self.results[index] = result
        self.done += 1
        if self.done == len(self.texts) and not self.future.done():
            self.future.set_result(self.results)


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
        self.calls: deque[int] = deque(maxlen=1024)  # texts per recent model call
        self._queue: asyncio.Queue[_Job] | None = None
        self._active: deque[_Job] = deque()  # requests with texts not yet taken, in turn order
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

    async def submit(
        self, texts: list[str], embeddings: bool = False, tokens: list[int] | None = None
    ) -> list[dict]:
        """Results for `texts`, in order. `tokens` (one count per text) feeds the per-call
        token budget; without it texts count as free."""
        if not texts:
            return []
        tokens = list(tokens) if tokens is not None else [0] * len(texts)
        if len(tokens) != len(texts):
            raise ValueError(f"{len(tokens)} token counts for {len(texts)} texts")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(texts, tokens, embeddings, future, results=[None] * len(texts)))
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
        texts = sum(len(j.texts) - j.taken for j in self._active)
        tokens = sum(sum(j.tokens[j.taken :]) for j in self._active)
        budget = self.max_batch_tokens
        return texts >= self.max_batch or (budget is not None and tokens >= budget)

    def _take(self) -> list[tuple[_Job, int]]:
        """The next call's texts as (request, index): round-robin, one text per request per
        pass. The first request in turn always gets one text, so every request progresses, and
        the turn passes on with each call: a request that arrived during a call goes before
        the one whose turn that call was."""
        self._active = deque(j for j in self._active if not j.future.done())  # gone: skip
        if not self._active:
            return []
        if len(self._active) > 1 and self._active[0] is self._first:
            self._active.rotate(-1)
        first = self._first = self._active[0]
        jobs = list(self._active) if self.enabled else [first]
        batch: list[tuple[_Job, int]] = []
        tokens, budget = 0, self.max_batch_tokens
        progress = True
        while progress and len(batch) < self.max_batch:
            progress = False
            for job in jobs:
                if len(batch) == self.max_batch:
                    break
                if job.taken == len(job.texts):
                    continue
                cost = job.tokens[job.taken]
                if batch and budget is not None and tokens + cost > budget:
                    continue  # a shorter text of another request may still fit
                batch.append((job, job.taken))
                job.taken += 1
                tokens += cost
                progress = True
        self._active = deque(j for j in self._active if j.taken < len(j.texts))
        return batch

    async def _run(self, batch: list[tuple[_Job, int]]) -> None:
        texts = [job.texts[i] for job, i in batch]
        want = any(job.embeddings for job, _ in batch)
        self.calls.append(len(texts))
        try:
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(self._pool, self.run, texts, want)
        except Exception as e:  # each request in this call gets the error, the worker lives on
            failed = {id(job) for job, _ in batch}
            for job, _ in batch:
                if not job.future.done():
                    job.future.set_exception(e)
            self._active = deque(j for j in self._active if id(j) not in failed)
            return
        for (job, i), result in zip(batch, results, strict=True):
            job.finish(i, result)
