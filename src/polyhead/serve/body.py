"""Request bodies: a size limit enforced while the bytes arrive, and a JSON parser that turns
every malformed body into a 4xx with a JSON detail (never a 500).

FastAPI's own body parsing answers 400 to invalid UTF-8 or deep nesting, and its 422 echoes
the input, which fails to encode when it holds NaN (a 500); so the endpoints read their bodies
here instead. Python's `json` (not pydantic's parser) because it keeps a lone surrogate such as
"\\ud800" as text, so the request model can name the text that holds it.
"""

from __future__ import annotations

import json
from typing import NoReturn

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError


class BodyLimit:
    """413 as soon as a request body passes `max_bytes`: at once from Content-Length when
    given, else by counting the chunks as they arrive; the rest is never read.

    Hand-written (a few lines of ASGI): neither Starlette nor uvicorn limits body size.
    """

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send, f"request body of {int(length)} bytes")
            return
        received, started = 0, False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:  # nothing reads a body after answering; never expected
                raise
            await self._refuse(scope, receive, send, f"request body of {received}+ bytes")

    async def _refuse(self, scope, receive, send, what: str) -> None:
        detail = f"{what}; at most {self.max_bytes}"
        # Connection: close, since the unread rest of the body cannot be skipped cheaply.
        headers = {"connection": "close"}
        response = JSONResponse({"detail": detail}, status_code=413, headers=headers)
        await response(scope, receive, send)


class _TooLarge(Exception):
    """Raised from `receive` through the app, caught by BodyLimit (which answers 413)."""


def parse_json_body(raw: bytes, content_type: str | None, model: type[BaseModel]) -> BaseModel:
    """`raw` as an instance of `model`; HTTPException 415 or 422 (detail: a list of
    {loc, msg, type}, as FastAPI's own 422s) for anything else."""
    if content_type and not _is_json(content_type):
        raise HTTPException(415, f"content-type {content_type!r}; send application/json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        _unprocessable("body", f"body is not UTF-8: byte 0x{raw[e.start]:02x} at {e.start}")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        _unprocessable("body", "JSON nested too deeply")
    except ValueError as e:  # JSONDecodeError, NaN/Infinity, an integer of > 4300 digits
        _unprocessable("body", f"invalid JSON: {e}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_input=False, include_context=False)
        raise HTTPException(422, [_error(err) for err in errors]) from None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _error(err: dict) -> dict:
    loc = ["body", *map(_printable, err["loc"])]
    return {"loc": loc, "msg": err["msg"], "type": err["type"]}


def _printable(part: str | int) -> str | int:
    """A field name from the body (an unknown field's key) as JSON can carry it: lone
    surrogates escaped, length capped."""
    if isinstance(part, int):
        return part
    return part.encode("utf-8", "backslashreplace").decode("utf-8")[:80]


def _unprocessable(loc: str, msg: str) -> NoReturn:
    raise HTTPException(422, [{"loc": [loc], "msg": msg, "type": "json_invalid"}])
