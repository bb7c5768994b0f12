"""Short runs on a tiny 2-layer BERT and a slice of the shipped demo data (intent + slots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyhead.config import RunConfig, validate_config
from tests.conftest import REPO, deep_merge

DEMO = REPO / "src" / "polyhead" / "demo_data"


def run_config(backbone: Path, cache_dir: Path, **sections) -> RunConfig:
    """48 training sentences (3 steps/epoch), 24 dev and test, 2 epochs, no early stopping."""
    base = {
        "model": {"backbone": str(backbone), "max_length": 24},
        "data": {
            "train": str(DEMO / "train.jsonl"),
            "dev": str(DEMO / "dev.jsonl"),
            "test": str(DEMO / "test.jsonl"),
            "max_train_examples": 48,
            "max_eval_examples": 24,
        },
        "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
        "plan": {"strategy": "heads", "head_lr": 5e-3, "backbone_lr": 1e-3},
        "trainer": {"epochs": 2, "batch_size": 16, "progress": False, "patience": None},
        "features": {"cache": {"dir": str(cache_dir)}},
    }
    return validate_config(deep_merge(base, sections))


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"
