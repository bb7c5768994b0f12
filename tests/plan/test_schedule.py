"""Per-group LR multipliers: zero before a group opens, its own warmup, then the decay."""

from __future__ import annotations

import math

import pytest
import torch

from polyhead.plan import param_groups, scheduler
from polyhead.plan.optim import lr_lambdas
from polyhead.plan.schedule import GroupSchedule
from tests.plan.conftest import plan_for

SPE = 10  # steps per epoch


def test_group_starting_at_epoch_2_waits_then_warms_up(model):
    plan = plan_for(
        model, 5, strategy="gradual", unfreeze_every=2, warmup_ratio=0.1, backbone_lr=1e-4
    )
    lrs = [plan.lr_at("layer_3", s, SPE) for s in range(50)]
    assert lrs[:20] == [0.0] * 20
    # 30 steps left, 3 of them warmup: 1/3, 2/3, 1 of the peak, then linear decay to 0.
    assert lrs[20:23] == pytest.approx([1e-4 / 3, 2e-4 / 3, 1e-4])
    assert lrs[23] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(lrs[23:], lrs[24:], strict=False))
    assert lrs[49] == pytest.approx(1e-4 / 27)
    assert plan.lr_at("layer_3", 50, SPE) == 0.0
    assert plan.lr_at("head:intent", 0, SPE) > 0.0  # heads start at once
    assert plan.lr_at("layer_0", 45, SPE) == 0.0  # opens after the last epoch: never


def test_cosine_and_linear_shapes():
    linear = GroupSchedule(start=0, total=100, warmup=0, shape="linear")
    cosine = GroupSchedule(start=0, total=100, warmup=0, shape="cosine")
    constant = GroupSchedule(start=0, total=100, warmup=0, shape="constant")
    assert linear(0) == cosine(0) == 1.0
    assert linear(25) == pytest.approx(0.75)
    assert cosine(25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert linear(50) == pytest.approx(0.5) and cosine(50) == pytest.approx(0.5)
    assert cosine(25) > linear(25) and cosine(75) < linear(75)  # cosine holds, then drops
    assert [constant(s) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert linear(100) == cosine(100) == constant(100) == 0.0


@pytest.mark.parametrize("schedule", ["linear", "cosine", "constant"])
def test_lambdalr_follows_lr_at_for_every_optimizer_group(model, schedule):
    plan = plan_for(model, 3, strategy="gradual", schedule=schedule, warmup_ratio=0.2)
    groups = param_groups(plan, model)
    optimizer = torch.optim.AdamW(groups)
    sched = scheduler(plan, optimizer, SPE)
    for step in range(3 * SPE):
        for g in optimizer.param_groups:
            assert g["lr"] == pytest.approx(plan.lr_at(g["group"], step, SPE)), (g["name"], step)
        optimizer.step()
        sched.step()


def test_lambdas_align_with_optimizer_groups(model):
    plan = plan_for(model, 4, strategy="gradual")
    groups = param_groups(plan, model)
    lambdas = lr_lambdas(plan, SPE)
    assert len(lambdas) == len(groups)
    for g, fn in zip(groups, lambdas, strict=True):
        start = plan.group(g["group"]).start_epoch * SPE
        assert fn(start) > 0.0
        if start > 0:
            assert fn(start - 1) == 0.0


def test_scheduler_refuses_an_optimizer_of_another_shape(model):
    plan = plan_for(model, strategy="full")
    optimizer = torch.optim.AdamW(model.parameters())
    with pytest.raises(ValueError, match="param_groups"):
        scheduler(plan, optimizer, SPE)
