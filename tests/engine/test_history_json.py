"""history.jsonl lines are standard JSON: a metric that is NaN or inf is written as null
(before: `json.dumps` wrote bare `NaN` / `Infinity`, which strict JSON readers refuse)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from polyhead.engine.callbacks import HistoryCallback
from polyhead.engine.rundir import json_line


def strict_loads(line: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


class FakePlan:
    def trainable(self, epoch):
        return ["heads"]


def test_history_line_writes_nan_and_inf_as_null(tmp_path):
    path = tmp_path / "history.jsonl"
    callback = HistoryCallback(path, FakePlan())
    callback._lrs = {"heads": float("nan")}
    trainer = SimpleNamespace(
        sanity_checking=False, is_global_zero=True, current_epoch=2, global_step=12
    )
    module = SimpleNamespace(
        last_metrics={"intent": {"accuracy": float("nan"), "loss": float("inf")}, "score": 0.5},
        history_extras={"drift": {"intent": [float("-inf"), 0.25]}},
    )
    callback.on_validation_end(trainer, module)

    (line,) = path.read_text().splitlines()
    record = strict_loads(line)
    assert record["metrics"] == {"intent": {"accuracy": None, "loss": None}, "score": 0.5}
    assert record["lr"] == {"heads": None}
    assert record["drift"] == {"intent": [None, 0.25]}
    assert record["epoch"] == 2 and record["step"] == 12


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_json_line_is_one_strict_json_line(bad):
    line = json_line({"a": [1.0, bad], "b": {"c": bad}, "d": "NaN"})
    assert line.endswith("\n") and line.count("\n") == 1
    assert strict_loads(line) == {"a": [1.0, None], "b": {"c": None}, "d": "NaN"}
