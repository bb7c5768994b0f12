"""Surviving faults: exact resume, Ctrl-C, non-finite losses, and the rank of this process.

Resume is exact (same batches in the same order, same final metrics) because the training
order is a pure function of (seed, epoch): `ReplaySampler` draws the permutation the way
torch's DistributedSampler does, so one process and N processes see the same global batches,
and it can skip the batches an interrupted epoch already trained on.

Checkpoints: Lightning's ModelCheckpoint writes `checkpoints/last.ckpt` at the end of every
epoch; Ctrl-C (SIGINT) additionally writes one mid-epoch. A run killed mid-epoch (SIGKILL,
power loss) resumes from the last end-of-epoch checkpoint and redoes that epoch.
"""

from __future__ import annotations

import logging
import os
import signal
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DistributedSampler

from polyhead.errors import PolyheadError

log = logging.getLogger("polyhead")
# Lightning cannot see that the datamodule restores the sampler's place (loop_position).
warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before")
# Under DDP the logged dev metrics are computed from every process's gathered predictions,
# identical on all ranks, so Lightning's advice to sync them across devices does not apply.
warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed")

# Rank variables set by Lightning's launchers, torchrun and SLURM, in that order of preference.
_RANK_VARS = ("RANK", "SLURM_PROCID", "LOCAL_RANK")


def env_rank() -> int:
    """This process's global rank before torch.distributed is up (0 when not distributed)."""
    for var in _RANK_VARS:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def is_main_process() -> bool:
    return env_rank() == 0


class Interrupted(PolyheadError):
    """Training stopped by the user (Ctrl-C) after saving a resumable checkpoint."""

    exit_code = 130  # the shell convention for "terminated by SIGINT"


# ---- exact resume --------------------------------------------------------------------------


