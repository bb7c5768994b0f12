"""Per-group learning-rate multipliers for torch's LambdaLR.

A group that starts training at epoch e gets 0 until step e * steps_per_epoch, then its own
linear warmup over `warmup_ratio` of the steps it has left, then decays (linear or cosine)
to 0 at the last step of the run, or stays constant. Late groups warm up on their own
because a freshly unfrozen block meeting the full LR is what knocks a fine-tuned encoder off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SHAPES = ("linear", "cosine", "constant")


@dataclass
class GroupSchedule:
    """Multiplier of one group's peak LR at a global step (0-based, one per optimizer step).

    A plain callable object rather than a closure, so LambdaLR's state_dict records it.
    """

    start: int | None  # first step the group trains; None = never
    total: int  # steps in the run
    warmup: int  # warmup steps counted from `start`
    shape: str = "linear"

    @classmethod
    def for_group(
        cls, start_epoch: int | None, epochs: int, steps_per_epoch: int, ratio: float, shape: str
    ) -> GroupSchedule:
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        if shape not in SHAPES:
            raise ValueError(f"schedule must be one of {', '.join(SHAPES)}, got {shape!r}")
        total = epochs * steps_per_epoch
        if start_epoch is None:
            return cls(None, total, 0, shape)
        start = start_epoch * steps_per_epoch
        return cls(start, total, int(ratio * (total - start)), shape)

    def __call__(self, step: int) -> float:
        if self.start is None or step < self.start or step >= self.total:
            return 0.0
        local = step - self.start
        if local < self.warmup:
            return (local + 1) / self.warmup  # reaches 1 on the last warmup step
        if self.shape == "constant":
            return 1.0
        progress = (local - self.warmup) / (self.total - self.start - self.warmup)  # [0, 1)
        if self.shape == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress
