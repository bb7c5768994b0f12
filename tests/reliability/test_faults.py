"""Faults: a real SIGKILL of `polyhead train`, Ctrl-C, a crash while writing a checkpoint,
and non-finite losses. A killed or interrupted run resumes to the same result as the same
run left alone.

Tolerance: none for a single process. Every dropout is off, the training order is a function
of (seed, epoch) (ReplaySampler) and the checkpoint holds the RNG state, so the resumed run
repeats the reference run's arithmetic; on CPU its metrics and history match exactly.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from polyhead.cli.app import error_line
from polyhead.engine.checkpoint_io import AtomicCheckpointIO
from polyhead.engine.faults import Interrupted
from polyhead.engine.train import train
from polyhead.errors import PolyheadError
from polyhead.model.multitask import MultiTaskModel
from tests.reliability.conftest import (
    EPOCHS,
    STEPS_PER_EPOCH,
    config,
    history,
    write_config,
)

RUNNER = Path(__file__).with_name("fault_runner.py")


class SigintAtStep(pl.Callback):
    """Ctrl-C delivered to this process after a given step (the handler is polyhead's)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def assert_run_dir_whole(run_dir: Path) -> None:
    """What a killed run leaves: a loadable checkpoint and artifact, no half-written file."""
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    torch.load(ckpt, weights_only=True, map_location="cpu")  # raises on a truncated file
    MultiTaskModel.load(run_dir / "model")
    assert not list(run_dir.glob("checkpoints/.*tmp-*")), "temporary checkpoint left behind"


def assert_same_run(run_dir: Path, reference) -> None:
    ref_dir, ref = reference
    assert history(run_dir) == history(ref_dir)  # every epoch's dev metrics, trainable groups, LRs
    resumed = MultiTaskModel.load(run_dir / "model").state_dict()
    for name, tensor in MultiTaskModel.load(ref_dir / "model").state_dict().items():
        assert torch.equal(resumed[name], tensor), name


def test_sigkill_then_ctrl_c_then_resume_equals_the_uninterrupted_run(
    rel_bert, tmp_path, reference_run
):
    # A real SIGKILL of `polyhead train` at a random step of epoch 1 (after epoch 0's
    # checkpoint); KILL_STEP=n reproduces a given step.
    kill_step = int(
        os.environ.get("KILL_STEP")
        or random.randrange(STEPS_PER_EPOCH + 1, 2 * STEPS_PER_EPOCH + 1)
    )
    run_dir, cfg_path = tmp_path / "run", write_config(tmp_path, rel_bert)
    env = {**os.environ, "FAULT_STEP": str(kill_step), "FAULT_SIGNAL": "SIGKILL"}
    cmd = [sys.executable, str(RUNNER), "train", str(cfg_path), "--out", str(run_dir)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, (kill_step, proc.stderr[-2000:])
    assert_run_dir_whole(run_dir)
    assert [h["epoch"] for h in history(run_dir)] == [0], f"killed at step {kill_step}"

    # Resume; Ctrl-C in the middle of the last epoch saves a mid-epoch checkpoint and stops.
    sigint_step = 2 * STEPS_PER_EPOCH + 2
    with pytest.raises(Interrupted) as info:
        train(config(rel_bert), run_dir, resume=True, extra_callbacks=[SigintAtStep(sigint_step)])
    line, code = error_line(info.value)
    assert code == 130 and f"--resume {run_dir}" in line and "\n" not in line
    # Python's own Ctrl-C handling is back once training has stopped.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] == 2 and state["global_step"] == sigint_step + 1

    # Resume again: the rest of epoch 2 trains on exactly the batches it had left.
    result = train(config(rel_bert), run_dir, resume=True)
    assert result.metrics["dev"] == reference_run[1].metrics["dev"], f"killed at {kill_step}"
    assert_same_run(run_dir, reference_run)
    assert len(history(run_dir)) == EPOCHS


def test_ctrl_c_in_the_cli_exits_130_with_how_to_resume(rel_bert, tmp_path, monkeypatch, capsys):
    """`polyhead train` (its main(), in this process) stopped by Ctrl-C after step 2."""
    from polyhead.cli import main
    from polyhead.engine import train as engine_train

    make_trainer = engine_train.build_trainer

    def with_sigint(*args, **kwargs):
        trainer = make_trainer(*args, **kwargs)
        trainer.callbacks.append(SigintAtStep(2))
        return trainer

    monkeypatch.setattr(engine_train, "build_trainer", with_sigint)
    run_dir, cfg_path = tmp_path / "run", write_config(tmp_path, rel_bert, epochs=1)
    monkeypatch.setattr(sys, "argv", ["polyhead", "train", str(cfg_path), "--out", str(run_dir)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 130
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: interrupted at epoch 0 step 3") and "--resume" in last
    torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def test_a_crash_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"step": 1}, path)

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(OSError):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


class PoisonAt(pl.Callback):
    """Makes one step's loss NaN by poisoning an input embedding the batch uses."""

    def __init__(self, step: int):
        self.step, self.saved = step, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            emb = pl_module.model.backbone.get_input_embeddings().weight
            token = int(batch["input_ids"][0, 1])
            self.saved = (token, emb.data[token].clone())
            emb.data[token] = float("nan")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.saved is not None:
            token, row = self.saved
            pl_module.model.backbone.get_input_embeddings().weight.data[token] = row
            self.saved = None


def _small(backbone, **trainer):
    return config(backbone, epochs=1, **trainer).model_copy(
        update={"plan": config(backbone).plan.model_copy(update={"strategy": "full"})}
    )


def test_nonfinite_loss_stops_naming_step_and_task(rel_bert, tmp_path):
    with pytest.raises(PolyheadError) as info:
        train(_small(rel_bert), tmp_path / "run", extra_callbacks=[PoisonAt(3)])
    message = str(info.value)
    assert "non-finite loss at epoch 0 step 3" in message
    assert "intent" in message and "slots" in message and "on_nonfinite=skip" in message


def test_nonfinite_loss_skipped_when_configured(rel_bert, tmp_path, caplog):
    result = train(
        _small(rel_bert, on_nonfinite="skip"), tmp_path / "run", extra_callbacks=[PoisonAt(3)]
    )
    assert result.metrics["skipped_nonfinite_batches"] == 1
    weights = MultiTaskModel.load(tmp_path / "run" / "model").state_dict().values()
    assert all(torch.isfinite(w).all() for w in weights)
    assert any("step 3" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)
