"""Tiny tune configs: a random 2-layer backbone, 16 demo sentences, one optimizer step per
epoch, so a trial trains in about a second."""

from __future__ import annotations

import pytest

from polyhead.config import validate_config
from tests.conftest import demo_raw


def tune_raw(backbone, space: dict | None = None, **tune) -> dict:
    """Intent + slots, epochs of one batch; `space` goes to tune.space (one epoch unless it
    says otherwise)."""
    return demo_raw(
        backbone,
        train=16,
        eval=8,
        test=False,
        trainer={"epochs": 2, "batch_size": 16},
        tune={"space": {"trainer.epochs": {"choices": [1]}, **(space or {})}, **tune},
    )


@pytest.fixture
def tune_cfg(tiny_bert):
    def make(space: dict | None = None, **tune):
        return validate_config(tune_raw(tiny_bert, space, **tune))

    return make


@pytest.fixture(autouse=True)
def _no_run_plots(monkeypatch):
    """Each trial is a normal run directory, whose report plots take longer than the tiny
    training itself; the run report has its own tests (tests/engine), tune tests skip it."""
    monkeypatch.setattr("polyhead.engine.train.write_run_report", lambda run_dir, data: None)
