"""Short runs on a tiny 2-layer BERT and a slice of the shipped demo data (intent + slots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyhead.config import RunConfig, validate_config
from tests.conftest import deep_merge, demo_raw


def run_config(backbone: Path, cache_dir: Path, **sections) -> RunConfig:
    """48 training sentences (3 steps/epoch), 24 dev and test, 2 epochs, no early stopping."""
    base = demo_raw(
        backbone,
        train=48,
        eval=24,
        plan={"strategy": "heads", "head_lr": 5e-3},
        trainer={"epochs": 2, "batch_size": 16},
        features={"cache": {"dir": str(cache_dir)}},
    )
    return validate_config(deep_merge(base, sections))


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"
