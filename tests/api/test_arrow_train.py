"""A `datasets` object trains through the Arrow path (polyhead.data.arrow) exactly as its
Examples do through the Example path: same seed, same losses and metrics."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from safetensors.torch import load_file

import polyhead
from polyhead.data.frames import read_table_data
from polyhead.data.sources import DataSource
from tests.api.conftest import api_config


@pytest.mark.parametrize("max_length", [24, 8])  # 8: long sentences become windows
def test_arrow_path_trains_like_the_example_path(
    tiny_bert, intent_slots, tmp_path, max_length, caplog
):
    config = api_config(tiny_bert)
    config["model"]["max_length"] = max_length
    config["plan"] = {"strategy": "full", "head_lr": 5e-3, "backbone_lr": 1e-3}
    with caplog.at_level(logging.INFO, logger="polyhead"):
        by_arrow = polyhead.train(
            config, data=intent_slots, out=tmp_path / "arrow", show_plan=False
        )
    windows = [r.getMessage() for r in caplog.records if "split into windows" in r.getMessage()]
    assert bool(windows) == (max_length == 8), windows
    examples = DataSource.in_memory(read_table_data(intent_slots))
    by_examples = polyhead.train(config, data=examples, out=tmp_path / "ex", show_plan=False)
    runs = (by_arrow, by_examples)
    dev = [[json.loads(line)["metrics"] for line in _lines(run)] for run in runs]
    assert len(dev[0]) == 2 and dev[0] == _approx(dev[1])
    for split in ("dev", "test"):
        assert by_arrow.metrics[split] == _approx(by_examples.metrics[split])
    assert by_arrow.metrics["test"]["intent"]["n"] == 16
    weights = [load_file(run.model_dir / "backbone" / "model.safetensors") for run in runs]
    assert weights[0].keys() == weights[1].keys()
    for name, tensor in weights[0].items():  # the same steps on the same batches
        torch.testing.assert_close(tensor, weights[1][name], rtol=1e-5, atol=1e-6)


def _lines(run):
    return (run.run_dir / "history.jsonl").read_text().splitlines()


def _approx(value):
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return pytest.approx(value, rel=1e-5) if isinstance(value, float) else value
