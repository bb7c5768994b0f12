"""Dynamic micro-batching: concurrent requests share one model call.

A request's texts join a queue; one worker takes the oldest request, keeps collecting for up
to `max_wait` seconds or until `max_batch` texts, and runs the model once in a worker thread
(so the event loop keeps accepting requests meanwhile). While the model runs, new requests
queue up, so batches grow with load. With batching off, each request is its own model call.
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
    embeddings: bool
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    def __init__(self, run: RunFn, max_batch: int = 64, max_wait: float = 0.005, enabled=True):
        self.run, self.max_batch, self.max_wait, self.enabled = run, max_batch, max_wait, enabled
        self.calls: deque[int] = deque(maxlen=1024)  # texts per recent model call
        self._queue: asyncio.Queue[_Job] | None = None
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

    async def submit(self, texts: list[str], embeddings: bool = False) -> list[dict]:
        if not texts:
            return []
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(texts, embeddings, future))
        return await future

    async def _loop(self) -> None:
        while True:
            jobs = await self._collect()
            await self._run(jobs)

    async def _collect(self) -> list[_Job]:
        jobs = [await self._queue.get()]
        if not self.enabled:
            return jobs
        loop = asyncio.get_running_loop()
        size, deadline = len(jobs[0].texts), loop.time() + self.max_wait
        while size < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), left)
                except asyncio.TimeoutError:
                    break
            jobs.append(job)
            size += len(job.texts)
        return jobs

    async def _run(self, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        want = any(job.embeddings for job in jobs)
        self.calls.append(len(texts))
        try:
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(self._pool, self.run, texts, want)
        except Exception as e:  # every waiting request gets the error, the worker lives on
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(e)
            return
        start = 0
        for job in jobs:
            part = results[start : start + len(job.texts)]
            start += len(job.texts)
            if want and not job.embeddings:
                part = [{k: v for k, v in r.items() if k != "embedding"} for r in part]
            if not job.future.done():  # a client that went away cancelled its future
                job.future.set_result(part)
