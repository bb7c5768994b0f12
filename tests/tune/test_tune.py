"""polyhead tune end to end on a tiny model: trials finish, a killed tune resumes without
repeating a trial, the study is in SQLite, the best config trains as it is."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import optuna
import pytest
import yaml
from optuna.trial import TrialState
from typer.testing import CliRunner

from polyhead.cli import app
from polyhead.config import load_config
from polyhead.engine.faults import Interrupted
from polyhead.errors import PolyheadError
from polyhead.tune import run_tune
from polyhead.tune.study import STUDY_NAME, counted, open_study, storage_url, study_lock
from tests.tune.conftest import tune_raw


def load_study(out: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY_NAME, storage=storage_url(out))


def test_four_trial_tune_through_the_command(tiny_bert, tmp_path):
    config = tmp_path / "tune.yaml"
    config.write_text(yaml.safe_dump(tune_raw(tiny_bert)))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["tune", str(config), "--trials", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"optuna-dashboard sqlite:///{out.resolve()}/study.db" in res.output

    study = load_study(out)  # the trials are in the SQLite file, not only in memory
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    values = [t.value for t in study.trials]
    for t in study.trials:  # each trial is a run directory trained with its sampled values
        run = load_config(out / "trials" / str(t.number) / "config.yaml")
        assert run.plan.head_lr == t.params["plan.head_lr"]
        assert run.tasks["slots"].crf == t.params["tasks.slots.crf"]
        assert (out / "trials" / str(t.number) / "metrics.json").exists()
    best = max(study.trials, key=lambda t: t.value)
    assert best.value == max(values)

    best_cfg = load_config(out / "best_config.yaml")  # valid as it is for `polyhead train`
    assert best_cfg.plan.head_lr == best.params["plan.head_lr"]
    assert best_cfg.plan.layer_decay == best.params["plan.layer_decay"]
    assert "tune" not in yaml.safe_load((out / "best_config.yaml").read_text())

    rows = list(csv.reader((out / "trials.csv").open()))
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    assert rows[0][:3] == ["trial", "state", "dev score"]
    md = (out / "report.md").read_text()
    assert f"best: trial {best.number}, dev score {best.value:.4f}" in md
    assert "Parameter importances" in md  # 4 completed trials: enough
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3  # history, per-epoch, importances


class Killed(BaseException):
    """Stands for SIGKILL: nothing in polyhead or Lightning catches it, so the trial is left
    RUNNING in the database exactly as a killed process leaves it."""


class KillDuring(pl.Callback):
    def __init__(self, trial: int):
        self.trial = trial

    def on_train_epoch_end(self, trainer, pl_module):
        if Path(trainer.default_root_dir).name == str(self.trial):
            raise Killed


def test_killed_tune_resumes_with_the_same_command(tune_cfg, tmp_path):
    cfg, out = tune_cfg(), tmp_path / "out"
    with pytest.raises(Killed):
        run_tune(cfg, out, trials=4, extra_callbacks=[KillDuring(trial=2)])
    study = load_study(out)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2 + [TrialState.RUNNING]
    killed_params = study.trials[2].params
    first_two = (out / "trials" / "0" / "metrics.json").stat().st_mtime_ns

    result = run_tune(cfg, out, trials=4)  # the same call again

    trials = load_study(out).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL] + [
        TrialState.COMPLETE
    ] * 2
    assert result.ran == 2  # trials 0 and 1 were not run again
    assert (out / "trials" / "0" / "metrics.json").stat().st_mtime_ns == first_two
    assert trials[3].user_attrs["retry_of"] == 2 and trials[3].params == killed_params
    assert len(counted(result.study)) == 4
    finished = [tuple(sorted(t.params.items())) for t in counted(result.study)]
    assert len(set(finished)) == 4  # none repeated
    assert "run again" in (out / "report.md").read_text()

    again = run_tune(cfg, out, trials=4)  # complete: nothing more to run
    assert again.ran == 0 and len(again.study.trials) == 5


class CtrlC(pl.Callback):
    """What polyhead's SIGINT handler does after the batch: raise Interrupted."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        raise Interrupted("interrupted")


