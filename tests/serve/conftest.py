"""A tiny artifact with random heads, and the real server on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import torch

from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec

INTENTS = ["alarm_set", "play_music", "weather_query"]
SLOTS = ["O", "B-time", "I-time", "B-artist", "I-artist"]


def tiny_artifact(backbone, folder):
    torch.manual_seed(0)
    spec = ModelSpec(
        backbone=str(backbone),
        max_length=32,
        tasks=[
            TaskSpec(name="intent", kind="sentence", labels=INTENTS, hidden_size=8),
            TaskSpec(name="slots", kind="token", labels=SLOTS),
        ],
    )
    MultiTaskModel(spec).save(folder)
    return folder


@pytest.fixture(scope="session")
def artifact(tiny_bert, tmp_path_factory):
    return tiny_artifact(tiny_bert, tmp_path_factory.mktemp("serve") / "model")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not become healthy in {timeout}s")


class ThreadServer:
    """uvicorn serving `app` on a loopback port from a background thread."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_healthy(self.url, timeout=30)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def reference(artifact):
    """In-process predictions to compare the server's answers with."""
    from polyhead.export.runtime import load_predictor

    return load_predictor(str(artifact), batch_size=8)


@pytest.fixture(scope="session")
def server(artifact):
    """The server has its own predictor (one thread owns it), as `polyhead serve` does."""
    from polyhead.export.runtime import load_predictor
    from polyhead.serve.app import create_app, describe
    from polyhead.serve.settings import ServeSettings

    predictor = load_predictor(str(artifact), batch_size=8)
    settings = ServeSettings(
        max_texts=8,
        max_text_chars=500,
        max_tokens_per_request=200,
        max_body_bytes=20_000,
        max_batch=4,  # an 8-text request is split over two or more calls
        max_batch_tokens=64,
    )
    meta = describe(predictor, str(artifact), "torch", settings)
    app = create_app(predictor, settings, meta)
    with ThreadServer(app) as srv:
        yield srv
