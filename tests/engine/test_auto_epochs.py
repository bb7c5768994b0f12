"""`trainer.epochs: auto` (issue 18): epochs from the training set's size, resolved once the
data is counted, recorded as a number in the run's config, kept by a resume."""

from __future__ import annotations

import json

import pytest
import yaml

from polyhead.config import validate_config
from polyhead.engine.auto_epochs import AUTO_MAX, AUTO_MIN, auto_epochs
from polyhead.engine.resume import resume_point
from polyhead.engine.train import prepare, train
from polyhead.errors import PolyheadError
from tests.engine.conftest import raw_config, run_config


@pytest.mark.parametrize(
    ("steps", "want"),
    [(63, 10), (360, AUTO_MIN), (200, AUTO_MIN), (100, 6), (1, AUTO_MAX), (31, 20), (40, 15)],
)
def test_auto_epochs_asks_for_about_600_steps_within_bounds(steps, want):
    assert auto_epochs(steps, 600) == want


def test_default_is_auto_and_a_number_stays():
    cfg = validate_config({"tasks": {"intent": {"kind": "sentence"}}, "data": {"train": "x"}})
    assert cfg.trainer.epochs == "auto"
    with pytest.raises(PolyheadError, match="trainer.epochs"):
        validate_config({"tasks": {"intent": {"kind": "sentence"}}, "trainer": {"epochs": "many"}})


@pytest.mark.parametrize("sampling", ["proportional", "mixed"])
def test_prepare_resolves_auto_from_the_batches_an_epoch_has(bert4, sampling):
    # 40 sentences at batch 8: 5 steps an epoch; about 22 steps wanted -> 5 epochs
    cfg = run_config(
        bert4, train=40, trainer={"epochs": "auto", "auto_steps": 22, "sampling": sampling}
    )
    data, _, plan = prepare(cfg)
    assert data.steps_per_epoch() == len(data.train_dataloader()) == 5
    assert cfg.trainer.epochs == plan.epochs == 5


def test_two_sources_count_their_batches_apart(bert4):
    # one source per batch (the task sampler): 40 rows -> 5 batches, 12 rows -> 2 batches
    raw = raw_config(bert4, trainer={"epochs": "auto", "auto_steps": 700})
    files = raw.pop("data")
    for task, rows in (("intent", 40), ("slots", 12)):
        part = {"max_train_examples": rows, "max_eval_examples": 8}
        raw["tasks"][task]["data"] = {"train": files["train"], "dev": files["dev"], **part}
    cfg = validate_config(raw)
    data, _, plan = prepare(cfg)
    assert data.steps_per_epoch() == len(data.train_dataloader()) == 7
    assert plan.epochs == AUTO_MAX  # 700 / 7 = 100 epochs wanted, at most 20


def test_auto_run_records_its_number_and_resumes_with_auto(bert4, tmp_path):
    run_dir = tmp_path / "run"
    auto = {"epochs": "auto", "auto_steps": 16}
    result = train(run_config(bert4, train=32, trainer=auto), run_dir)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["epochs"] == 4 == result.plan.epochs  # 4 steps an epoch
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert sorted({row["epoch"] for row in history if "epoch" in row}) == [0, 1, 2, 3]
    # the same `auto` config resumes (it resolves to the saved 4); another number is refused
    again = run_config(bert4, train=32, trainer=auto)
    point = resume_point(run_dir, again)
    assert again.trainer.epochs == 4 and point.changed == {}
    with pytest.raises(PolyheadError, match="trainer.epochs 4 -> 5"):
        resume_point(run_dir, run_config(bert4, train=32, trainer={"epochs": 5}))


def test_the_callers_config_object_keeps_auto(bert4):
    # the Python API resolves on a copy: the same RunConfig can be reused on other data
    import polyhead

    cfg = run_config(bert4, train=40, trainer={"epochs": "auto", "auto_steps": 22})
    assert polyhead.training_plan(cfg).epochs == 5
    assert cfg.trainer.epochs == "auto"
