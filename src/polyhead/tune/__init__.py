"""Hyperparameter search with Optuna: TPE sampling, median pruning from each epoch's dev
score, the study in SQLite so a killed tune resumes. See `runner.run_tune`."""

from polyhead.tune.runner import TuneResult, run_tune

__all__ = ["TuneResult", "run_tune"]
