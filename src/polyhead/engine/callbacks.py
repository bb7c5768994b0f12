"""Callbacks: the plan's freeze schedule, per-epoch history, best artifact."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
import torch

from polyhead.engine.faults import loop_position
from polyhead.engine.rundir import json_line

log = logging.getLogger("polyhead")


class PlanCallback(pl.Callback):
    """Applies the training plan at every epoch start.

    The freeze state is a pure function of the epoch, so a resumed run rebuilds it exactly;
    every group that will ever train is already in the optimizer (see polyhead.plan).
    """

    def __init__(self, plan):
        self.plan = plan

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        opened = self.plan.apply(pl_module.model, epoch)
        if opened and epoch > 0:
            log.info("epoch %d: unfreezing %s", epoch, ", ".join(opened))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # Lightning puts the whole module in train mode after validation; frozen parts
        # run in eval mode so dropout only acts where weights learn.
        self.plan.set_frozen_eval(pl_module.model, trainer.current_epoch)


class HistoryCallback(pl.Callback):
    """Appends one JSON line per validation epoch: metrics, trainable groups, learning rates."""

    def __init__(self, path: Path, plan):
        self.path, self.plan = Path(path), plan
        self._lrs: dict[str, float] = {}

    def on_train_start(self, trainer, pl_module) -> None:
        # A run killed after writing an epoch's line but before its checkpoint redoes that
        # epoch on resume: drop lines the restored checkpoint has not reached.
        if not self.path.exists() or not trainer.is_global_zero:
            return
        lines = self.path.read_text().splitlines()
        kept = [ln for ln in lines if json.loads(ln)["epoch"] < trainer.current_epoch]
        if len(kept) < len(lines):
            self.path.write_text("".join(ln + "\n" for ln in kept))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # The LRs the epoch's steps ran with: by validation end the scheduler has moved on
        # to the next epoch's first step, where a group about to unfreeze already has an LR.
        opt = trainer.optimizers[0]
        self._lrs = {g.get("name", str(i)): g["lr"] for i, g in enumerate(opt.param_groups)}

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        record = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "metrics": pl_module.last_metrics,
            "trainable": self.plan.trainable(trainer.current_epoch),
            "lr": self._lrs,
            # e.g. the guard's `drift` and `grad_cosine` (polyhead.engine.guard, .cosine)
            **pl_module.history_extras,
        }
        with self.path.open("a") as f:
            f.write(json_line(record))


class BestArtifactCallback(pl.Callback):
    """Saves the model as a safetensors artifact whenever the monitored score improves, so
    the best model is restored from safetensors, never from a pickled checkpoint."""

    def __init__(self, path: Path, extra_fn, min_delta: float = 0.0, static_backbone: bool = False):
        self.path, self.extra_fn, self.min_delta = Path(path), extra_fn, min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None
        # Callables that may veto saving this epoch (the drift guard's max_drop): all must say yes.
        self.vetoes: list[Callable[[], bool]] = []
        # The plan never trains the backbone: after this process's first save, later saves
        # link its backbone/ instead of rewriting ~90 MB per improved epoch (issue 4).
        self.static_backbone = static_backbone
        self._saved_here = False

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        score = pl_module.last_metrics.get("score")
        if not all(allowed() for allowed in self.vetoes):
            return
        if score is None or (self.best is not None and score <= self.best + self.min_delta):
            return
        self.best, self.best_epoch = score, trainer.current_epoch
        reuse = self.path / "backbone" if self.static_backbone and self._saved_here else None
        pl_module.model.save(self.path, extra=self.extra_fn(), reuse_backbone=reuse)
        self._saved_here = True

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")


class TrainClock(pl.Callback):
    """Training seconds summed over a run's processes: a resumed run adds its own to those
    saved in the checkpoint it continues (time a kill lost after the last checkpoint is not
    counted, as that work is redone)."""

    def __init__(self):
        self.before = 0.0  # seconds of the processes this run continues
        self._start: float | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    @property
    def seconds(self) -> float:
        now = time.perf_counter() - self._start if self._start is not None else 0.0
        return self.before + now

    def state_dict(self) -> dict:
        return {"seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        self.before = float(state.get("seconds", 0.0))


class RngStateCallback(pl.Callback):
    """Keeps the random generators' state in every checkpoint and restores it on resume.

    Lightning checkpoints hold no RNG state, so a resumed run would shuffle its batches and
    draw its dropout masks unlike the run it continues. Tensors, tuples and a bool only, so
    the checkpoint still loads with weights_only=True.

    When it is restored matters. An end-of-epoch checkpoint is restored at load: in both runs
    what follows is the next epoch's start (a new DataLoader iterator draws its base seed from
    the global generator). A mid-epoch (Ctrl-C) checkpoint is put back again just before the
    first resumed batch: the resumed run starts the epoch anew (iterator, epoch-start hooks)
    where the uninterrupted run went straight on to the next batch, and those draws would
    shift every later dropout mask.
    """

    def __init__(self):
        self._trainer = None
        self._pending: dict | None = None  # a mid-epoch state for the first resumed batch

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict:
        state = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        if self._trainer is not None:
            state["mid_epoch"] = loop_position(self._trainer)["batches_done"] > 0
        return state

    def load_state_dict(self, state: dict) -> None:
        _set_rng_state(state)
        self._pending = state if state.get("mid_epoch") else None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending is not None:
            _set_rng_state(self._pending)
            self._pending = None


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
