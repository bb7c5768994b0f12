"""Every strategy, trained for real: at every step exactly the planned parameters have
requires_grad and every optimizer group runs at its planned LR; what the plan keeps frozen
is bit-identical after training (in memory and in the saved best artifact); what it trains
moved."""

from __future__ import annotations

import json

import pytest
import torch

from polyhead.engine.train import train
from polyhead.model.multitask import MultiTaskModel
from polyhead.plan import plan_json
from tests.engine.conftest import Recorder, check_steps_follow_plan, params_of, run_config

STRATEGIES = {
    "heads": {},
    "freeze-head": {"frozen_heads": ["slots"]},
    "top-k": {"k": 2},
    "full": {},
    "gradual": {"unfreeze_every": 1},
    "custom": {"frozen_groups": ["embeddings", "layer_1", "intent"]},
}
# The gradient of a key-projection bias is exactly zero (it shifts every attention score of
# a query by the same amount, and softmax ignores that), so it may legitimately never move.
NO_GRADIENT = ("attention.self.key.bias",)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_strategy_trains_exactly_what_it_plans(strategy, bert4, tmp_path):
    epochs = 3 if strategy == "gradual" else 2
    cfg = run_config(
        bert4,
        plan={"strategy": strategy, **STRATEGIES[strategy]},
        trainer={"epochs": epochs},
        data={"max_train_examples": 24},
    )
    recorder = Recorder()
    result = train(cfg, tmp_path / "run", extra_callbacks=[recorder])
    plan = result.plan

    assert recorder.epochs() == list(range(epochs))
    check_steps_follow_plan(plan, recorder.model, recorder.steps)
    assert json.loads((tmp_path / "run" / "plan.json").read_text()) == plan_json(plan)
    history = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    for line in map(json.loads, history):  # what it reports is what the epoch's steps ran with
        last_step = [s for s in recorder.steps if s["epoch"] == line["epoch"]][-1]
        assert line["lr"] == {name: lr for name, (_, lr) in last_step["lrs"].items()}
        assert line["trainable"] == plan.trainable(line["epoch"])

    ever = params_of(plan, [g.name for g in plan.ever_trained])
    never = set(recorder.initial) - ever
    assert never, "every strategy here keeps something frozen (at least the pooler)"
    final = dict(recorder.model.named_parameters())
    saved = dict(MultiTaskModel.load(tmp_path / "run" / "model").named_parameters())
    for name in never:
        assert torch.equal(final[name], recorder.initial[name]), name
        assert torch.equal(saved[name], recorder.initial[name]), name
    unmoved = [
        n
        for n in ever
        if torch.equal(final[n], recorder.initial[n]) and not n.endswith(NO_GRADIENT)
    ]
    assert not unmoved, f"planned to train but unchanged: {unmoved}"
