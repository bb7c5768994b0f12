"""Pruning: a Lightning callback that reports each epoch's dev score to the Optuna trial and
stops the run when the study's pruner (median: below the median of earlier trials at the same
epoch) says it is not worth finishing."""

from __future__ import annotations

import lightning.pytorch as pl
import optuna


class PruningCallback(pl.Callback):
    """Reports `pl_module.last_metrics["score"]` (the combined dev score of the epoch that was
    just validated) as the trial's intermediate value at step = epoch; raises
    `optuna.TrialPruned` out of `fit` when the pruner says so (the run stops there: no final
    scoring, no further checkpoint)."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial
        self.pruned_at: int | None = None

    def on_validation_end(self, trainer, pl_module) -> None:
        score = pl_module.last_metrics.get("score")
        if trainer.sanity_checking or score is None:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(score), step=epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            raise optuna.TrialPruned(f"epoch {epoch}: dev score {score:.4f} below the median")
