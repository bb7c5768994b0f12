"""Tiny configs for the quality-lever tests: a random 2-layer backbone and a demo subset."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyhead.config import validate_config
from tests.conftest import demo_raw


def tiny_run_config(backbone: Path, **tasks_extra) -> dict:
    """A dict config: intent + slots on 64 demo sentences, one epoch, no progress bar."""
    return demo_raw(
        backbone,
        train=64,
        eval=24,
        model={"max_length": 32},
        tasks=tasks_extra,
        plan={"head_lr": 5e-3},
        trainer={"epochs": 1, "batch_size": 16},
    )


@pytest.fixture
def tiny_cfg(tiny_bert):
    def make(**tasks_extra):
        return validate_config(tiny_run_config(tiny_bert, **tasks_extra))

    return make
