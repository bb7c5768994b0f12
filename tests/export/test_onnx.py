"""ONNX export: one graph with dynamic axes, parity with PyTorch, the same predictions."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from polyhead.cli import app
from polyhead.export.formats import export_artifact
from polyhead.export.onnx import META_FILE, ONNX_FILE, make_session
from polyhead.export.runtime import load_predictor
from polyhead.model import MultiTaskModel
from polyhead.predict import tokenize
from tests.serve.conftest import free_port, tiny_artifact, wait_healthy

TEXTS = [
    "wake me up at five am",
    "",
    "play something by the rolling stones " * 8,  # longer than max_length: several windows
    "x",
]


def test_graph_inputs_outputs_and_dynamic_axes(onnx_export):
    out, report = onnx_export
    assert report["format"] == "onnx" and report["merged"] is False
    assert report["parity_max_abs_diff"] < 1e-4
    graph = onnx.load(str(out / ONNX_FILE), load_external_data=False).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in graph.output] == ["embedding", "logits.intent", "logits.slots"]
    values = [*graph.input, *graph.output]
    dims = {v.name: [d.dim_param for d in v.type.tensor_type.shape.dim] for v in values}
    assert dims["input_ids"] == dims["token_type_ids"] == ["batch", "sequence"]
    assert dims["embedding"][0] == dims["logits.intent"][0] == "batch"
    assert dims["logits.slots"][:2] == ["batch", "sequence"]
    meta = json.loads((out / META_FILE).read_text())
    assert meta["parity_max_abs_diff"] == report["parity_max_abs_diff"]


@pytest.mark.parametrize("texts", [["one"], ["a b c d e f g h i j", "k", "l m", "n o p", "q"]])
def test_onnxruntime_matches_pytorch_at_other_shapes(onnx_export, artifact, texts):
    out, _ = onnx_export
    model = MultiTaskModel.load(artifact)
    batch = tokenize(model, texts)
    with torch.inference_mode():
        feats = model.features(batch)
        expected = [feats["embedding"], *model.head_logits(feats).values()]
    got = make_session(out / ONNX_FILE).run(None, {k: v.numpy() for k, v in batch.items()})
    for e, g in zip(expected, got, strict=True):
        assert g.shape == tuple(e.shape)
        np.testing.assert_allclose(g, e.numpy(), atol=1e-4)


def test_backbone_without_token_type_ids(tiny_backbones, tmp_path):
    art = tiny_artifact(tiny_backbones["distilbert"], tmp_path / "distil")
    report = export_artifact(str(art), "onnx", tmp_path / "onnx")
    graph = onnx.load(str(tmp_path / "onnx" / ONNX_FILE), load_external_data=False).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    assert report["parity_max_abs_diff"] < 1e-4


def test_onnx_predictor_gives_the_same_predictions(onnx_export, artifact):
    out, _ = onnx_export
    torch_preds = load_predictor(str(artifact)).predict(TEXTS, embeddings=True)
    onnx_preds = load_predictor(str(out), onnx=True).predict(TEXTS, embeddings=True)
    for t, o in zip(torch_preds, onnx_preds, strict=True):
        assert o["intent"]["label"] == t["intent"]["label"]
        assert abs(o["intent"]["score"] - t["intent"]["score"]) < 1e-4
        assert o["slots"] == t["slots"]
        np.testing.assert_allclose(o["embedding"], t["embedding"], atol=1e-4)


def test_cli_export_and_predict_onnx(artifact, tmp_path):
    runner = CliRunner()
    out = tmp_path / "exported"
    res = runner.invoke(app, ["export", str(artifact), "--format", "onnx", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "parity_max_abs_diff" in res.output and (out / ONNX_FILE).exists()
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS[:2]) + "\n")
    lines = {}
    for flag in ([], ["--onnx"]):
        target = out if flag else artifact
        res = runner.invoke(app, ["predict", str(target), str(source), *flag])
        assert res.exit_code == 0, res.output
        lines[bool(flag)] = [json.loads(x) for x in res.stdout.splitlines()]
    assert [p["intent"]["label"] for p in lines[True]] == [
        p["intent"]["label"] for p in lines[False]
    ]
    assert len(lines[True]) == 2


def _main(monkeypatch, capsys, *args) -> tuple[int, str]:
    """`polyhead ARGS` in-process: main() is what turns errors into one line and exit 2."""
    from polyhead.cli import main

    monkeypatch.setattr(sys, "argv", ["polyhead", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


def test_cli_errors_are_one_line_exit_2(artifact, tmp_path, monkeypatch, capsys):
    (tmp_path / "in.txt").write_text("hello\n")
    args = ("predict", str(artifact), str(tmp_path / "in.txt"), "--onnx")
    code, err = _main(monkeypatch, capsys, *args)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {artifact}: not an ONNX export (no model.onnx / polyhead_onnx.json); create one "
        f"with `polyhead export {artifact} --format onnx --out DIR`"
    ]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    args = ("export", str(artifact), "--format", "onnx", "--out", str(tmp_path / "mine"))
    code, err = _main(monkeypatch, capsys, *args)
    assert code == 2
    assert (
        err.strip() == f"error: {tmp_path / 'mine'}: exists and is not an earlier export; "
        "choose another --out"
    )
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    code, err = _main(monkeypatch, capsys, "export", str(artifact), "--format", "tf", "--out", "x")
    assert code == 2
    assert err.strip() == (
        "error: --format must be one of onnx, sentence-transformers, hf, transformers, got 'tf'"
    )


def test_serve_onnx_from_the_command_line(onnx_export):
    import httpx

    out, _ = onnx_export
    port = free_port()
    cmd = [sys.executable, "-m", "polyhead.cli", "serve", str(out), "--onnx", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=90, proc=proc)
        meta = httpx.get(f"{url}/metadata").json()
        assert meta["runtime"] == "onnxruntime" and "onnxruntime" in meta["versions"]
        res = httpx.post(f"{url}/predict", json={"texts": TEXTS}, timeout=30)
        assert res.status_code == 200
        expected = load_predictor(str(out), onnx=True).predict(TEXTS)
        assert res.json()["predictions"] == expected
    finally:
        proc.terminate()
        proc.wait(timeout=30)
