"""The guard's contracts on a tiny model: the start value is the untrained model's dev score,
drift reaches history and metrics, max_drop vetoes and stops, the distillation term is zero
at the start and grows as the backbone moves, and gradient cosines are cosines."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from polyhead.config import validate_config
from polyhead.engine.callbacks import BestArtifactCallback
from polyhead.engine.cosine import GradCosine
from polyhead.engine.evaluation import evaluate_examples
from polyhead.engine.guard import TEACHER_FILE, Distillation, DriftGuard
from polyhead.engine.train import prepare, train
from polyhead.errors import ConfigError
from tests.conftest import demo_raw


def demo_config(backbone, **sections):
    plan = {"strategy": "freeze-head", "frozen_heads": ["intent"], "head_lr": 1e-2}
    raw = demo_raw(
        backbone,
        eval=24,
        test=False,
        plan={**plan, "backbone_lr": 1e-2},
        trainer={"epochs": 2},
    )
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return validate_config(raw)


@pytest.mark.parametrize(
    ("trainer", "field"),
    [({"preserve": ["nope"]}, "trainer.preserve"), ({"max_drop": 1.0}, "trainer.max_drop")],
)
def test_guard_settings_are_checked(tiny_bert, trainer, field):
    with pytest.raises(ConfigError) as err:
        demo_config(tiny_bert, plan={"strategy": "full", "frozen_heads": []}, trainer=trainer)
    assert err.value.field == field


def test_drift_is_reported_against_the_untrained_model(tiny_bert, tmp_path):
    cfg = demo_config(
        tiny_bert, trainer={"max_drop": 100.0, "log_grad_cosine": True, "preserve": ["intent"]}
    )
    data, untrained, _ = prepare(cfg)
    before = evaluate_examples(untrained, data.sources[0].splits["dev"])["intent"]["accuracy"]
    metrics = train(cfg, tmp_path / "run").metrics
    drift = metrics["drift"]["intent"]
    assert drift["start"] == pytest.approx(before)
    assert drift["best"] == pytest.approx(metrics["dev"]["intent"]["accuracy"])
    assert drift["drop"] == pytest.approx(100 * (drift["start"] - drift["best"]))
    assert metrics["max_drop_stopped_at_epoch"] is None
    history = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").open()]
    assert len(history) == 2
    for record in history:
        assert record["drift"]["intent"]["start"] == pytest.approx(before)
        current = record["metrics"]["intent"]["accuracy"]
        assert record["drift"]["intent"]["current"] == pytest.approx(current)
        assert -1.0 <= record["grad_cosine"]["intent|slots"] <= 1.0
    assert drift["final"] == pytest.approx(history[-1]["metrics"]["intent"]["accuracy"])
    assert (tmp_path / "run" / TEACHER_FILE).exists()


def test_max_drop_vetoes_the_epoch_and_stops(tmp_path):
    best = BestArtifactCallback(tmp_path / "model", dict, 0.0)
    guard = DriftGuard(["intent"], 2.0, best, tmp_path)
    guard.start = {"intent": 0.80}
    trainer = SimpleNamespace(
        sanity_checking=False, current_epoch=0, should_stop=False, is_global_zero=True
    )

    def epoch(n: int, accuracy: float, score: float):
        trainer.current_epoch = n
        module = SimpleNamespace(
            kinds={"intent": "sentence"},
            last_metrics={"intent": {"accuracy": accuracy}, "score": score},
            history_extras={},
        )
        guard.on_validation_end(trainer, module)
        return module

    module = epoch(0, 0.79, 0.5)  # 1 point down: allowed
    assert not trainer.should_stop and all(v() for v in best.vetoes)
    assert module.history_extras["drift"]["intent"]["drop"] == pytest.approx(1.0)
    best.best, best.best_epoch = 0.5, 0  # what saving epoch 0 would record
    epoch(1, 0.70, 0.9)  # 10 points down, better score: vetoed and stopped
    assert trainer.should_stop and not all(v() for v in best.vetoes)
    best.on_validation_end(trainer, module)  # the veto holds even for a better score
    assert best.best_epoch == 0 and not (tmp_path / "model").exists()
    summary = guard.summary(best.best_epoch)
    assert summary["max_drop_stopped_at_epoch"] == 1
    assert summary["drift"]["intent"] == pytest.approx(
        {"start": 0.80, "best": 0.79, "final": 0.70, "drop": 1.0}
    )


def test_distillation_is_zero_at_the_start_and_grows_as_the_backbone_moves(tiny_bert, tmp_path):
    cfg = demo_config(tiny_bert, trainer={"preserve": ["intent", "slots"]})
    data, model, _ = prepare(cfg)
    trainer = SimpleNamespace(datamodule=data, is_global_zero=True)
    module = SimpleNamespace(
        model=model, device=torch.device("cpu"), loss_terms=[], history_extras={}
    )
    distil = Distillation(["intent", "slots"], 1.0, tmp_path)
    distil.on_fit_start(trainer, module)
    batch = next(iter(data.train_dataloader()))
    model.eval()  # the start logits are eval-mode logits
    with torch.no_grad():
        terms = distil.loss(batch, model(batch))
        assert set(terms) == {"preserve_intent", "preserve_slots"}
        assert all(float(v) == pytest.approx(0.0, abs=1e-6) for v in terms.values())
        for p in model.backbone.encoder.layer[0].parameters():
            p.add_(0.5 * torch.randn_like(p))
        moved = distil.loss(batch, model(batch))
    assert all(float(v) > 1e-4 for v in moved.values())
    # A resumed run reads the start logits from the run directory, not from the moved model.
    again = Distillation(["intent", "slots"], 1.0, tmp_path)
    again.on_fit_start(
        trainer,
        SimpleNamespace(model=model, device=torch.device("cpu"), loss_terms=[], history_extras={}),
    )
    with torch.no_grad():
        resumed = again.loss(batch, model(batch))
    for name, value in moved.items():
        assert float(resumed[name]) == pytest.approx(float(value), rel=1e-5)
    assert len(module.loss_terms) == 1  # registered with the module for training_step


def test_grad_cosine_is_a_cosine_and_needs_a_trainable_backbone(tiny_bert):
    a = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    assert GradCosine._cosine(a, a) == pytest.approx(1.0)
    assert GradCosine._cosine(a, [-x for x in a]) == pytest.approx(-1.0)
    data, model, _ = prepare(demo_config(tiny_bert))
    module = SimpleNamespace(
        model=model, device=torch.device("cpu"), loss_terms=[], history_extras={}
    )
    cos = GradCosine(8).cosines(data, module)
    assert set(cos) == {"intent|slots"} and -1.0 <= cos["intent|slots"] <= 1.0
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    assert GradCosine(8).cosines(data, module) == {}
