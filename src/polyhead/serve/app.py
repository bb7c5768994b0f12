"""The FastAPI app: /predict, /predict_pairs, /embed, /health, /metadata (+ the OpenAPI
schema FastAPI serves).

The model is loaded once, before the app is built, from the path given on the command line;
no request can make the server open a path. Every answer is JSON, errors included: bad input
is a 413, 415 or 422, never a 500.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from polyhead.export.runtime import load_predictor
from polyhead.model.backbone import portable_name
from polyhead.predict import Prepared, embedding_values
from polyhead.serve.batcher import MicroBatcher
from polyhead.serve.body import BodyLimit, parse_json_body
from polyhead.serve.pairs import PairsRequest, add_pair_route
from polyhead.serve.settings import ServeSettings
from polyhead.serve.tokens import TokenCounter
from polyhead.version import __version__

_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _TextsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr]

    @field_validator("texts")
    @classmethod
    def _no_lone_surrogate(cls, texts: list[str]) -> list[str]:
        # "\ud800" is a valid JSON escape but not text: the tokenizer (and the JSON encoder of
        # the answer) would raise on it.
        for i, text in enumerate(texts):
            if bad := _SURROGATE.search(text):
                raise PydanticCustomError(
                    "lone_surrogate",
                    "texts[{i}]: lone surrogate {code} at character {at}; send valid Unicode",
                    {"i": i, "code": f"U+{ord(bad.group()):04X}", "at": bad.start()},
                )
        return texts


class EmbedRequest(_TextsRequest):
    pass


class PredictRequest(_TextsRequest):
    embeddings: StrictBool = False


class PredictResponse(BaseModel):
    # per text: "text", per sentence task {label, score}, per token task [entities],
    # and "embedding" when asked for
    predictions: list[dict[str, Any]]


class EmbedResponse(BaseModel):
    dim: int
    embeddings: list[list[float]]


def _json_body(model: type[BaseModel]) -> dict:
    """The request body in the OpenAPI schema (the endpoints parse it themselves)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def create_app(predictor, settings: ServeSettings, metadata: dict) -> FastAPI:
    # The model thread runs windows only; limits, windows and answers are made in another.
    batcher = MicroBatcher(
        predictor.run,
        max_batch=settings.max_batch,
        max_wait=settings.max_wait_ms / 1000,
        enabled=settings.batching,
        max_batch_tokens=settings.max_batch_tokens,
    )
    side = RequestWork(settings, predictor)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()
        side.close()

    app = FastAPI(title="polyhead", version=metadata["versions"]["polyhead"], lifespan=lifespan)
    app.state.batcher = batcher
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(Exception, _internal_error)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/metadata")
    async def meta() -> dict:
        return {**metadata, "recent_batch_sizes": list(batcher.calls)[-20:]}

    @app.post("/predict", response_model=PredictResponse, openapi_extra=_json_body(PredictRequest))
    async def predict(request: Request) -> Response:
        req = await _read(request, PredictRequest)
        prepared = await side.prepare(req.texts)
        outputs = await batcher.submit(prepared.windows, [w.tokens for w in prepared.windows])
        return _json(await side.predictions(prepared, outputs, req.embeddings))

    @app.post("/embed", response_model=EmbedResponse, openapi_extra=_json_body(EmbedRequest))
    async def embed(request: Request) -> Response:
        req = await _read(request, EmbedRequest)
        prepared = await side.prepare(req.texts)
        firsts = prepared.first_windows()  # a text's embedding is its first window's
        outputs = await batcher.submit(firsts, [w.tokens for w in firsts])
        return _json(await side.embeddings(outputs, metadata["embedding_dim"]))

    add_pair_route(app, predictor, side.prepare, _json_body(PairsRequest))  # pair tasks
    return app


async def _read(request: Request, model: type[BaseModel]):
    return parse_json_body(await request.body(), request.headers.get("content-type"), model)


# as FastAPI's JSONResponse writes JSON
_dumps = functools.partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _json_object(head: dict, key: str, items: list) -> bytes:
    """`{**head, key: items}` as JSON (as FastAPI writes it), item by item: one `json.dumps`
    of a large answer (1.3 MB for 256 texts) holds the GIL throughout, stalling the event loop
    and the model thread; between items this thread lets them run."""
    parts = [_dumps(item) for item in items]
    start = _dumps(head)[:-1] + ("," if head else "")
    return f'{start}"{key}":[{",".join(parts)}]}}'.encode()


def _json(content: bytes) -> Response:
    return Response(content, media_type="application/json")


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # A bug or a model failure, not bad input: still JSON, still logged (Starlette re-raises).
    return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)


