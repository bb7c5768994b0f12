"""Multilabel and regression heads: losses on labelled rows only, standardisation, and the
artifact round trip of thresholds and target statistics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from polyhead.model.kinds import MultiLabelHead, RegressionHead, build_task_head
from polyhead.model.multitask import MultiTaskModel
from polyhead.model.spec import ModelSpec, TaskSpec
from polyhead.predict import Predictor

NAN = math.nan


def spec(kind, labels, **kw):
    return TaskSpec(name="t", kind=kind, labels=labels, **kw)


def test_bce_on_labelled_rows_only():
    head = MultiLabelHead(spec("multilabel", ["a", "b"]), 4)
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5], [9.0, 9.0]])
    labels = torch.tensor([[1.0, 0.0], [NAN, NAN], [0.0, 1.0]])
    want = F.binary_cross_entropy_with_logits(logits[[0, 2]], labels[[0, 2]])
    assert head.loss(logits, labels) == pytest.approx(want.item())
    assert head.loss(logits, torch.full((3, 2), NAN)) is None


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_regression_loss_on_standardised_targets(loss):
    head = RegressionHead(spec("regression", ["y"], regression_loss=loss), 4)
    head.set_standardisation([10.0], [2.0])
    logits = torch.tensor([[0.0], [1.0], [3.0]])
    labels = torch.tensor([[10.0], [NAN], [12.0]])  # standardised: 0 and 1
    fn = F.huber_loss if loss == "huber" else F.mse_loss
    want = fn(torch.tensor([[0.0], [3.0]]), torch.tensor([[0.0], [1.0]]))
    assert head.loss(logits, labels) == pytest.approx(want.item())
    assert head.outputs(torch.tensor([[1.5]])).item() == pytest.approx(13.0)


def test_pair_head_kinds():
    assert type(build_task_head(TaskSpec(name="p", kind="pair", labels=["s"]), 4)).__name__ == (
        "SentenceHead"
    )
    reg = TaskSpec(name="p", kind="pair", head="regression", labels=["s"])
    assert isinstance(build_task_head(reg, 4), RegressionHead)
    with pytest.raises(ValueError, match="head applies to pair tasks only"):
        TaskSpec(name="p", kind="sentence", head="regression", labels=["s"])


def _model(tiny_bert):
    tasks = [
        TaskSpec(name="types", kind="multilabel", labels=["a", "b", "c"]),
        TaskSpec(name="size", kind="regression", labels=["y"], regression_loss="huber"),
        TaskSpec(name="sim", kind="pair", head="regression", labels=["score"]),
    ]
    return MultiTaskModel(ModelSpec(backbone=str(tiny_bert), max_length=24, tasks=tasks))


def test_artifact_round_trip_keeps_thresholds_and_statistics(tiny_bert, tmp_path):
    model = _model(tiny_bert).eval()
    model.heads["types"].thresholds.copy_(torch.tensor([0.2, 0.5, 0.9]))
    model.heads["size"].set_standardisation([3.0], [0.5])
    model.heads["sim"].set_standardisation([2.5], [1.5])
    texts, pairs = ["set an alarm", "play jazz"], [("a cat", "a dog")]
    before = Predictor(model)
    want, want_pairs = before.predict(texts), before.predict_pairs(pairs)
    loaded = MultiTaskModel.load(model.save(tmp_path / "m"))
    assert loaded.spec.task("sim").head == "regression"
    assert loaded.heads["types"].thresholds.tolist() == pytest.approx([0.2, 0.5, 0.9])
    assert (loaded.heads["size"].mean.item(), loaded.heads["size"].std.item()) == (3.0, 0.5)
    after = Predictor(loaded)
    assert after.predict(texts) == want and after.predict_pairs(pairs) == want_pairs
    item = want[0]
    assert set(item) == {"text", "types", "size"}  # the pair task answers pairs only
    chosen = [
        n for n, p in item["types"]["scores"].items() if p >= {"a": 0.2, "b": 0.5, "c": 0.9}[n]
    ]
    assert item["types"]["labels"] == chosen
    assert set(want_pairs[0]) == {"text", "text_pair", "sim"} and "value" in want_pairs[0]["sim"]


def test_predict_pairs_needs_a_pair_task(tiny_bert):
    spec_ = ModelSpec(
        backbone=str(tiny_bert), tasks=[TaskSpec(name="t", kind="sentence", labels=["x", "y"])]
    )
    with pytest.raises(ValueError, match="no pair task"):
        Predictor(MultiTaskModel(spec_)).predict_pairs([("a", "b")])
