"""`polyhead train --resume` (issue 13, items 9-11): a resume continues the run it names or
refuses in one line; a run stopped before its first checkpoint starts again; a trainer that
fails to start leaves nothing behind; a second Ctrl-C is one line and exit 130; train_seconds
adds up over the run's processes.

Runs: full fine-tuning of the tiny 2-layer BERT on 16 demo sentences (2 steps per epoch).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml

from polyhead.config import validate_config
from polyhead.engine.faults import Interrupted
from polyhead.engine.resume import check_extended_plan, config_diff
from polyhead.engine.rundir import prepare_run_dir
from polyhead.engine.train import prepare, train
from polyhead.model.multitask import MultiTaskModel
from polyhead.plan import plan_json
from polyhead.plan.schedule import GroupSchedule
from tests.conftest import demo_raw

STEPS_PER_EPOCH = 2


def raw(backbone, epochs: int = 1, **trainer) -> dict:
    trainer = {"epochs": epochs, "accelerator": "cpu", "log_every_n_steps": 1, **trainer}
    return demo_raw(backbone, train=16, eval=8, test=False, trainer=trainer)


def write(folder: Path, backbone, **kw) -> Path:
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(raw(backbone, **kw)))
    return path


def cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """`polyhead ARGS` in this process: (exit code, stderr, stdout)."""
    from polyhead.cli import main

    monkeypatch.setattr(sys, "argv", ["polyhead", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.err, out.out


def with_callback(monkeypatch, callback: pl.Callback) -> None:
    """The CLI's trainer gets `callback` too (as a test's fault injection)."""
    from polyhead.engine import train as engine_train

    make_trainer = engine_train.build_trainer

    def build(*args, **kwargs):
        trainer = make_trainer(*args, **kwargs)
        trainer.callbacks.append(callback)
        return trainer

    monkeypatch.setattr(engine_train, "build_trainer", build)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(rel_bert, tmp_path_factory) -> Path:
    """A finished one-epoch run (its last.ckpt is the end of epoch 0)."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    train(validate_config(raw(rel_bert)), run_dir)
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


# ---- item 9: a resume with another config ---------------------------------------------------


