"""Exports carry the model's words mode: the ONNX runtime's Predictor splits and trims raw
text as the PyTorch one does, and the hf export describes how to split it."""

from __future__ import annotations

import json

from polyhead.export.formats import export_artifact
from polyhead.export.hf import HEADS_META
from polyhead.export.runtime import load_predictor
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec

TEXTS = ["I flew to Paris, then Rome.", "我在北京工作。", "  tabs\tand  spaces ,"]


def test_onnx_and_hf_exports_keep_the_words_mode(tiny_bert, tmp_path):
    spec = ModelSpec(
        backbone=str(tiny_bert),
        max_length=32,
        words="punct+unspaced",
        split_off=",.。",
        tasks=[TaskSpec(name="places", kind="token", labels=["O", "B-LOC", "I-LOC"])],
    )
    artifact = MultiTaskModel(spec).save(tmp_path / "model")
    export_artifact(str(artifact), "onnx", tmp_path / "onnx")
    onnx = load_predictor(str(tmp_path / "onnx"), onnx=True)
    assert (onnx.model.spec.words, onnx.model.spec.split_off) == ("punct+unspaced", ",.。")
    assert onnx.predict(TEXTS) == load_predictor(str(artifact)).predict(TEXTS)

    export_artifact(str(artifact), "hf", tmp_path / "hf")
    meta = json.loads((tmp_path / "hf" / HEADS_META).read_text())
    assert (meta["words"], meta["split_off"]) == ("punct+unspaced", ",.。")
