"""A 4-layer tiny BERT with two heads (intent: sentence, slots: token), and plan helpers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from polyhead.config import PlanConfig
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.plan import TrainingPlan, build_plan
from tests.conftest import make_tiny_backbone

TASKS = [
    TaskSpec(name="intent", kind="sentence", labels=["a", "b"]),
    TaskSpec(name="slots", kind="token", labels=["O", "B-x", "I-x"]),
]


def tiny_model(folder) -> MultiTaskModel:
    return MultiTaskModel(ModelSpec(backbone=str(folder), tasks=TASKS, max_length=16))


@pytest.fixture(scope="session")
def bert4(tmp_path_factory):
    return make_tiny_backbone(tmp_path_factory.mktemp("bert4"), "bert", layers=4)


@pytest.fixture
def model(bert4) -> MultiTaskModel:
    return tiny_model(bert4)


def plan_for(model, epochs: int = 4, **cfg) -> TrainingPlan:
    try:
        plan_cfg = PlanConfig(**cfg)
    except ValidationError as e:  # a per-strategy rule of PlanConfig: its ConfigError
        raise e.errors()[0]["ctx"]["error"] from None
    return build_plan(model, plan_cfg, epochs)


def params_of(model, groups: list[str]) -> set[str]:
    """Parameter names of the named groups, read from the model (not from the plan)."""
    by_name = {g.name: g.params for g in model.layer_groups()}
    return {p for g in groups for p in by_name[g]}


def trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}
