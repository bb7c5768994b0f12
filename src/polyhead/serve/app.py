"""The FastAPI app: /predict, /embed, /health, /metadata (+ the OpenAPI schema FastAPI serves).

The model is loaded once, before the app is built, from the path given on the command line;
no request can make the server open a path.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from polyhead.export.runtime import load_predictor
from polyhead.model.backbone import portable_name
from polyhead.serve.batcher import MicroBatcher
from polyhead.serve.settings import ServeSettings
from polyhead.version import __version__


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr]
    embeddings: StrictBool = False


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr]


class PredictResponse(BaseModel):
    # per text: "text", per sentence task {label, score}, per token task [entities],
    # and "embedding" when asked for
    predictions: list[dict[str, Any]]


class EmbedResponse(BaseModel):
    dim: int
    embeddings: list[list[float]]


def create_app(predictor, settings: ServeSettings, metadata: dict) -> FastAPI:
    batcher = MicroBatcher(
        predictor.predict,
        max_batch=settings.max_batch,
        max_wait=settings.max_wait_ms / 1000,
        enabled=settings.batching,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="polyhead", version=metadata["versions"]["polyhead"], lifespan=lifespan)
    app.state.batcher = batcher
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/metadata")
    async def meta() -> dict:
        return {**metadata, "recent_batch_sizes": list(batcher.calls)[-20:]}

    @app.post("/predict", response_model=PredictResponse)
    async def predict(req: PredictRequest) -> dict:
        _check_limits(req.texts, settings)
        return {"predictions": await batcher.submit(req.texts, req.embeddings)}

    @app.post("/embed", response_model=EmbedResponse)
    async def embed(req: EmbedRequest) -> dict:
        _check_limits(req.texts, settings)
        items = await batcher.submit(req.texts, embeddings=True)
        return {"dim": metadata["embedding_dim"], "embeddings": [r["embedding"] for r in items]}

    return app


def _check_limits(texts: list[str], settings: ServeSettings) -> None:
    if len(texts) > settings.max_texts:
        raise HTTPException(413, f"{len(texts)} texts; at most {settings.max_texts} per request")
    for i, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise HTTPException(
                413,
                f"texts[{i}] has {len(text)} characters; at most {settings.max_text_chars}",
            )


class BodyLimit:
    """413 before reading a body whose Content-Length is over the limit.

    Hand-written (a few lines of ASGI): neither Starlette nor uvicorn limits body size. A
    chunked body without Content-Length is not caught here; the per-text and per-request
    limits still apply once it is parsed.
    """

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if length.isdigit() and int(length) > self.max_bytes:
                detail = f"request body of {int(length)} bytes; at most {self.max_bytes}"
                await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
        "limits": settings.model_dump(include={"max_texts", "max_text_chars", "max_body_bytes"}),
        "batching": settings.model_dump(include={"batching", "max_batch", "max_wait_ms"}),
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
