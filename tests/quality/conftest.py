"""Tiny configs for the quality-lever tests: a random 2-layer backbone and a demo subset."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyhead.config import validate_config

DEMO = Path(__file__).resolve().parents[2] / "src" / "polyhead" / "demo_data"


def tiny_run_config(backbone: Path, **tasks_extra) -> dict:
    """A dict config: intent + slots on 64 demo sentences, one epoch, no progress bar."""
    tasks = {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}}
    for name, extra in tasks_extra.items():
        tasks[name].update(extra)
    return {
        "model": {"backbone": str(backbone), "max_length": 32},
        "data": {
            "train": str(DEMO / "train.jsonl"),
            "dev": str(DEMO / "dev.jsonl"),
            "test": str(DEMO / "test.jsonl"),
            "max_train_examples": 64,
            "max_eval_examples": 24,
        },
        "tasks": tasks,
        "plan": {"strategy": "full", "head_lr": 5e-3, "backbone_lr": 1e-3},
        "trainer": {"epochs": 1, "batch_size": 16, "progress": False, "patience": None},
    }


@pytest.fixture
def tiny_cfg(tiny_bert):
    def make(**tasks_extra):
        return validate_config(tiny_run_config(tiny_bert, **tasks_extra))

    return make
