"""POST /predict_pairs: a pair task's predictions for (text, text_pair) pairs, both texts
encoded together as in training. Same limits as /predict (the pairs' texts are counted)."""

from __future__ import annotations

import asyncio
import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, StrictStr, field_validator

from polyhead.serve.body import parse_json_body


class PairsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pairs: list[tuple[StrictStr, StrictStr]]

    @field_validator("pairs")
    @classmethod
    def _valid_text(cls, pairs):
        for i, (a, b) in enumerate(pairs):
            for j, text in enumerate((a, b)):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError(
                        f"pairs[{i}][{j}]: lone surrogate; send valid Unicode"
                    ) from None
        return pairs


class PairsResponse(BaseModel):
    # per pair: "text", "text_pair", and per pair task {label, score}, {labels, scores} or
    # {value} / {values}
    predictions: list[dict[str, Any]]


def add_pair_route(app: FastAPI, predictor, check_limits, body_schema: dict) -> None:
    """`check_limits(texts)`: the /predict limits (413 past one), applied to the pairs' texts.
    Pairs run on a predictor of their own, with its own tokenizer copy, in one thread (the HF
    tokenizer changes its settings on each call); they are not micro-batched."""
    pair_tasks = list(getattr(predictor, "pair_kinds", {}))
    own = copy.copy(predictor)
    own.tokenizer = copy.deepcopy(predictor.tokenizer)
    pool = ThreadPoolExecutor(1, thread_name_prefix="polyhead-pairs")

    @app.post("/predict_pairs", response_model=PairsResponse, openapi_extra=body_schema)
    async def predict_pairs(request: Request) -> dict:
        req = parse_json_body(
            await request.body(), request.headers.get("content-type"), PairsRequest
        )
        if not pair_tasks:
            raise HTTPException(422, "this model has no pair task; use /predict for texts")
        await check_limits([t for pair in req.pairs for t in pair])
        loop = asyncio.get_running_loop()
        out = await loop.run_in_executor(pool, own.predict_pairs, req.pairs)
        return {"predictions": out}
