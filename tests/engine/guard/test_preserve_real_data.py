"""Scenario 3 on real data: an intent head trained first on a MASSIVE subset is frozen while
the backbone trains slots at a high LR. `preserve: [intent]` keeps the frozen task's dev
accuracy closer to its start than the same run without it."""

from __future__ import annotations

import json

import pytest

from polyhead.config import validate_config
from polyhead.engine.train import train

pytestmark = pytest.mark.slow


def massive_config(shared_data, backbone, tmp_path, **sections) -> dict:
    raw = {
        "model": {"backbone": str(backbone), "max_length": 24},
        "data": {
            "path": str(shared_data / "massive_en_us" / "en-US.jsonl"),
            "format": "massive",
            "test_split": "none",  # dev is all this test reads
            "max_train_examples": 200,
            "max_eval_examples": 120,
        },
        "tasks": {"intent": {"kind": "sentence"}},
        "features": {"cache": {"dir": str(tmp_path / "cache")}},
        "trainer": {"epochs": 6, "batch_size": 16, "patience": None, "progress": False},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return raw


def test_preserve_keeps_the_frozen_task_closer_to_its_start(shared_data, minilm2, tmp_path):
    # 1. the production intent head: heads-only on cached features (one backbone pass)
    stage1 = train(
        validate_config(
            massive_config(
                shared_data, minilm2, tmp_path, plan={"strategy": "heads", "head_lr": 1e-2}
            )
        ),
        tmp_path / "intent",
    )
    start = stage1.metrics["dev"]["intent"]["accuracy"]
    assert start > 0.3  # a real head (60 intents: chance is under 0.1)

    # 2. freeze it; the backbone learns slots at a high LR; intent labels teach nothing
    def stage2(preserve: list[str], name: str) -> dict:
        raw = massive_config(
            shared_data,
            stage1.run_dir / "model",  # continue from the trained artifact
            tmp_path,
            tasks={"intent": {"kind": "sentence", "loss_weight": 0.0}, "slots": {"kind": "token"}},
            plan={
                "strategy": "custom",
                "frozen_groups": ["embeddings"],  # cheaper steps; the blocks carry the drift
                "frozen_heads": ["intent"],
                "head_lr": 5e-3,
                "backbone_lr": 2e-3,
            },
            trainer={"epochs": 1, "preserve": preserve, "preserve_weight": 2.0},
        )
        return train(validate_config(raw), tmp_path / name).metrics

    without, with_ = stage2([], "without"), stage2(["intent"], "with")
    for m in (without, with_):
        assert m["drift"]["intent"]["start"] == pytest.approx(start)
        assert m["drift"]["intent"]["best"] == pytest.approx(m["dev"]["intent"]["accuracy"])
    drop_without = without["drift"]["intent"]["drop"]
    drop_with = with_["drift"]["intent"]["drop"]
    assert drop_without > 2.0  # the unguarded backbone moved the frozen task
    assert abs(drop_with) < drop_without - 1.0
    history = [json.loads(x) for x in (tmp_path / "with" / "history.jsonl").open()]
    assert history[0]["drift"]["intent"]["start"] == pytest.approx(start)