def test_ctrl_c_stops_the_tune_and_the_trial_runs_again(tune_cfg, tmp_path):
    cfg = tune_cfg()
    with pytest.raises(Interrupted, match="re-run the same command to resume"):
        run_tune(cfg, tmp_path, trials=1, extra_callbacks=[CtrlC()])
    trials = load_study(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs["retry_of"] == 0

    result = run_tune(cfg, tmp_path, trials=1)
    done = result.study.trials[1]
    assert done.state == TrialState.COMPLETE and done.params == trials[0].params
    assert result.ran == 1 and len(result.study.trials) == 2


class FakeScores(pl.Callback):
    """Overrides each epoch's dev score (before the pruning callback reads it) so that which
    trial is below the median does not depend on what a random tiny model learns."""

    def __init__(self, scores: dict[int, list[float]]):
        self.scores = scores

    def on_validation_end(self, trainer, pl_module):
        trial = int(Path(trainer.default_root_dir).name)
        pl_module.last_metrics["score"] = self.scores[trial][trainer.current_epoch]


def test_a_trial_below_the_median_is_pruned_and_the_tune_goes_on(tune_cfg, tmp_path):
    cfg = tune_cfg({"trainer.epochs": {"choices": [2]}}, prune_startup=2, prune_after=0)
    scores = {0: [0.5, 0.6], 1: [0.7, 0.8], 2: [0.1, 0.2], 3: [0.9, 0.95]}
    result = run_tune(cfg, tmp_path / "out", trials=4, extra_callbacks=[FakeScores(scores)])
    trials = result.study.trials
    states = [t.state for t in trials]
    assert states == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert trials[2].intermediate_values == {0: 0.1}  # stopped after its first epoch
    assert trials[3].intermediate_values == {0: 0.9, 1: 0.95}
    pruned_dir = tmp_path / "out" / "trials" / "2"
    assert (pruned_dir / "history.jsonl").exists() and not (pruned_dir / "metrics.json").exists()
    assert "pruned @ epoch 0" in (tmp_path / "out" / "report.md").read_text()


def test_a_different_config_in_the_same_directory_is_refused(tune_cfg, tmp_path):
    open_study(tune_cfg(), tmp_path)
    other = tune_cfg({"plan.head_lr": {"low": 1e-3, "high": 1e-2}})
    with pytest.raises(PolyheadError, match=r"another config \(differs in: tune\.space\.plan"):
        open_study(other, tmp_path)


def test_a_study_from_before_a_new_config_field_still_resumes(tune_cfg, tmp_path):
    # a study begun by an older polyhead has no `trainer.auto_steps` in its saved config:
    # the field's default is no change, as for a resumed run
    study = open_study(tune_cfg(), tmp_path)
    saved = study.user_attrs["config"]
    del saved["trainer"]["auto_steps"]
    study.set_user_attr("config", saved)
    open_study(tune_cfg(), tmp_path)
    changed = tune_cfg()
    changed.trainer.auto_steps = 5
    with pytest.raises(PolyheadError, match=r"differs in: trainer\.auto_steps"):
        open_study(changed, tmp_path)


def test_timeout_stops_before_the_next_trial(tune_cfg, tmp_path):
    result = run_tune(tune_cfg(), tmp_path, trials=3, timeout=0)
    assert result.timed_out and result.ran == 0
    assert "no trial completed" in (tmp_path / "report.md").read_text()


def test_a_second_tune_on_the_same_directory_is_refused(tmp_path):
    refused = pytest.raises(PolyheadError, match="another `polyhead tune`")
    with study_lock(tmp_path), refused, study_lock(tmp_path):
        pass


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
import lightning.pytorch as pl
from polyhead.config import load_config
from polyhead.tune import run_tune

class Kill(pl.Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        if Path(trainer.default_root_dir).name == "2":
            os.kill(os.getpid(), signal.SIGKILL)

run_tune(load_config(sys.argv[1]), sys.argv[2], trials=4, extra_callbacks=[Kill()])
"""


@pytest.mark.slow
def test_sigkill_mid_trial_then_the_same_command_completes(tiny_bert, tmp_path):
    """A real SIGKILL in trial 2: the database is left as the dead process wrote it."""
    config, out = tmp_path / "tune.yaml", tmp_path / "out"
    config.write_text(yaml.safe_dump(tune_raw(tiny_bert)))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    cmd = [sys.executable, "-c", KILL_SCRIPT, str(config), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert load_study(out).trials[2].state == TrialState.RUNNING

    res = CliRunner().invoke(app, ["tune", str(config), "--trials", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "4 complete, 1 fail (2 run now)" in res.output
    trials = load_study(out).trials
    assert trials[2].state == TrialState.FAIL and trials[3].user_attrs["retry_of"] == 2
