"""Short real `train()` runs on a 4-layer tiny BERT and a slice of the shipped demo data,
plus a callback that records what the trainer actually did at every step."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from polyhead.config import RunConfig, validate_config
from tests.conftest import demo_raw, make_tiny_backbone


@pytest.fixture(scope="session")
def bert4(tmp_path_factory) -> Path:
    return make_tiny_backbone(tmp_path_factory.mktemp("engine-bert4"), "bert", layers=4)


def raw_config(backbone: Path, **sections) -> dict:
    """intent + slots on 32 demo sentences (4 steps/epoch), 3 epochs, no early stopping."""
    return demo_raw(backbone, **sections)


def run_config(backbone: Path, **sections) -> RunConfig:
    return validate_config(raw_config(backbone, **sections))


class Recorder(pl.Callback):
    """What the optimizer step of every batch ran with, seen after PlanCallback's hooks
    (extra callbacks run after the engine's own), and the weights before the first step."""

    def __init__(self):
        self.steps: list[dict] = []
        self.initial: dict[str, torch.Tensor] = {}
        self.model = None

    def on_fit_start(self, trainer, pl_module) -> None:
        self.model = pl_module.model
        self.initial = {n: p.detach().clone() for n, p in self.model.named_parameters()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        opt = trainer.optimizers[0]
        self.steps.append(
            {
                "epoch": trainer.current_epoch,
                "batch": batch_idx,
                "step": trainer.global_step,
                "steps_per_epoch": trainer.num_training_batches,
                "trainable": {n for n, p in pl_module.model.named_parameters() if p.requires_grad},
                "lrs": {g["name"]: (g["group"], g["lr"]) for g in opt.param_groups},
                "opt_params": {g["name"]: [id(p) for p in g["params"]] for g in opt.param_groups},
            }
        )

    def epochs(self) -> list[int]:
        return sorted({s["epoch"] for s in self.steps})


def params_of(plan, groups) -> set[str]:
    return {p for name in groups for p in plan.group(name).params}


def check_steps_follow_plan(plan, model, steps: list[dict]) -> None:
    """Every recorded step: exactly the planned parameters train, each optimizer group holds
    its planned parameters at its planned learning rate."""
    from polyhead.plan.optim import optimizer_group_specs

    specs = {s.name: s for s in optimizer_group_specs(plan)}
    ids = {n: id(p) for n, p in model.named_parameters()}
    assert steps, "no training step was recorded"
    for s in steps:
        where = f"epoch {s['epoch']} step {s['step']}"
        assert s["trainable"] == params_of(plan, plan.trainable(s["epoch"])), where
        assert set(s["lrs"]) == set(specs), where
        for name, (group, lr) in s["lrs"].items():
            assert group == specs[name].group
            assert s["opt_params"][name] == [ids[p] for p in specs[name].params], where
            planned = plan.lr_at(group, s["step"], s["steps_per_epoch"])
            assert lr == pytest.approx(planned, rel=1e-9, abs=1e-15), f"{where} {name}"
