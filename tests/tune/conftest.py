"""Tiny tune configs: a random 2-layer backbone, 16 demo sentences, one optimizer step per
epoch, so a trial trains in about a second."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from polyhead.config import validate_config
from tests.conftest import DEMO, demo_raw


@cache
def two_intent_demo() -> dict[str, str]:
    """The demo's utterances of its two most frequent intents: with 60 intents, a trial of
    one optimizer step scores 0 on any 8 sentences and every trial ties (no importances)."""
    out = Path(tempfile.mkdtemp(prefix="polyhead-tune-data-"))
    rows = {s: (DEMO / f"{s}.jsonl").read_text().splitlines() for s in ("train", "dev")}
    top = Counter(json.loads(r)["intent"] for r in rows["train"]).most_common(2)
    keep = {name for name, _ in top}
    paths = {}
    for split, lines in rows.items():
        kept = [r for r in lines if json.loads(r)["intent"] in keep]
        paths[split] = str(out / f"{split}.jsonl")
        Path(paths[split]).write_text("\n".join(kept) + "\n")
    return paths


def tune_raw(backbone, space: dict | None = None, **tune) -> dict:
    """Intent + slots, epochs of one batch; `space` goes to tune.space (one epoch unless it
    says otherwise)."""
    return demo_raw(
        backbone,
        train=16,
        eval=8,
        test=False,
        data=two_intent_demo(),
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
