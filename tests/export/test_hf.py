"""hf export: a plain HF backbone plus heads a consumer can rebuild; LoRA merged on request."""

from __future__ import annotations

import hashlib
import json

import torch
from safetensors.torch import load_file
from transformers import AutoModel

from polyhead.config import LoraSettings
from polyhead.export.formats import export_artifact
from polyhead.export.hf import merge_adapters
from polyhead.model import MultiTaskModel
from polyhead.model.lora import add_adapters
from polyhead.predict import tokenize

TEXTS = ["wake me up at five am", "play jazz", ""]


def _rebuild_logits(out, hidden, pooled) -> dict[str, torch.Tensor]:
    """What a consumer without polyhead does with polyhead_heads.json + heads.safetensors."""
    meta = json.loads((out / "polyhead_heads.json").read_text())
    weights = load_file(str(out / "heads.safetensors"))
    logits = {}
    for task in meta["tasks"]:
        x = pooled if task["input"] == "pooled" else hidden
        for layer in task["layers"]:
            if layer["type"] == "linear":
                x = x @ weights[layer["weight"]].T + weights[layer["bias"]]
            else:
                x = torch.tanh(x)
        logits[task["name"]] = x
    return logits


def test_backbone_loads_with_automodel_and_heads_rebuild_the_logits(artifact, tmp_path):
    out = tmp_path / "hf"
    report = export_artifact(str(artifact), "hf", out)
    assert report == {"format": "hf", "out": str(out), "merged": False}
    model = MultiTaskModel.load(artifact)
    batch = tokenize(model, TEXTS)
    with torch.inference_mode():
        hidden = AutoModel.from_pretrained(out).eval()(**batch).last_hidden_state
        feats = model.features(batch)
        expected = model.head_logits(feats)
        got = _rebuild_logits(out, hidden, model.pooling.pool(hidden, batch["attention_mask"]))
    torch.testing.assert_close(hidden, feats["token_embeddings"])
    assert set(got) == {"intent", "slots"}
    for task in got:
        torch.testing.assert_close(got[task], expected[task])
    meta = json.loads((out / "polyhead_heads.json").read_text())
    assert [t["labels"] for t in meta["tasks"]] == [t.labels for t in model.spec.tasks]


def test_merge_without_adapters_is_a_no_op(artifact, tmp_path):
    plain = export_artifact(str(artifact), "hf", tmp_path / "a")
    merged = export_artifact(str(artifact), "hf", tmp_path / "b", merge=True)
    assert plain["merged"] is merged["merged"] is False

    def digest(p):
        return hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_lora_adapters_kept_apart_or_merged(artifact, tmp_path):
    model = MultiTaskModel.load(artifact)
    add_adapters(model, LoraSettings(r=2, dropout=0.0))
    with torch.no_grad():  # LoRA B starts at zero; make the adapters change the output
        for name, p in model.backbone.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    model.eval().save(tmp_path / "lora-art")
    batch = tokenize(model, TEXTS)
    with torch.inference_mode():
        adapted = model.features(batch)["token_embeddings"]

    kept = export_artifact(str(tmp_path / "lora-art"), "hf", tmp_path / "kept")
    folded = export_artifact(str(tmp_path / "lora-art"), "hf", tmp_path / "merged", merge=True)
    assert kept["merged"] is False and folded["merged"] is True
    assert (tmp_path / "kept" / "adapter" / "adapter_model.safetensors").exists()
    assert not (tmp_path / "merged" / "adapter").exists()
    with torch.inference_mode():
        base = AutoModel.from_pretrained(tmp_path / "kept").eval()(**batch).last_hidden_state
        merged = AutoModel.from_pretrained(tmp_path / "merged").eval()(**batch).last_hidden_state
    assert (base - adapted).abs().max() > 1e-3  # the kept folder's backbone is the base
    torch.testing.assert_close(merged, adapted, atol=1e-5, rtol=1e-4)

    onnx = export_artifact(str(tmp_path / "lora-art"), "onnx", tmp_path / "onnx")
    assert onnx["merged"] is True and onnx["parity_max_abs_diff"] < 1e-4


def test_merge_adapters_uses_the_models_hook():
    class WithHook:
        merged = False

        def merge_adapters(self):
            self.merged = True
            return True

    model = WithHook()
    assert merge_adapters(model) is True and model.merged
