"""Two tasks from two files (BANKING77 csv intents, WNUT-17 CoNLL entities): batches hold
one source, each task is validated on its own data, and the combined score is their mean."""

from __future__ import annotations

import json
import math

import pytest

from polyhead.config import validate_config
from polyhead.engine.train import prepare, train


@pytest.fixture
def two_source_config(shared_data, tiny_bert):
    banking, wnut = shared_data / "banking77", shared_data / "wnut17"
    return validate_config(
        {
            "model": {"backbone": str(tiny_bert), "max_length": 32},
            "tasks": {
                "intent": {
                    "kind": "sentence",
                    "data": {
                        "train": str(banking / "train.csv"),
                        "label_field": "category",
                        "dev_fraction": 0.1,
                        "max_train_examples": 80,
                        "max_eval_examples": 40,
                    },
                },
                "entities": {
                    "kind": "token",
                    "data": {
                        "train": str(wnut / "wnut17train.conll"),
                        "dev": str(wnut / "emerging.dev.conll"),
                        "max_train_examples": 40,
                        "max_eval_examples": 30,
                    },
                },
            },
            "plan": {"strategy": "full", "head_lr": 1e-2, "backbone_lr": 1e-3},
            "trainer": {
                "epochs": 1,
                "batch_size": 8,
                "eval_batch_size": 32,
                "patience": None,
                "progress": False,
                "sampling": "temperature",
                "temperature": 2.0,
            },
        }
    )


def test_batches_hold_one_source_and_an_epoch_is_documented(two_source_config):
    data, _, _ = prepare(two_source_config)
    batches = list(data.train_dataloader())
    # WNUT sentences longer than 32 tokens are several windows (rows) of one example
    entity_rows = data.rows("train")[1]
    indices = [r["index"] for r in entity_rows]
    assert set(indices) == set(range(40)) and len(indices) > 40
    assert len(batches) == math.ceil(80 / 8) + math.ceil(len(entity_rows) / 8)
    for batch in batches:
        assert batch["source"].unique().numel() == 1
        source = int(batch["source"][0])
        # A row labels only its own source's task; the other task's labels are all ignored.
        other = "labels.entities" if source == 0 else "labels.intent"
        assert (batch[other] == -100).all()


def test_each_task_is_validated_on_its_own_data(two_source_config, tmp_path):
    result = train(two_source_config, tmp_path / "run")
    dev = result.metrics["dev"]
    assert dev["intent"]["n"] == 40 and dev["entities"]["n"] == 30
    assert dev["score"] == pytest.approx((dev["intent"]["accuracy"] + dev["entities"]["f1"]) / 2)
    assert "test" not in result.metrics or "intent" not in result.metrics["test"]
    history = [json.loads(line) for line in (tmp_path / "run/history.jsonl").open()]
    assert {"intent", "entities"} <= set(history[-1]["metrics"])