class RequestWork:
    """A request's work besides the model, in threads of their own (off the event loop, which
    keeps answering, and off the model thread, which only runs windows): limits checked (texts
    per request, characters per text, then tokens per request), windows prepared, answers
    assembled from window outputs. Two threads, so a small request's step does not queue
    behind a large request's."""

    THREADS = 2

    def __init__(self, settings: ServeSettings, predictor):
        self.settings, self.predictor = settings, predictor
        self._copies = [self._copy(predictor) for _ in range(self.THREADS)]
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="polyhead-request")

    async def prepare(self, texts: list[str]) -> Prepared:
        """The texts' windows; HTTPException 413 past a limit."""
        return await self._in_thread(self._prepare, texts)

    async def predictions(self, prepared: Prepared, outputs: list, embeddings: bool) -> bytes:
        """The /predict answer, as JSON."""

        def answer() -> bytes:
            items = self.predictor.assemble(prepared, outputs, embeddings)
            return _json_object({}, "predictions", items)

        return await self._in_thread(answer)

    async def embeddings(self, outputs: list, dim: int) -> bytes:
        """The /embed answer, as JSON."""

        def answer() -> bytes:
            vectors = [embedding_values(o.embedding) for o in outputs]
            return _json_object({"dim": dim}, "embeddings", vectors)

        return await self._in_thread(answer)

    def _own(self):
        """This thread's predictor and token counter, made at start (a tokenizer copy takes
        a while). The HF tokenizer changes its own settings on each call, so each thread
        prepares with a copy; the model is shared (read only here: pad ids, CRF decoding)."""
        if not hasattr(self._local, "own"):
            self._local.own = self._copies.pop()  # atomic: each thread takes its own
        return self._local.own

    @staticmethod
    def _copy(predictor):
        own = copy.copy(predictor)
        own.tokenizer = copy.deepcopy(predictor.tokenizer)
        return own, TokenCounter(own.tokenizer)

    async def _in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _prepare(self, texts: list[str]) -> Prepared:
        most = self.settings
        if len(texts) > most.max_texts:
            raise HTTPException(413, f"{len(texts)} texts; at most {most.max_texts} per request")
        for i, text in enumerate(texts):
            if len(text) > most.max_text_chars:
                raise HTTPException(
                    413, f"texts[{i}] has {len(text)} characters; at most {most.max_text_chars}"
                )
        predictor, counter = self._own()
        limit = most.max_tokens_per_request
        counts = counter.count(texts, limit)
        if sum(counts) > limit:
            upto = f"texts[0..{len(counts) - 1}]" if len(counts) > 1 else "texts[0]"
            raise HTTPException(
                413,
                f"{sum(counts)} tokens in {upto}; at most {limit} tokens per request "
                "(split the texts over several requests)",
            )
        return predictor.prepare(texts)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def describe(predictor, source: str, runtime: str, settings: ServeSettings) -> dict:
    """What /metadata returns: the model, its tasks and labels, versions and limits."""
    import fastapi
    import transformers

    model = predictor.model
    spec = model.spec
    versions = {"polyhead": __version__, "fastapi": fastapi.__version__}
    if runtime == "onnxruntime":
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
        trained = model.meta.get("trained_with", {})
    else:
        import torch

        versions |= {"torch": torch.__version__, "transformers": transformers.__version__}
        trained = getattr(model, "artifact_meta", {}).get("versions", {})
    return {
        "model": Path(source).name or source,
        "runtime": runtime,
        "backbone": portable_name(spec.backbone),
        "embedding_dim": model.hidden_size,
        "pooling": spec.pooling,
        "normalize": spec.normalize,
        "max_length": spec.max_length,
        "tasks": [_task_meta(t) for t in spec.tasks],
        "versions": versions,
        "trained_with": trained,
        "limits": settings.model_dump(
            include={"max_texts", "max_text_chars", "max_tokens_per_request", "max_body_bytes"}
        ),
        "batching": settings.model_dump(
            include={"batching", "max_batch", "max_batch_tokens", "max_wait_ms"}
        ),
        "threads": settings.threads,
    }


def _task_meta(t) -> dict:
    meta = {"name": t.name, "kind": t.kind, "labels": t.labels}
    return meta | {"head": t.head_kind} if t.kind == "pair" else meta


def run_server(
    source: str, settings: ServeSettings, onnx: bool = False, access_log=False, verify=True
):
    """Load the model once, then serve until interrupted (`verify`: check file hashes)."""
    import uvicorn

    if settings.threads and not onnx:
        import torch

        torch.set_num_threads(settings.threads)
    predictor = load_predictor(
        source, onnx, settings.max_batch, threads=settings.threads, verify=verify
    )
    runtime = "onnxruntime" if onnx else "torch"
    app = create_app(predictor, settings, describe(predictor, source, runtime, settings))
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=access_log)
