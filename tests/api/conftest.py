"""A tiny model trained once through `polyhead.train` on a DatasetDict, for the API tests."""

from __future__ import annotations

import datasets
import pytest

from tests.data.test_frames import demo_examples, hub_layout


def api_config(backbone, **trainer) -> dict:
    """Intent + slots on a tiny backbone: heads only (the backbone's outputs come from the
    feature cache, keyed by the in-memory data's fingerprint), 2 epochs of batch 8."""
    return {
        "model": {"backbone": str(backbone), "max_length": 24},
        "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
        "plan": {"strategy": "heads", "head_lr": 5e-3},
        "trainer": {"epochs": 2, "batch_size": 8, "progress": False, "patience": None, **trainer},
    }


@pytest.fixture(scope="package")
def intent_slots() -> datasets.DatasetDict:
    """48 train, 16 validation, 16 test sentences of the demo data in the Hub's layout."""
    ds = hub_layout(demo_examples(80))
    return datasets.DatasetDict(
        {
            "train": ds.select(range(48)),
            "validation": ds.select(range(48, 64)),
            "test": ds.select(range(64, 80)),
        }
    )


@pytest.fixture(scope="package")
def trained(tiny_bert, intent_slots, tmp_path_factory):
    import polyhead

    out = tmp_path_factory.mktemp("api") / "run"
    return polyhead.train(api_config(tiny_bert), data=intent_slots, out=out, show_plan=False)
