"""The engine's guard rails on real short runs: `frozen` never takes a gradient step, early
stopping stops, gradient clipping clips."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import pytest
import torch

from polyhead.engine.train import train
from polyhead.errors import PolyheadError
from polyhead.model.multitask import MultiTaskModel
from tests.engine.conftest import run_config


class StepCounter(pl.Callback):
    def __init__(self):
        self.steps = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.steps += 1


def test_frozen_plan_never_takes_a_gradient_step(bert4, tmp_path):
    """`frozen` runs the feature-extraction path (features once, external classifiers):
    no Lightning fit, no checkpoint, and the saved backbone is the untouched one."""
    from transformers import AutoModel

    counter = StepCounter()
    cfg = run_config(bert4, plan={"strategy": "frozen"})
    result = train(cfg, tmp_path / "run", extra_callbacks=[counter])
    assert counter.steps == 0
    assert result.plan.trainable(0) == [] and not result.plan.trains_anything
    assert not (tmp_path / "run" / "checkpoints").exists()
    saved = MultiTaskModel.load(tmp_path / "run" / "model").backbone.state_dict()
    for name, tensor in AutoModel.from_pretrained(bert4).state_dict().items():
        assert torch.equal(saved[name], tensor), name


def test_the_lightning_module_refuses_a_plan_that_trains_nothing(bert4, tmp_path):
    """The engine's own guard, for a frozen plan that reaches Lightning anyway."""
    from polyhead.engine.module import PolyheadModule
    from polyhead.engine.train import prepare

    cfg = run_config(bert4, plan={"strategy": "frozen"})
    data, model, plan = prepare(cfg)
    module = PolyheadModule(model, plan, cfg, (data.sources, data.kinds, data.label_sets))
    counter = StepCounter()
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        callbacks=[counter],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    with pytest.raises(PolyheadError, match="trains no parameter"):
        trainer.fit(module, datamodule=data)
    assert counter.steps == 0


def test_early_stopping_stops_when_the_score_cannot_improve(bert4, tmp_path):
    # LRs of 1e-9 move no prediction, so the dev score is flat from epoch 0 on.
    cfg = run_config(
        bert4,
        plan={"strategy": "heads", "head_lr": 1e-9},
        trainer={"epochs": 6, "patience": 1},
        data={"max_train_examples": 16},
    )
    result = train(cfg, tmp_path / "run")
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    scores = [json.loads(line)["metrics"]["score"] for line in lines]
    assert len(scores) == 2, scores  # epoch 0 sets the best, epoch 1 exhausts patience 1
    assert scores[1] <= scores[0]
    assert result.best_epoch == 0


class GradNorms(pl.Callback):
    """Total gradient norm before clipping (recorded by PolyheadModule in
    `on_before_optimizer_step`) and the one the optimizer steps with. Lightning clips after
    that hook, inside `optimizer.step`, so the applied gradients are read in a step post-hook;
    they stay in place until the next step's zero_grad."""

    def __init__(self):
        self.raw: list[float] = []
        self.applied: list[float] = []

    def on_train_start(self, trainer, pl_module) -> None:
        trainer.optimizers[0].register_step_post_hook(self._record)

    def _record(self, optimizer, args, kwargs) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        self.applied.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    def on_train_end(self, trainer, pl_module) -> None:
        self.raw = list(pl_module.grad_norms)


@pytest.mark.parametrize("clip", [1e-3, None])
def test_gradient_clipping_bounds_the_norm_of_each_update(bert4, tmp_path, clip):
    norms = GradNorms()
    cfg = run_config(
        bert4,
        plan={"strategy": "full", "head_lr": 0.5, "backbone_lr": 0.1},
        trainer={"epochs": 1, "gradient_clip": clip},
        data={"max_train_examples": 24},
    )
    train(cfg, tmp_path / "run", extra_callbacks=[norms])
    assert len(norms.applied) == len(norms.raw) == 3
    assert min(norms.raw) > 1e-2, norms.raw  # well above the clip: clipping has work to do
    if clip is None:  # control: the post-hook sees the gradients as they are
        assert norms.applied == pytest.approx(norms.raw, rel=1e-5)
    else:
        assert all(a <= clip * (1 + 1e-5) for a in norms.applied), norms.applied
        assert norms.applied == pytest.approx([clip] * 3, rel=1e-3)


class DropoutModes(pl.Callback):
    """The train/eval mode of every dropout module when each training step runs."""

    def __init__(self):
        self.modes: list[dict[str, bool]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.modes.append(
            {
                name: m.training
                for name, m in pl_module.model.named_modules()
                if isinstance(m, torch.nn.Dropout)
            }
        )


def test_backbone_dropout_acts_in_training_where_weights_learn(bert4, tmp_path):
    """A backbone from `from_pretrained` starts in eval mode and Lightning restores that mode
    at fit start; the plan must still put every trainable part in train mode."""
    seen = DropoutModes()
    train(run_config(bert4, plan={"strategy": "full"}), tmp_path / "full", extra_callbacks=[seen])
    assert seen.modes
    for modes in seen.modes:
        backbone = [on for name, on in modes.items() if name.startswith("backbone.")]
        assert backbone and all(backbone), modes
        assert all(on for name, on in modes.items() if name.startswith("heads."))

    seen = DropoutModes()
    cfg = run_config(bert4, plan={"strategy": "heads"})
    train(cfg, tmp_path / "heads", extra_callbacks=[seen])
    for modes in seen.modes:
        assert not any(on for name, on in modes.items() if name.startswith("backbone."))
        assert all(on for name, on in modes.items() if name.startswith("heads."))
