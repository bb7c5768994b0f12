"""Each strategy sets exactly the requires_grad flags it promises, epoch by epoch."""

from __future__ import annotations

import pytest

from polyhead import config
from polyhead.errors import ConfigError
from polyhead.plan import STRATEGY_FUNCTIONS
from tests.plan.conftest import params_of, plan_for, trainable_names

HEADS = {"head:intent": 0, "head:slots": 0}
ENCODER = ["embeddings", "layer_0", "layer_1", "layer_2", "layer_3"]

# (plan config, epochs, {group: first epoch it trains}); groups not listed never train.
CASES = {
    "frozen": ({"strategy": "frozen"}, 2, {}),
    "heads": ({"strategy": "heads"}, 2, HEADS),
    "freeze-head": (
        {"strategy": "freeze-head", "frozen_heads": ["slots"]},
        2,
        {"head:intent": 0, **dict.fromkeys(ENCODER, 0)},
    ),
    "top-k": ({"strategy": "top-k", "k": 2}, 2, {**HEADS, "layer_2": 0, "layer_3": 0}),
    "top-0": ({"strategy": "top-k", "k": 0}, 2, HEADS),
    "full": ({"strategy": "full"}, 2, {**HEADS, **dict.fromkeys(ENCODER, 0)}),
    "full+frozen_heads": (
        {"strategy": "full", "frozen_heads": ["head:intent"]},
        2,
        {"head:slots": 0, **dict.fromkeys(ENCODER, 0)},
    ),
    "gradual": (
        {"strategy": "gradual"},
        6,
        {**HEADS, "layer_3": 1, "layer_2": 2, "layer_1": 3, "layer_0": 4, "embeddings": 5},
    ),
    "gradual-every-2-floor-2": (
        # layer_1 (depth 2) would open at epoch 6 = after the last; depth < 2 never opens.
        {"strategy": "gradual", "unfreeze_every": 2, "unfreeze_floor": 2},
        6,
        {**HEADS, "layer_3": 2, "layer_2": 4},
    ),
    "gradual-at-step-2": (
        {"strategy": "gradual", "unfreeze_at": [1, 3], "unfreeze_step": 2},
        5,
        {**HEADS, "layer_3": 1, "layer_2": 1, "layer_1": 3, "layer_0": 3},
    ),
    "custom": (
        {"strategy": "custom", "frozen_groups": ["embeddings", "layer_0", "intent"]},
        2,
        {"head:slots": 0, "layer_1": 0, "layer_2": 0, "layer_3": 0},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_apply_sets_exactly_the_planned_flags(model, case):
    cfg, epochs, starts = CASES[case]
    plan = plan_for(model, epochs, **cfg)
    assert {g.name: g.start_epoch for g in plan.groups if g.start_epoch is not None} == starts
    for epoch in range(epochs):
        expected = sorted(g for g, start in starts.items() if start <= epoch)
        assert sorted(plan.trainable(epoch)) == expected
        plan.apply(model, epoch)
        assert trainable_names(model) == params_of(model, expected), f"epoch {epoch}"
    assert plan.trains_anything == bool(starts)


def test_pooler_never_trains_and_says_why(model):
    plan = plan_for(model, strategy="full")
    pooler = plan.group("pooler")
    assert pooler.start_epoch is None and pooler.note == "unused by polyhead pooling"
    plan.apply(model, 0)
    assert not any(model.get_parameter(p).requires_grad for p in pooler.params)


def test_apply_reports_groups_opened_this_epoch(model):
    plan = plan_for(model, 6, strategy="gradual", unfreeze_every=2)
    opened = [plan.apply(model, epoch) for epoch in range(6)]
    assert opened == [["head:intent", "head:slots"], [], ["layer_3"], [], ["layer_2"], []]


def test_apply_refreezes_when_going_back_an_epoch(model):
    """The flags are a function of the epoch alone, so a resumed run rebuilds them exactly."""
    plan = plan_for(model, 6, strategy="gradual")
    plan.apply(model, 4)
    plan.apply(model, 1)
    assert trainable_names(model) == params_of(model, ["head:intent", "head:slots", "layer_3"])


def test_phases_merge_epochs_with_the_same_trainable_groups(model):
    plan = plan_for(model, 5, strategy="gradual", unfreeze_every=2)
    spans = [(p.start_epoch, p.end_epoch, p.label) for p in plan.phases()]
    assert spans == [(0, 1, "epochs 0-1"), (2, 3, "epochs 2-3"), (4, 4, "epoch 4")]
    assert plan.phases()[1].trainable == ["head:intent", "head:slots", "layer_3"]


def test_gradual_groups_below_the_floor_are_noted(model):
    plan = plan_for(model, 3, strategy="gradual", unfreeze_floor=2)
    assert plan.group("layer_0").note == "below plan.unfreeze_floor"
    assert plan.group("embeddings").start_epoch is None
    assert plan.group("layer_1").start_epoch is None
    assert plan.group("layer_1").note == "would unfreeze at epoch 3, after the last epoch (2)"


def test_every_configured_strategy_is_registered():
    assert set(STRATEGY_FUNCTIONS) == set(config.STRATEGIES)


ERRORS = [
    (
        {"strategy": "top-k", "k": 5},
        "plan.k",
        "must be at most 4 (the backbone has 4 layers), got 5",
    ),
    ({"strategy": "top-k"}, "plan.k", "needs k"),
    ({"strategy": "custom", "frozen_groups": ["layer_9"]}, "plan.frozen_groups", "unknown group"),
    ({"strategy": "gradual", "unfreeze_floor": 5}, "plan.unfreeze_floor", "at most 4"),
    ({"strategy": "gradual", "unfreeze_at": [2, 1]}, "plan.unfreeze_at", "increasing"),
    ({"strategy": "gradual", "unfreeze_at": [0, 1]}, "plan.unfreeze_at", ">= 1"),
    ({"strategy": "freeze-head"}, "plan.frozen_heads", "at least one head"),
    ({"strategy": "full", "frozen_heads": ["layer_0"]}, "plan.frozen_heads", "unknown group"),
    (
        {"strategy": "lora", "lora": {"target_modules": ["nope"]}},
        "plan.lora.target_modules",
        "['nope']",
    ),
]


@pytest.mark.parametrize(("cfg", "field", "message"), ERRORS)
def test_bad_config_names_the_field(model, cfg, field, message):
    with pytest.raises(ConfigError, match="config field") as err:
        plan_for(model, **cfg)
    assert err.value.field == field
    assert message in str(err.value)


def test_unknown_frozen_group_lists_the_groups(model):
    with pytest.raises(ConfigError) as err:
        plan_for(model, strategy="custom", frozen_groups=["layer_9"])
    assert "unknown group 'layer_9'; groups are embeddings, layer_0" in str(err.value)
    assert "head:slots" in str(err.value)


def test_floor_equal_to_the_layer_count_opens_only_the_top_block(model):
    plan = plan_for(model, 4, strategy="gradual", unfreeze_floor=4)
    assert plan.trainable(3) == ["head:intent", "head:slots", "layer_3"]


def test_epochs_must_be_positive(model):
    with pytest.raises(ConfigError, match="trainer.epochs"):
        plan_for(model, 0, strategy="full")
