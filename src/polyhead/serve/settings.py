"""Server settings: one validated object, shared by the CLI, the app and the tests."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_texts: int = Field(256, gt=0, description="texts per request; more -> 413")
    max_text_chars: int = Field(20_000, gt=0, description="characters per text; more -> 413")
    max_tokens_per_request: int = Field(
        16_384, gt=0, description="tokenizer tokens per request, [CLS]/[SEP] included; more -> 413"
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0, description="request body; more -> 413")
    batching: bool = True
    # The server schedules windows (a text of up to the model's max_length tokens, or one
    # stretch of a longer text), so these bound every model call whatever the texts' lengths.
    max_batch: int = Field(64, gt=0, description="windows per model call")
    # A small request waits behind at most one call, so calls stay short: a latency choice
    # (64 kept a one-text client at 2-3x its idle p99 under a flood, 128 at 3-5x; a large
    # request's throughput is 0.87x of 128's: docs/issues/issue-13-server.md). Raise it where
    # throughput matters more or calls are cheap (a GPU).
    max_batch_tokens: int = Field(
        64,
        gt=0,
        description="padded tokens per model call: windows x the longest (a longer window "
        "runs alone)",
    )
    max_wait_ms: float = Field(5.0, ge=0, description="how long a batch waits to fill up")
    threads: int | None = Field(None, gt=0, description="CPU threads for the model (None: default)")
