"""On every backbone family: the full plan covers each parameter once, the pooler excepted,
and each group's modules hold exactly that group's parameters."""

from __future__ import annotations

import pytest

from polyhead.config import PlanConfig
from polyhead.plan import build_plan, param_groups
from tests.conftest import FAMILIES
from tests.plan.conftest import tiny_model, trainable_names


@pytest.mark.parametrize("family", FAMILIES)
def test_full_plan_covers_every_parameter_once(tiny_backbones, family):
    model = tiny_model(tiny_backbones[family])
    plan = build_plan(model, PlanConfig(strategy="full"), epochs=1)
    every = [n for n, _ in model.named_parameters()]
    planned = [p for g in plan.groups for p in g.params]
    assert sorted(planned) == sorted(every)  # each parameter in exactly one group
    pooler = {p for g in plan.groups if g.kind == "pooler" for p in g.params}
    plan.apply(model, 0)
    assert trainable_names(model) == set(every) - pooler
    in_optimizer = [id(p) for g in param_groups(plan, model) for p in g["params"]]
    assert len(in_optimizer) == len(set(in_optimizer))
    assert set(in_optimizer) == {id(p) for n, p in model.named_parameters() if n not in pooler}


@pytest.mark.parametrize("family", FAMILIES)
def test_group_modules_hold_exactly_the_group(tiny_backbones, family):
    model = tiny_model(tiny_backbones[family])
    plan = build_plan(model, PlanConfig(strategy="full"), epochs=1)
    for g in plan.groups:
        held = {
            f"{m}.{p}" for m in g.module_names for p, _ in model.get_submodule(m).named_parameters()
        }
        assert held == set(g.params), (family, g.name)
