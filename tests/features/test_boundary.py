"""Boundary caching: running the upper blocks from cached states reproduces the full pass for
the five families, gradients reach only the upper blocks, and a family where it would not
reproduce falls back with a reason."""

import logging

import pytest
import torch

from polyhead.config import PlanConfig
from polyhead.data.rows import collate
from polyhead.features.extract import boundary_mismatch, only_layers, upper_features
from polyhead.features.source import backbone_boundary
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.plan import build_plan
from tests.conftest import FAMILIES, make_tiny_backbone, tiny_config

TEXTS = ["wake me up at five am", "play some jazz by miles davis", "x"]


def _model(backbone, layers="last") -> MultiTaskModel:
    tasks = [TaskSpec(name="slots", kind="token", labels=["O", "B-x", "I-x"])]
    spec = ModelSpec(backbone=str(backbone), tasks=tasks, max_length=32, layers=layers)
    return MultiTaskModel(spec)


def _rows(model) -> list[dict]:
    enc = model.tokenizer(TEXTS, truncation=True, max_length=32)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return [{k: enc[k][i] for k in keys} for i in range(len(TEXTS))]


@pytest.mark.parametrize("family", FAMILIES)
def test_upper_blocks_from_cached_states_match_the_full_pass(tiny_backbones, family):
    model = _model(tiny_backbones[family]).eval()
    rows = _rows(model)
    assert boundary_mismatch(model, rows, 1, pad_id=0) is None
    batch = collate(rows, 0)
    inputs = model.backbone_inputs(batch)
    with torch.no_grad():
        full = model.features(batch)
        with only_layers(model.backbone, 0, 1):
            lower = model.backbone(**inputs).last_hidden_state  # (B, T, H) input of layer_1
    model.train()  # the trainable upper part runs in train mode, with gradients
    for m in model.modules():
        if hasattr(m, "p"):  # dropout off, to compare values
            m.p = 0.0
    upper = upper_features(model, batch, 1, lower)
    mask = batch["attention_mask"].bool()
    torch.testing.assert_close(upper["token_embeddings"][mask], full["token_embeddings"][mask])
    upper["pooled"].sum().backward()
    grads = {n for n, p in model.backbone.named_parameters() if p.grad is not None}
    assert any(".1." in n for n in grads)  # block 1 learns; block 0 and embeddings never ran
    assert not any(".0." in n or "embeddings." in n for n in grads), sorted(grads)[:5]


def test_layer_selection_reaching_below_the_boundary_is_refused(tiny_bert):
    from polyhead.features.extract import boundary_support

    model = _model(tiny_bert, layers="last2_mean")  # needs hidden_states[1] and [2]
    assert boundary_support(model, 1) is None
    model3 = _model(tiny_bert, layers={"last_n": 2, "combine": "concat"})
    assert boundary_support(model3, 1) is None
    assert "reach below" in boundary_support(_model(tiny_bert, "last2_mean"), 2)


def test_deberta_with_convolution_falls_back_with_a_logged_reason(tmp_path, caplog):
    """DeBERTa-v2 models with `conv_kernel_size` mix the embeddings into block 0's output:
    block 1 alone cannot reproduce that, so the cache runs the full pass and says why."""
    from transformers import AutoModel

    from polyhead.engine.train import prepare
    from polyhead.features.source import BackboneCache
    from tests.features.conftest import run_config

    folder = make_tiny_backbone(tmp_path / "deb", "deberta-v2")
    config = tiny_config("deberta-v2")
    config.conv_kernel_size = 3
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    model = _model(folder)
    reason = boundary_mismatch(model, _rows(model), 1, pad_id=0)
    assert reason and "deberta-v2" in reason and "differ" in reason

    cfg = run_config(folder, tmp_path / "cache", plan={"strategy": "top-k", "k": 1})
    data, model, plan = prepare(cfg)
    cache = BackboneCache(model, plan, data, cfg)
    with caplog.at_level(logging.INFO, logger="polyhead"):
        assert cache.boundary(model, 0) is None and cache.boundary(model, 1) is None
    assert caplog.text.count("boundary cache at layer_1 off") == 1  # checked once
    assert "differ from the full pass" in caplog.text


def _boundaries(model, epochs: int, **plan) -> list:
    p = build_plan(model, PlanConfig(**plan), epochs)
    return [backbone_boundary(p, e, 2) for e in range(epochs)]


def test_boundary_per_strategy_and_epoch(tiny_bert):
    model = _model(tiny_bert)
    assert _boundaries(model, 2, strategy="frozen") == [2, 2]
    assert _boundaries(model, 2, strategy="heads") == [2, 2]
    assert _boundaries(model, 2, strategy="full") == [None, None]
    assert _boundaries(model, 2, strategy="top-k", k=1) == [1, 1]
    assert _boundaries(model, 2, strategy="top-k", k=0) == [2, 2]
    # heads only, then layer_1 (boundary moves to its input), then layer_0: no cache
    assert _boundaries(model, 4, strategy="gradual") == [2, 1, None, None]
    assert _boundaries(model, 3, strategy="custom", frozen_groups=["embeddings"]) == [None] * 3
    assert _boundaries(model, 2, strategy="custom", frozen_groups=["embeddings", "layer_0"]) == [
        1,
        1,
    ]