def test_resume_refuses_a_config_that_changes_the_run_before_writing(
    rel_bert, run_copy, tmp_path, monkeypatch, capsys
):
    before = files(run_copy)
    cfg_path = write(tmp_path, rel_bert)
    code, err, _ = cli(
        monkeypatch,
        capsys,
        *("train", cfg_path, "--resume", run_copy),
        *("--set", "trainer.batch_size=16", "--set", "plan.head_lr=0.01"),
        *("--set", "trainer.epochs=3"),
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "trainer.batch_size 8 -> 16" in lines[0] and "plan.head_lr 0.003 -> 0.01" in lines[0]
    assert "trainer.epochs 1 -> 3" in lines[0] and "--allow-changes" in lines[0]
    assert files(run_copy) == before  # config.yaml not overwritten, nothing written


def test_allow_changes_extends_only_epochs(rel_bert, run_copy, tmp_path, monkeypatch, capsys):
    before = files(run_copy)
    cfg_path = write(tmp_path, rel_bert, epochs=3)
    args = ("train", cfg_path, "--resume", run_copy, "--allow-changes")
    code, err, _ = cli(monkeypatch, capsys, *args, "--set", "trainer.batch_size=16")
    assert code == 2 and "trainer.batch_size 8 -> 16" in err and "trainer.epochs" not in err
    assert files(run_copy) == before


def test_resume_accepts_fields_that_cannot_change_the_run(
    rel_bert, run_copy, tmp_path, monkeypatch, capsys
):
    cfg_path = write(tmp_path, rel_bert, log_every_n_steps=5, num_workers=0)
    code, err, _ = cli(monkeypatch, capsys, "train", cfg_path, "--resume", run_copy)
    assert code == 0, err
    saved = yaml.safe_load((run_copy / "config.yaml").read_text())
    assert saved["trainer"]["log_every_n_steps"] == 5


def test_a_field_added_since_the_run_started_is_not_a_change(rel_bert):
    cfg = validate_config(raw(rel_bert))
    saved = yaml.safe_load(yaml.safe_dump(cfg.model_dump()))
    del saved["trainer"]["on_nonfinite"]  # as a polyhead before that field wrote it
    assert config_diff(saved, cfg) == {}
    saved["trainer"]["batch_size"] = 4
    assert config_diff(saved, cfg) == {"trainer.batch_size": (4, 8)}


class LrLog(pl.Callback):
    def __init__(self):
        self.lrs: dict[int, dict[str, float]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        groups = trainer.optimizers[0].param_groups
        self.lrs[trainer.global_step] = {g["group"]: g["lr"] for g in groups}


def test_allow_changes_extends_epochs_with_a_fresh_schedule(
    rel_bert, run_copy, tmp_path, monkeypatch, capsys
):
    """Before: the resumed epochs trained at LR 0.0 (the restored schedule ended at epoch 0)."""
    lrs = LrLog()
    with_callback(monkeypatch, lrs)
    cfg_path = write(tmp_path, rel_bert, epochs=3)
    args = ("train", cfg_path, "--resume", run_copy, "--allow-changes")
    code, err, out = cli(monkeypatch, capsys, *args)
    assert code == 0, err
    history = (run_copy / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in history] == [0, 1, 2]
    # Every group warms up again at step 2 and decays to 0 at the new last step (6).
    plan = prepare(validate_config(raw(rel_bert, epochs=3)))[2]
    fresh = GroupSchedule(STEPS_PER_EPOCH, 6, int(plan.warmup_ratio * 4), "linear")
    assert sorted(lrs.lrs) == [2, 3, 4, 5]
    for step, by_group in lrs.lrs.items():
        for group, lr in by_group.items():
            expected = plan.group(group).lr * fresh(step)
            assert lr == pytest.approx(expected, rel=1e-6) and lr > 0, (step, group)
    # The plan says so, and the run's old config is kept.
    for text in (out, (run_copy / "plan.txt").read_text()):
        assert "trainer.epochs 1 -> 3" in " ".join(text.split()), text[-500:]
    assert yaml.safe_load((run_copy / "config.yaml").read_text())["trainer"]["epochs"] == 3
    old = yaml.safe_load((run_copy / "config.before-resume-1.yaml").read_text())
    assert old["trainer"]["epochs"] == 1


def test_extending_a_gradual_run_that_would_unfreeze_more_is_refused(rel_bert, tmp_path):
    gradual = {"plan": {"strategy": "gradual"}}
    short = validate_config({**raw(rel_bert, epochs=1), **gradual})
    (tmp_path / "plan.json").write_text(json.dumps(plan_json(prepare(short)[2])))
    longer = prepare(validate_config({**raw(rel_bert, epochs=3), **gradual}))[2]
    with pytest.raises(Exception, match=r"layer_1 never -> epoch 1.*model.backbone="):
        check_extended_plan(tmp_path, longer)


# ---- item 10: stopped before the first checkpoint; a trainer that fails to start ----------


class Crash(pl.Callback):
    """Stands in for a kill at the end of step `step` (no checkpoint is written)."""

    def __init__(self, step: int = 0, hook: str = "batch"):
        self.step, self.hook = step, hook

    def on_train_start(self, trainer, pl_module) -> None:
        if self.hook == "start":
            raise RuntimeError("could not start")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.hook == "batch" and trainer.global_step == self.step:
            raise RuntimeError("killed")


def test_a_run_stopped_before_its_first_checkpoint_starts_again(
    rel_bert, finished_run, tmp_path, monkeypatch, capsys, caplog
):
    run_dir, cfg_path = tmp_path / "run", write(tmp_path, rel_bert)
    with pytest.raises(RuntimeError, match="killed"):
        train(validate_config(raw(rel_bert)), run_dir, extra_callbacks=[Crash(step=1)])
    assert (run_dir / "config.yaml").exists() and not (run_dir / "checkpoints/last.ckpt").exists()

    code, err, _ = cli(monkeypatch, capsys, "train", cfg_path, "--out", run_dir)
    assert code == 2 and f"--resume {run_dir} starts it again" in err, err
    code, err, _ = cli(monkeypatch, capsys, "train", cfg_path, "--resume", run_dir)
    assert code == 0, err
    said = [r.getMessage() for r in caplog.records if "starting it again" in r.getMessage()]
    assert said == [
        f"{run_dir} stopped before its first checkpoint: starting it again from "
        f"{run_dir / 'config.yaml'}"
    ]
    # The same run as one never stopped.
    restarted = MultiTaskModel.load(run_dir / "model").state_dict()
    for name, tensor in MultiTaskModel.load(finished_run / "model").state_dict().items():
        assert torch.equal(restarted[name], tensor), name


@pytest.mark.parametrize("fault", ["settings", "start"])
def test_a_trainer_that_fails_to_start_leaves_nothing_in_the_way(rel_bert, tmp_path, fault):
    run_dir = prepare_run_dir(tmp_path / "run")
    precision = "64-bogus" if fault == "settings" else "auto"
    with pytest.raises(Exception, match="bogus|could not start"):
        cfg = validate_config(raw(rel_bert, precision=precision))  # may refuse it already
        train(cfg, run_dir, extra_callbacks=[Crash(hook=fault)])
    assert list(run_dir.iterdir()) == []
    prepare_run_dir(run_dir)  # the next try into the same --out is not refused


# ---- item 11: a second Ctrl-C; train_seconds over processes -------------------------------


class CtrlC(pl.Callback):
    """Ctrl-C `times` times at the start of the batch making step `step`."""

    def __init__(self, step: int, times: int):
        self.step, self.times = step, times

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step + 1 == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


def test_a_second_ctrl_c_is_one_line_and_exit_130(rel_bert, tmp_path, monkeypatch, capsys):
    run_dir, cfg_path = tmp_path / "run", write(tmp_path, rel_bert, epochs=2)
    with_callback(monkeypatch, CtrlC(step=STEPS_PER_EPOCH + 1, times=2))
    code, err, _ = cli(monkeypatch, capsys, "train", cfg_path, "--out", run_dir)
    assert code == 130 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: stopped at once by a second Ctrl-C") and "--resume" in last
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_train_seconds_add_up_over_the_processes_of_a_run(rel_bert, tmp_path):
    run_dir, cfg = tmp_path / "run", validate_config(raw(rel_bert, epochs=2))
    start = time.perf_counter()
    with pytest.raises(Interrupted):
        train(cfg, run_dir, extra_callbacks=[CtrlC(step=STEPS_PER_EPOCH + 1, times=1)])
    first = time.perf_counter() - start
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)
    saved = state["callbacks"]["TrainClock"]["seconds"]
    assert 0 < saved <= first
    # As if the first process had trained for 1000 s: the resumed run adds its own time.
    state["callbacks"]["TrainClock"]["seconds"] = 1000.0
    torch.save(state, ckpt)
    start = time.perf_counter()
    result = train(cfg, run_dir, resume=True)
    second = time.perf_counter() - start
    reported = json.loads((run_dir / "metrics.json").read_text())["train_seconds"]
    assert reported == result.train_seconds
    assert 1000.0 < reported <= 1000.0 + second


def test_ctrl_c_outside_training_is_one_line_and_exit_130(rel_bert, tmp_path, monkeypatch, capsys):
    from polyhead.engine import train as engine_train

    def interrupted(cfg):
        raise KeyboardInterrupt  # Ctrl-C while the data and model load

    monkeypatch.setattr(engine_train, "prepare", interrupted)
    cfg_path = write(tmp_path, rel_bert)
    code, err, _ = cli(monkeypatch, capsys, "train", cfg_path, "--out", tmp_path / "run")
    assert code == 130 and err.strip().splitlines() == [
        "error: interrupted (Ctrl-C); nothing was written"
    ], err
