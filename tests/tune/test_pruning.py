"""The pruning callback on a deterministic objective: each epoch's dev score reaches the trial,
and a trial below the median of earlier trials at the same epoch is stopped."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from polyhead.tune.pruning import PruningCallback
from polyhead.tune.study import _pruner


def run_epochs(study: optuna.Study, scores: list[float]) -> tuple[optuna.Trial, int | None]:
    """Feed `scores` epoch by epoch through the callback as Lightning would; tell the study
    how the trial ended; return the trial and the epoch it was pruned at (None: finished)."""
    trial = study.ask()
    callback = PruningCallback(trial)
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=0)
    module = SimpleNamespace(last_metrics={})
    try:
        for epoch, score in enumerate(scores):
            trainer.current_epoch, module.last_metrics = epoch, {"score": score}
            callback.on_validation_end(trainer, module)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        return trial, callback.pruned_at
    study.tell(trial, scores[-1])
    return trial, None


@pytest.fixture
def study(tune_cfg):
    """The pruner a config with `prune_startup: 2, prune_after: 1` gets."""
    pruner = _pruner(tune_cfg(prune_startup=2, prune_after=1))
    return optuna.create_study(direction="maximize", pruner=pruner)


def test_below_median_trial_is_pruned_after_the_warmup_epochs(study):
    assert run_epochs(study, [0.50, 0.60, 0.70])[1] is None
    assert run_epochs(study, [0.60, 0.70, 0.80])[1] is None
    trial, pruned_at = run_epochs(study, [0.10, 0.20, 0.30])
    # epoch 0 is the warmup (prune_after: 1); at epoch 1, 0.20 < median(0.60, 0.70)
    assert pruned_at == 1
    assert study.trials[trial.number].intermediate_values == {0: 0.10, 1: 0.20}
    assert study.trials[trial.number].state == TrialState.PRUNED


def test_trial_at_or_above_the_median_runs_to_the_end(study):
    run_epochs(study, [0.50, 0.60, 0.70])
    run_epochs(study, [0.60, 0.70, 0.80])
    trial, pruned_at = run_epochs(study, [0.55, 0.66, 0.90])
    assert pruned_at is None
    assert study.trials[trial.number].intermediate_values == {0: 0.55, 1: 0.66, 2: 0.90}


def test_no_pruning_before_enough_trials_have_finished(study):
    run_epochs(study, [0.50, 0.60, 0.70])  # one finished trial; prune_startup is 2
    assert run_epochs(study, [0.10, 0.10, 0.10])[1] is None


def test_pruner_none_only_records(tune_cfg):
    study = optuna.create_study(direction="maximize", pruner=_pruner(tune_cfg(pruner="none")))
    for scores in ([0.5, 0.6], [0.6, 0.7], [0.7, 0.8]):
        run_epochs(study, scores)
    trial, pruned_at = run_epochs(study, [0.0, 0.0])
    assert pruned_at is None and study.trials[trial.number].intermediate_values == {0: 0, 1: 0}
