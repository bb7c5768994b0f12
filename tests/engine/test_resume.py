"""`train(..., resume=True)` continues a killed gradual run exactly: the freeze state and
optimizer groups of every step follow the plan, history.jsonl goes on without a gap or a
duplicate, and the metrics and weights equal those of the same run left uninterrupted.

Tolerance: none. On CPU the resumed run is bit-identical (the checkpoint holds the RNG state,
so batches and dropout masks repeat; see RngStateCallback). Metrics are ratios of counts,
so any drift would show as a whole prediction flipping, not as rounding noise.
"""

from __future__ import annotations

import json

import lightning.pytorch as pl
import pytest
import torch

from polyhead.engine.train import train
from polyhead.model.multitask import MultiTaskModel
from tests.engine.conftest import Recorder, check_steps_follow_plan, run_config

EPOCHS = 3  # heads at epoch 0, layer_3 unfreezes at 1, layer_2 at 2


class Killed(Exception):
    pass


class KillAt(pl.Callback):
    """Stands in for a kill: raises at a given point of a given epoch."""

    def __init__(self, epoch: int, hook: str):
        self.epoch, self.hook = epoch, hook

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # mid-epoch, after one step of `epoch`: the last checkpoint is the previous epoch's
        if self.hook == "mid-epoch" and trainer.current_epoch == self.epoch and batch_idx == 1:
            raise Killed

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # after the epoch's history line, before its checkpoint (Lightning runs
        # ModelCheckpoint after every other callback)
        if self.hook == "before-checkpoint" and trainer.current_epoch == self.epoch:
            raise Killed


def _config(bert4):
    return run_config(bert4, plan={"strategy": "gradual", "unfreeze_every": 1})


def _history(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(bert4, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    recorder = Recorder()
    result = train(_config(bert4), run_dir, extra_callbacks=[recorder])
    return run_dir, result, recorder


@pytest.mark.parametrize(
    ("kill_epoch", "hook", "resumes_at"),
    [(2, "mid-epoch", 2), (1, "before-checkpoint", 1)],
)
def test_resume_continues_the_run_exactly(
    bert4, tmp_path, uninterrupted, kill_epoch, hook, resumes_at
):
    ref_dir, ref, ref_steps = uninterrupted
    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        train(_config(bert4), run_dir, extra_callbacks=[KillAt(kill_epoch, hook)])
    assert (run_dir / "checkpoints" / "last.ckpt").exists()

    recorder = Recorder()
    result = train(_config(bert4), run_dir, resume=True, extra_callbacks=[recorder])

    # Freeze state, optimizer groups and LRs of every resumed step: as planned, and as in
    # the uninterrupted run at the same global step (so resuming at an unfreeze step works).
    assert recorder.epochs() == list(range(resumes_at, EPOCHS))
    check_steps_follow_plan(result.plan, recorder.model, recorder.steps)
    by_step = {s["step"]: s for s in ref_steps.steps}
    assert recorder.steps[0]["step"] == resumes_at * recorder.steps[0]["steps_per_epoch"]
    for s in recorder.steps:
        assert s["trainable"] == by_step[s["step"]]["trainable"]
        assert s["lrs"] == by_step[s["step"]]["lrs"]

    # The metrics curve continues: one line per epoch, equal to the uninterrupted run's.
    history, ref_history = _history(run_dir), _history(ref_dir)
    assert [h["epoch"] for h in history] == list(range(EPOCHS))
    assert history == ref_history
    assert (run_dir / "logs" / "metrics.csv").exists(), "the pre-resume CSV log was deleted"

    assert result.best_epoch == ref.best_epoch
    assert result.metrics["dev"] == ref.metrics["dev"]
    assert result.metrics["test"] == ref.metrics["test"]
    resumed = MultiTaskModel.load(run_dir / "model").state_dict()
    expected = MultiTaskModel.load(ref_dir / "model").state_dict()
    for name, tensor in expected.items():
        assert torch.equal(resumed[name], tensor), name
