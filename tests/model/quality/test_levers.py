"""Quality levers in the model: CRF token heads (train, save -> load, predict), label
smoothing, class weights, and re-initialising the top backbone layers."""

from __future__ import annotations

import pytest
import torch

from polyhead.config import validate_config
from polyhead.engine.evaluation import evaluate_examples
from polyhead.engine.train import prepare, train
from polyhead.errors import ConfigError
from polyhead.model.multitask import MultiTaskModel
from polyhead.predict import Predictor, tokenize
from tests.model.quality.conftest import tiny_run_config

TEXTS = ["wake me up at five am tomorrow", "", "what is the weather in paris on friday"]


def test_crf_head_trains_saves_loads_and_predicts_the_same(tiny_cfg, tmp_path):
    result = train(tiny_cfg(slots={"crf": True}), tmp_path / "run")
    model = MultiTaskModel.load(tmp_path / "run" / "model")
    assert model.spec.task("slots").crf and "slots" in model.crf_heads()
    assert model.heads["slots"].crf.transitions.abs().sum() > 0  # trained and saved
    again = MultiTaskModel.load(tmp_path / "run" / "model")
    assert torch.equal(model.heads["slots"].crf.transitions, again.heads["slots"].crf.transitions)
    assert Predictor(model).predict(TEXTS) == Predictor(again).predict(TEXTS)
    assert "slots" in result.metrics["dev"] and "frame_accuracy" in result.metrics["dev"]


def test_crf_predictions_route_through_viterbi(tiny_bert, monkeypatch):
    cfg = validate_config(tiny_run_config(tiny_bert, slots={"crf": True}))
    data, model, _ = prepare(cfg)
    crf = model.heads["slots"].crf
    labels = model.spec.task("slots").labels
    i_tag = next(i for i, t in enumerate(labels) if t.startswith("I-"))
    with torch.no_grad():  # emissions favour a lone I-X everywhere: argmax would emit it
        model.heads["slots"].net[1].bias.fill_(0).index_fill_(0, torch.tensor([i_tag]), 50.0)
    decoded = []
    original = crf.decode

    def spy(emissions, mask):
        out = original(emissions, mask)
        decoded.extend(out)
        return out

    monkeypatch.setattr(crf, "decode", spy)
    dev = data.sources[0].splits["dev"]
    metrics = evaluate_examples(model, dev)
    assert metrics["slots"]["n"] == len(dev)
    assert sum(len(p) for p in decoded) == sum(len(ex.tokens) for ex in dev)
    decoded.clear()
    Predictor(model).predict(["set an alarm"])
    assert [labels[i] for i in decoded[0]] == [f"B-{labels[i_tag][2:]}", *[labels[i_tag]] * 2]


def _loss(model, batch, task):
    return model(batch).losses[task]


def _batch(model, labels):
    batch = tokenize(model, ["set an alarm", "play some jazz", "call mum", "hi"])
    batch["labels.intent"] = torch.tensor(labels)
    return batch


def test_label_smoothing_and_class_weights_change_the_sentence_loss(tiny_bert):
    plain = validate_config(tiny_run_config(tiny_bert))
    torch.manual_seed(0)
    _, model, _ = prepare(plain)
    model.eval()
    batch = _batch(model, [0, 0, 0, 1])
    base = _loss(model, batch, "intent")
    ls = 0.2
    model.spec.task("intent").label_smoothing = ls
    logits = model(batch).logits["intent"]
    logp = torch.log_softmax(logits, -1)
    nll = -logp.gather(1, batch["labels.intent"][:, None]).mean()
    expected = (1 - ls) * nll + ls * (-logp.mean(-1)).mean()
    assert torch.allclose(_loss(model, batch, "intent"), expected, atol=1e-5)
    assert not torch.allclose(_loss(model, batch, "intent"), base)

    model.spec.task("intent").label_smoothing = 0.0
    n = len(model.spec.task("intent").labels)
    model.spec.task("intent").class_weights = [1.0] + [5.0] * (n - 1)
    per = -logp.gather(1, batch["labels.intent"][:, None]).squeeze(1)  # (B,)
    w = torch.tensor([1.0, 1.0, 1.0, 5.0])
    assert torch.allclose(_loss(model, batch, "intent"), (w * per).sum() / w.sum(), atol=1e-5)


def test_balanced_class_weights_are_computed_from_training_labels(tiny_bert):
    cfg = validate_config(tiny_run_config(tiny_bert, intent={"class_weights": "balanced"}))
    data, model, _ = prepare(cfg)
    weights = model.spec.task("intent").class_weights
    names = model.spec.task("intent").labels
    train = [ex.label for ex in data.sources[0].splits["train"]]
    common = max(set(train), key=train.count)
    rare = min(set(train), key=train.count)
    assert len(weights) == len(names)
    assert weights[names.index(rare)] > weights[names.index(common)]
    # balanced: weight * count is the same for every label (n / n_labels)
    assert weights[names.index(rare)] * train.count(rare) == pytest.approx(len(train) / len(names))


def test_reinit_top_changes_exactly_the_top_layers(tiny_bert):
    torch.manual_seed(0)
    _, base, _ = prepare(validate_config(tiny_run_config(tiny_bert)))
    raw = tiny_run_config(tiny_bert)
    raw["model"]["reinit_top"] = 1
    _, model, _ = prepare(validate_config(raw))
    before = dict(base.backbone.named_parameters())
    changed = {
        name for name, p in model.backbone.named_parameters() if not torch.equal(p, before[name])
    }
    assert changed, "reinit_top=1 changed nothing"
    assert all(name.startswith("encoder.layer.1.") for name in changed)
    weights = [n for n, p in model.backbone.named_parameters() if n.startswith("encoder.layer.1.")]
    assert {n for n in weights if n.endswith("dense.weight")} <= changed


def test_quality_levers_reject_the_wrong_task_kind(tiny_bert):
    with pytest.raises(ConfigError, match="tasks.intent"):
        validate_config(tiny_run_config(tiny_bert, intent={"crf": True}))
    with pytest.raises(ConfigError, match="label_smoothing"):
        validate_config(tiny_run_config(tiny_bert, slots={"label_smoothing": 0.1}))
    raw = tiny_run_config(tiny_bert)
    raw["model"]["reinit_top"] = 5
    with pytest.raises(ConfigError, match="model.reinit_top"):
        prepare(validate_config(raw))
