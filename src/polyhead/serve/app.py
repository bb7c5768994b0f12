"""The FastAPI app: /predict, /embed, /health, /metadata (+ the OpenAPI schema FastAPI serves).

The model is loaded once, before the app is built, from the path given on the command line;
no request can make the server open a path. Every answer is JSON, errors included: bad input
is a 413, 415 or 422, never a 500.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from polyhead.export.runtime import load_predictor
from polyhead.model.backbone import portable_name
from polyhead.serve.batcher import MicroBatcher
from polyhead.serve.body import BodyLimit, parse_json_body
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
    batcher = MicroBatcher(
        predictor.predict,
        max_batch=settings.max_batch,
        max_wait=settings.max_wait_ms / 1000,
        enabled=settings.batching,
        max_batch_tokens=settings.max_batch_tokens,
    )
    limits = RequestLimits(settings, TokenCounter(predictor.model.tokenizer))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()
        limits.close()

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
    async def predict(request: Request) -> dict:
        req = await _read(request, PredictRequest)
        tokens = await limits.check(req.texts)
        return {"predictions": await batcher.submit(req.texts, req.embeddings, tokens)}

    @app.post("/embed", response_model=EmbedResponse, openapi_extra=_json_body(EmbedRequest))
    async def embed(request: Request) -> dict:
        req = await _read(request, EmbedRequest)
        tokens = await limits.check(req.texts)
        items = await batcher.submit(req.texts, embeddings=True, tokens=tokens)
        return {"dim": metadata["embedding_dim"], "embeddings": [r["embedding"] for r in items]}

    return app


async def _read(request: Request, model: type[BaseModel]):
    return parse_json_body(await request.body(), request.headers.get("content-type"), model)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # A bug or a model failure, not bad input: still JSON, still logged (Starlette re-raises).
    return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)


class RequestLimits:
    """Texts per request, characters per text, then tokens per request (counted in a thread of
    its own, so a large request does not stall the event loop while it is counted)."""

    def __init__(self, settings: ServeSettings, counter: TokenCounter):
        self.settings, self.counter = settings, counter
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="polyhead-count")

    async def check(self, texts: list[str]) -> list[int]:
        """Token counts per text; HTTPException 413 past a limit."""
        most = self.settings
        if len(texts) > most.max_texts:
            raise HTTPException(413, f"{len(texts)} texts; at most {most.max_texts} per request")
        for i, text in enumerate(texts):
            if len(text) > most.max_text_chars:
                raise HTTPException(
                    413, f"texts[{i}] has {len(text)} characters; at most {most.max_text_chars}"
                )
        limit = most.max_tokens_per_request
        loop = asyncio.get_running_loop()
        counts = await loop.run_in_executor(self._pool, self.counter.count, texts, limit)
        if sum(counts) > limit:
            upto = f"texts[0..{len(counts) - 1}]" if len(counts) > 1 else "texts[0]"
            raise HTTPException(
                413,
                f"{sum(counts)} tokens in {upto}; at most {limit} tokens per request "
                "(split the texts over several requests)",
            )
        return counts

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
        "tasks": [{"name": t.name, "kind": t.kind, "labels": t.labels} for t in spec.tasks],
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
