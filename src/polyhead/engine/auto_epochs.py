"""`trainer.epochs: auto`: the number of epochs from the training set's size.

A fixed epoch count under-trains small sets: 2,000 MASSIVE utterances at batch 32 are 63
steps an epoch, and the then-default lrs went from slot F1 0.433 at 3 epochs to 0.622 at 10
(benchmarks/epochs.py, BENCHMARKS.md). `auto` asks for about `trainer.auto_steps` (600)
optimizer steps, never fewer than 3 epochs (a large set keeps the old default: full MASSIVE's
360 steps an epoch give 3) nor more than 20 (early stopping ends a run that stops improving).
No library decides epochs from data size, so this small rule is ours.
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger("polyhead")

AUTO_MIN, AUTO_MAX = 3, 20


def auto_epochs(steps_per_epoch: int, target_steps: int) -> int:
    """Epochs for about `target_steps` optimizer steps, clamped to [AUTO_MIN, AUTO_MAX]."""
    wanted = math.ceil(target_steps / max(1, steps_per_epoch))
    return min(AUTO_MAX, max(AUTO_MIN, wanted))


def resolve_epochs(cfg, data) -> int:
    """Set `cfg.trainer.epochs` to a number once the data is counted (an explicit number
    stays). The run's config.yaml then records the number, so it retrains the same run."""
    t = cfg.trainer
    if t.epochs != "auto":
        return t.epochs
    steps = data.steps_per_epoch()
    t.epochs = auto_epochs(steps, t.auto_steps)
    log.info(
        "trainer.epochs: auto -> %d (%d optimizer steps an epoch, about %d wanted; %d to %d)",
        t.epochs, steps, t.auto_steps, AUTO_MIN, AUTO_MAX,
    )  # fmt: skip
    return t.epochs
