"""The vector kinds through the server and the exports: the same answers as in-process
prediction, thresholds and target statistics carried along, refusals that say why."""

from __future__ import annotations

import json

import pytest
import torch
from fastapi.testclient import TestClient

from polyhead.errors import PolyheadError
from polyhead.export.formats import export_artifact
from polyhead.export.hf import HEADS_META
from polyhead.export.runtime import load_predictor
from polyhead.model.multitask import MultiTaskModel
from polyhead.model.spec import ModelSpec, TaskSpec
from polyhead.serve.app import create_app, describe
from polyhead.serve.settings import ServeSettings

TEXTS = ["wake me up at five am", "play the rolling stones", ""]
PAIRS = [("a man plays a flute", "a man is playing a flute"), ("a dog runs", "")]


@pytest.fixture(scope="module")
def artifact(tiny_bert, tmp_path_factory):
    torch.manual_seed(0)
    tasks = [
        TaskSpec(name="intent", kind="sentence", labels=["a", "b"]),
        TaskSpec(name="types", kind="multilabel", labels=["date", "time", "place"]),
        TaskSpec(name="size", kind="regression", labels=["y0", "y1"]),
        TaskSpec(name="sim", kind="pair", head="regression", labels=["score"]),
        TaskSpec(name="nli", kind="pair", head="multilabel", labels=["x", "y"]),
    ]
    model = MultiTaskModel(ModelSpec(backbone=str(tiny_bert), max_length=32, tasks=tasks))
    model.heads["types"].thresholds.copy_(torch.tensor([0.3, 0.5, 0.7]))
    model.heads["size"].set_standardisation([1.0, 10.0], [2.0, 0.5])
    model.heads["sim"].set_standardisation([2.5], [1.5])
    return model.save(tmp_path_factory.mktemp("kinds-serve") / "model")


@pytest.fixture(scope="module")
def reference(artifact):
    return load_predictor(str(artifact), batch_size=8)


@pytest.fixture(scope="module")
def client(artifact):
    predictor = load_predictor(str(artifact), batch_size=8)
    settings = ServeSettings(max_texts=8, max_tokens_per_request=200)
    app = create_app(predictor, settings, describe(predictor, str(artifact), "torch", settings))
    with TestClient(app) as c:
        yield c


def test_server_predicts_like_the_predictor(client, reference):
    got = client.post("/predict", json={"texts": TEXTS}).json()["predictions"]
    assert got == reference.predict(TEXTS)
    assert set(got[0]["types"]) == {"labels", "scores"}
    assert set(got[0]["size"]["values"]) == {"y0", "y1"}
    assert "sim" not in got[0] and "nli" not in got[0]


def test_server_predicts_pairs(client, reference):
    res = client.post("/predict_pairs", json={"pairs": [list(p) for p in PAIRS]})
    assert res.status_code == 200
    got = res.json()["predictions"]
    assert got == reference.predict_pairs(PAIRS)
    assert set(got[0]) == {"text", "text_pair", "sim", "nli"}
    assert "value" in got[0]["sim"] and "labels" in got[0]["nli"]


def test_server_pair_input_errors_and_metadata(client):
    assert client.post("/predict_pairs", json={"pairs": [["only one"]]}).status_code == 422
    assert client.post("/predict_pairs", json={"texts": ["a"]}).status_code == 422
    too_many = {"pairs": [["a", "b"]] * 5}  # 10 texts, at most 8
    assert client.post("/predict_pairs", json=too_many).status_code == 413
    tasks = {t["name"]: t for t in client.get("/metadata").json()["tasks"]}
    assert tasks["sim"]["kind"] == "pair" and tasks["sim"]["head"] == "regression"
    assert "head" not in tasks["types"]


def test_onnx_export_answers_like_pytorch(artifact, reference, tmp_path):
    export_artifact(str(artifact), "onnx", tmp_path / "onnx")
    onnx = load_predictor(str(tmp_path / "onnx"), onnx=True, batch_size=8)
    for got, want in zip(onnx.predict(TEXTS), reference.predict(TEXTS), strict=True):
        assert got["types"]["labels"] == want["types"]["labels"]
        for name, p in want["types"]["scores"].items():
            assert got["types"]["scores"][name] == pytest.approx(p, abs=1e-4)
        for name, v in want["size"]["values"].items():
            assert got["size"]["values"][name] == pytest.approx(v, abs=1e-3)
    got, want = onnx.predict_pairs(PAIRS), reference.predict_pairs(PAIRS)
    assert [g["sim"]["value"] for g in got] == pytest.approx(
        [w["sim"]["value"] for w in want], abs=1e-3
    )


def test_hf_export_describes_outputs_and_transformers_refuses(artifact, tmp_path):
    export_artifact(str(artifact), "hf", tmp_path / "hf")
    tasks = {t["name"]: t for t in json.loads((tmp_path / "hf" / HEADS_META).read_text())["tasks"]}
    assert tasks["types"]["thresholds"] == "types.thresholds"
    assert (tasks["size"]["mean"], tasks["size"]["output"]) == ("size.mean", "standardised")
    assert tasks["sim"]["head"] == "regression" and tasks["sim"]["input"] == "pooled"
    with pytest.raises(PolyheadError, match="'types' is multilabel: --format transformers"):
        export_artifact(str(artifact), "transformers", tmp_path / "tf")
