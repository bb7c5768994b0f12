"""Optimizer groups: planned LRs, weight decay only on matrices, every future group up front."""

from __future__ import annotations

import pytest
import torch

from polyhead.plan import param_groups, scheduler
from polyhead.predict import tokenize
from tests.plan.conftest import plan_for

LRS = {
    "head:intent": 1e-3,
    "head:slots": 1e-3,
    "layer_3": 1e-4,
    "layer_2": 5e-5,
    "layer_1": 2.5e-5,
    "layer_0": 1.25e-5,
    "embeddings": 6.25e-6,  # one decay step below layer_0
}


def _names(model, group: dict) -> list[str]:
    by_id = {id(p): n for n, p in model.named_parameters()}
    return [by_id[id(p)] for p in group["params"]]


def test_layer_decay_learning_rates(model):
    plan = plan_for(model, strategy="full", head_lr=1e-3, backbone_lr=1e-4, layer_decay=0.5)
    groups = param_groups(plan, model)
    assert {g["group"]: g["lr"] for g in groups} == pytest.approx(LRS, rel=1e-12)
    assert {g.name: g.lr for g in plan.groups if g.start_epoch is not None} == pytest.approx(LRS)


def test_weight_decay_only_on_matrices(model):
    plan = plan_for(model, strategy="full", weight_decay=0.1)
    groups = param_groups(plan, model)
    for g in groups:
        names = _names(model, g)
        if g["name"].endswith(".no_decay"):
            assert g["weight_decay"] == 0.0
            assert all(p.ndim == 1 for p in g["params"]), names
        else:
            assert g["weight_decay"] == 0.1 and g["name"] == g["group"]
            assert not [n for n in names if n.endswith("bias") or "LayerNorm" in n]
    no_decay = {n for g in groups if g["weight_decay"] == 0.0 for n in _names(model, g)}
    assert "backbone.encoder.layer.3.output.LayerNorm.weight" in no_decay
    assert "heads.intent.net.1.bias" in no_decay
    assert "heads.intent.net.1.weight" not in no_decay


def test_every_future_group_is_registered_from_the_start(model):
    plan = plan_for(model, 6, strategy="gradual", unfreeze_every=2)
    groups = param_groups(plan, model)
    names = [g["name"] for g in groups]
    assert len(names) == len(set(names))
    assert {g["group"] for g in groups} == {"head:intent", "head:slots", "layer_3", "layer_2"}
    seen = [n for g in groups for n in _names(model, g)]
    assert len(seen) == len(set(seen))  # each parameter in one optimizer group
    expected = {p for g in plan.groups if g.start_epoch is not None for p in g.params}
    assert set(seen) == expected


def test_frozen_strategy_has_no_optimizer_groups(model):
    plan = plan_for(model, strategy="frozen")
    assert not plan.trains_anything
    assert param_groups(plan, model) == []


def _step(model, plan, optimizer, scheduler, epoch: int) -> None:
    plan.apply(model, epoch)
    batch = tokenize(model, ["play some jazz", "wake me up"])
    batch["labels.intent"] = torch.tensor([0, 1])
    optimizer.zero_grad(set_to_none=True)
    model(batch).loss.backward()
    optimizer.step()
    scheduler.step()


def test_adamw_leaves_groups_alone_until_they_open(model):
    """The design the plan rests on: a registered but frozen group gets no update and no
    weight decay, and the same optimizer updates it once its epoch comes."""
    plan = plan_for(model, 2, strategy="gradual", weight_decay=0.5, warmup_ratio=0.0)
    optimizer = torch.optim.AdamW(param_groups(plan, model))
    sched = scheduler(plan, optimizer, steps_per_epoch=1)
    layer_3 = model.get_parameter("backbone.encoder.layer.3.attention.self.query.weight")
    head = model.get_parameter("heads.intent.net.1.weight")
    before = layer_3.detach().clone(), head.detach().clone()
    _step(model, plan, optimizer, sched, epoch=0)
    assert torch.equal(layer_3, before[0])
    assert not torch.equal(head, before[1])
    _step(model, plan, optimizer, sched, epoch=1)
    assert not torch.equal(layer_3, before[0])


def test_parameters_of_another_model_are_refused(model, tiny_bert):
    plan = plan_for(model, strategy="full")  # 4 layers; tiny_bert has 2
    from tests.plan.conftest import tiny_model

    with pytest.raises(ValueError, match="lacks"):
        param_groups(plan, tiny_model(tiny_bert))
