"""The real server over HTTP: answers, limits and error codes a client relies on."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from polyhead.predict import encode
from tests.serve.conftest import INTENTS, SLOTS

TEXTS = ["wake me up at five am", "play the rolling stones", "what is the weather in paris"]


def post(server, path, **kw):
    return httpx.post(f"{server.url}{path}", timeout=30, **kw)


def test_health_metadata_and_openapi(server):
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    meta = httpx.get(f"{server.url}/metadata").json()
    assert meta["model"] == "model" and meta["runtime"] == "torch"
    assert meta["tasks"] == [
        {"name": "intent", "kind": "sentence", "labels": INTENTS},
        {"name": "slots", "kind": "token", "labels": SLOTS},
    ]
    assert meta["embedding_dim"] == 32
    assert {"polyhead", "torch", "transformers", "fastapi"} <= set(meta["versions"])
    assert meta["limits"]["max_texts"] == 8
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/predict", "/embed", "/health", "/metadata"} <= set(schema["paths"])


def test_predict_matches_in_process_predictor(server, reference):
    res = post(server, "/predict", json={"texts": TEXTS})
    assert res.status_code == 200
    got = res.json()["predictions"]
    assert got == reference.predict(TEXTS)
    assert all(p["intent"]["label"] in INTENTS and "embedding" not in p for p in got)


def test_predict_with_embeddings_and_embed_endpoint(server, reference):
    with_emb = post(server, "/predict", json={"texts": TEXTS, "embeddings": True}).json()
    vectors = np.array([p["embedding"] for p in with_emb["predictions"]])
    res = post(server, "/embed", json={"texts": TEXTS})
    assert res.status_code == 200
    body = res.json()
    assert body["dim"] == 32 and np.array(body["embeddings"]).shape == (3, 32)
    expected = encode(reference.model, TEXTS)
    np.testing.assert_allclose(body["embeddings"], expected, atol=1e-5)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_empty_list_and_empty_string(server):
    assert post(server, "/predict", json={"texts": []}).json() == {"predictions": []}
    assert post(server, "/embed", json={"texts": []}).json() == {"dim": 32, "embeddings": []}
    res = post(server, "/predict", json={"texts": ["", "   "]})
    assert res.status_code == 200
    for item in res.json()["predictions"]:
        assert item["intent"]["label"] in INTENTS and 0 < item["intent"]["score"] <= 1
        assert item["slots"] == []


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"texts": ["a"] * 9}, "9 texts; at most 8 per request"),
        ({"texts": ["ok", "x" * 501]}, "texts[1] has 501 characters; at most 500"),
    ],
)
@pytest.mark.parametrize("path", ["/predict", "/embed"])
def test_limits_are_413_json(server, path, body, needle):
    res = post(server, path, json=body)
    assert res.status_code == 413
    assert res.headers["content-type"] == "application/json"
    assert res.json()["detail"] == needle


def test_oversized_body_is_413_before_parsing(server):
    res = post(server, "/predict", content=b'{"texts": ["' + b"a" * 30_000 + b'"]}')
    assert res.status_code == 413
    assert "at most 20000" in res.json()["detail"]


@pytest.mark.parametrize(
    "content",
    [
        b'{"texts": ["unterminated',  # malformed JSON
        b'{"texts": "not a list"}',
        b'{"texts": [1, 2]}',
        b'{"texts": [null]}',
        b'{"texts": ["a"], "embeddings": "yes"}',
        b'{"texts": ["a"], "model_path": "/etc"}',  # unknown fields are refused, never read
        b"{}",
    ],
)
def test_malformed_or_wrong_types_are_422_json(server, content):
    res = post(server, "/predict", content=content, headers={"content-type": "application/json"})
    assert res.status_code == 422
    assert isinstance(res.json()["detail"], list)


def test_concurrent_requests_get_their_own_answers(server, reference):
    texts = [f"set an alarm for {i} o'clock" for i in range(24)]

    async def fire():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            calls = [client.post("/predict", json={"texts": [t]}) for t in texts]
            return await asyncio.gather(*calls)

    responses = asyncio.run(fire())
    assert all(r.status_code == 200 for r in responses)
    got = [r.json()["predictions"][0] for r in responses]
    assert [g["text"] for g in got] == texts
    expected = reference.predict(texts)
    assert [g["intent"]["label"] for g in got] == [e["intent"]["label"] for e in expected]
    assert [g["slots"] for g in got] == [e["slots"] for e in expected]
    for g, e in zip(got, expected, strict=True):  # batched with others: same up to float noise
        assert abs(g["intent"]["score"] - e["intent"]["score"]) < 1e-4


@pytest.mark.parametrize("path", ["/predict", "/embed"])
def test_over_the_token_limit_is_413_json(server, reference, path):
    texts = ["set an alarm for seven thirty tomorrow morning please " * 6] * 4
    tokens = sum(len(ids) for ids in reference.model.tokenizer(texts)["input_ids"])
    assert tokens > 200  # the fixture's max_tokens_per_request
    res = post(server, path, json={"texts": texts})
    assert res.status_code == 413
    assert res.headers["content-type"] == "application/json"
    assert res.json()["detail"] == (
        f"{tokens} tokens in texts[0..3]; at most 200 tokens per request "
        "(split the texts over several requests)"
    )


def test_a_request_larger_than_one_call_is_split_and_reassembled(server, reference):
    texts = [f"{t} number {i}" for i, t in enumerate(TEXTS * 3)][:8]  # max_batch is 4
    res = post(server, "/predict", json={"texts": texts})
    assert res.status_code == 200
    got = res.json()["predictions"]
    assert [g["text"] for g in got] == texts
    expected = reference.predict(texts)
    assert [g["intent"]["label"] for g in got] == [e["intent"]["label"] for e in expected]
    assert [g["slots"] for g in got] == [e["slots"] for e in expected]
    for g, e in zip(got, expected, strict=True):  # other batch mates: same up to float noise
        assert abs(g["intent"]["score"] - e["intent"]["score"]) < 1e-4
    sizes = httpx.get(f"{server.url}/metadata").json()["recent_batch_sizes"]
    assert sizes and max(sizes) <= 4


@pytest.mark.parametrize(
    "head, key, items",
    [
        ({}, "predictions", []),
        ({}, "predictions", [{"text": "café 東京 \u2028", "intent": {"label": "a", "score": 0.5}}]),
        ({"dim": 2}, "embeddings", [[0.1, -2.0], [1e-07, 3.0]]),
    ],
)
def test_answers_written_item_by_item_are_the_json_fastapi_writes(head, key, items):
    from fastapi.responses import JSONResponse

    from polyhead.serve.app import _json_object

    assert _json_object(head, key, items) == JSONResponse({**head, key: items}).body