class ReplaySampler(DistributedSampler):
    """Shuffled order from (seed, epoch) only, sharded over `num_replicas` ranks.

    A DistributedSampler subclass, so Lightning leaves it in place under DDP instead of
    wrapping it; with num_replicas=1 it is the single-process order of the same global batches.
    `skip` drops the first samples of the next iteration (the part of an epoch that a
    resumed run already trained on).
    """

    def __init__(self, dataset, seed: int, num_replicas: int = 1, rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.skip = 0

    def __iter__(self):
        indices = list(super().__iter__())
        skip, self.skip = self.skip, 0
        return iter(indices[skip:])


def loop_position(trainer) -> dict:
    """Where the next training batch comes from: {"epoch", "batches_done"} of that epoch.

    At the end of an epoch that is the next epoch with nothing done; mid-epoch (a Ctrl-C
    checkpoint) it is this epoch with the batches trained so far.
    """
    done = trainer.fit_loop.epoch_loop.batch_idx + 1
    if done >= trainer.num_training_batches:
        return {"epoch": trainer.current_epoch + 1, "batches_done": 0}
    return {"epoch": trainer.current_epoch, "batches_done": done}


# ---- Ctrl-C --------------------------------------------------------------------------------


class InterruptCallback(pl.Callback):
    """First Ctrl-C: finish the current batch, save a mid-epoch checkpoint, raise Interrupted.

    A second Ctrl-C gets Python's default behaviour (KeyboardInterrupt: stop now, nothing
    saved), on which Lightning ends the process with exit code 1; `aborted` records it so
    that train() can raise Interrupted instead (one line, exit 130). Under DDP the ranks agree
    on the step to stop at (one all-reduce of a flag per step), so they all reach the
    checkpoint barrier together.
    """

    def __init__(self, checkpoint: Path, run_dir: Path):
        self.checkpoint, self.run_dir = Path(checkpoint), Path(run_dir)
        self.requested = False
        self.aborted = False  # a KeyboardInterrupt ended fit
        self._previous = None

    def _on_sigint(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
        log.warning("Ctrl-C: stopping after this batch and saving a checkpoint (again: abort)")

    def on_train_start(self, trainer, pl_module) -> None:
        # Not on_fit_start: Lightning saves the process's handlers after that hook and puts
        # them back at teardown, which would leave this one installed after training.
        try:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread (e.g. a notebook worker): Lightning's default
            self._previous = None

    def _restore(self, *args, **kwargs) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    # Lightning skips `teardown` when fit raises: restore on every way out.
    on_fit_end = teardown = _restore

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.aborted = isinstance(exception, KeyboardInterrupt)
        self._restore()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        stop = trainer.strategy.reduce_boolean_decision(self.requested, all=False)
        if not stop:
            return
        if pl_module.cfg.trainer.on_nonfinite == "stop":
            pl_module.nonfinite.check(pl_module)  # never save non-finite weights
        trainer.save_checkpoint(self.checkpoint)
        raise Interrupted(
            f"interrupted at epoch {trainer.current_epoch} step {trainer.global_step}; "
            f"saved {self.checkpoint}. Resume with: polyhead train CONFIG --resume {self.run_dir}"
        )


# ---- non-finite loss -----------------------------------------------------------------------


class NonfiniteWatch:
    """`trainer.on_nonfinite=stop` without a host read every step: the first non-finite
    step (epoch, step) and the tasks non-finite there are kept on the device; `check` reads
    them (one sync) on logging steps, at the last batch of every epoch (before validation
    and the checkpoints) and before a Ctrl-C checkpoint, so non-finite weights are never saved.
    """

    def __init__(self):
        self.first: torch.Tensor | None = None  # (epoch, step); -1 while all finite
        self.tasks: dict[str, torch.Tensor] = {}

    def record(self, module, out) -> None:
        if self.first is None:
            self.first = torch.full((2,), -1, dtype=torch.long, device=out.loss.device)
        new = ~torch.isfinite(out.loss.detach()) & (self.first[1] < 0)
        # Python scalars, not a tensor of them: a host-to-device copy would wait for the GPU
        epoch = torch.where(new, module.current_epoch, self.first[0])
        self.first = torch.stack([epoch, torch.where(new, module.global_step, self.first[1])])
        for task, loss in out.losses.items():
            bad = new & ~torch.isfinite(loss.detach())
            self.tasks[task] = bad | self.tasks[task] if task in self.tasks else bad

    def check(self, module) -> None:
        """Raise naming the first non-finite step (agreed across processes under DDP)."""
        if self.first is None:
            return
        epoch, step = self.first.tolist()
        if not module.trainer.strategy.reduce_boolean_decision(step >= 0, all=False):
            return
        tasks = [t for t, bad in self.tasks.items() if bool(bad)]
        where = "on another rank" if step < 0 else ", ".join(tasks)
        raise PolyheadError(
            f"non-finite loss at epoch {max(epoch, 0)} step {max(step, 0)} (task {where}); "
            "lower the learning rate, check the data, or set trainer.on_nonfinite=skip to "
            "drop such batches"
        )


def nonfinite_skip(module, out) -> bool:
    """`trainer.on_nonfinite=skip`: True (logged) when this batch's loss is not finite, and
    the caller returns `skip_loss(module)`. Read on the host every step: the verdict must be
    known before the update. Shared across ranks, so under DDP every rank skips together
    instead of one waiting forever for the others' gradients.
    """
    bad = not bool(torch.isfinite(out.loss))
    bad = module.trainer.strategy.reduce_boolean_decision(bad, all=False)
    if not bad:
        return False
    tasks = [t for t, v in out.losses.items() if not torch.isfinite(v)]
    where = (
        f"non-finite loss at epoch {module.current_epoch} step {module.global_step} "
        f"(task {', '.join(tasks) or 'on another rank'})"
    )
    module.skipped_nonfinite += 1
    log.warning("%s: batch skipped (trainer.on_nonfinite=skip)", where)
    return True


def skip_loss(module) -> torch.Tensor:
    """A loss of exactly 0 that reaches every trainable parameter, standing in for a skipped
    batch: Lightning refuses a `None` step under DDP, and every rank must run backward for the
    gradient all-reduce. `drop_skipped_grads` then removes the (zero) gradients, so the
    optimizer leaves weights and moments untouched, as if the batch never happened."""
    module._skip_update = True
    params = [p for p in module.parameters() if p.requires_grad]
    return torch.stack([p.sum() * 0.0 for p in params]).sum()


def drop_skipped_grads(module) -> bool:
    """Call from on_before_optimizer_step: True (and no gradients left) for a skipped batch."""
    if not getattr(module, "_skip_update", False):
        return False
    module._skip_update = False
    for p in module.parameters():
        p.grad = None  # AdamW skips parameters without a gradient
    return True
