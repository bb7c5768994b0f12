"""The Optuna study of a tune directory: stored in DIR/study.db (SQLite), so the same command
picks it up again after a kill.

    DIR/study.db        every trial: state, sampled values, per-epoch dev scores, final score
    DIR/.tune.lock      held while a tune runs on DIR (a second one is refused)

Resume: a trial still RUNNING in the database when the study is opened belonged to a process
that died (the lock proves no live process holds the study); it is marked FAIL and its values
are queued to be tried again, as a new trial. Only COMPLETE, PRUNED and FAIL trials that are
not retried count towards `--trials`.
"""

from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import optuna
from filelock import FileLock, Timeout
from optuna.trial import FrozenTrial, TrialState

from polyhead.config import RunConfig
from polyhead.engine.resume import config_diff
from polyhead.errors import PolyheadError

log = logging.getLogger("polyhead")
STUDY_NAME = "polyhead-tune"
# multivariate / group TPE are marked experimental; they are the variants the Optuna authors
# recommend for correlated (learning rate x epochs) and conditional (per-strategy) spaces.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)  # polyhead logs each trial itself


def storage_url(out: Path) -> str:
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


@contextmanager
def study_lock(out: Path):
    """One tune per directory: two would both take the other's RUNNING trials for dead."""
    lock = FileLock(str(Path(out) / ".tune.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise PolyheadError(f"{out}: another `polyhead tune` is running on this study") from None
    try:
        yield
    finally:
        lock.release()


def _fingerprint(cfg: RunConfig) -> dict:
    return json.loads(json.dumps(cfg.model_dump(), default=str))


def open_study(cfg: RunConfig, out: Path) -> optuna.Study:
    """Create the study, or load it and check it was made from this config; then queue again
    the trials a killed tune left running."""
    study = optuna.create_study(
        storage=storage_url(out),
        study_name=STUDY_NAME,
        direction="maximize",
        load_if_exists=True,
    )
    # Compared as a resume compares (both sides validated): a field polyhead added since the
    # study began gets its default on both sides and is no change.
    saved = study.user_attrs.get("config")
    if saved is None:
        study.set_user_attr("config", _fingerprint(cfg))
    elif changed := list(config_diff(saved, cfg)):
        raise PolyheadError(
            f"{out}: holds a study of another config (differs in: {', '.join(changed)}); "
            "re-run with the same config or use another --out"
        )
    # Seeded by the number of trials so far: a resumed study does not replay the first draws.
    study.sampler = optuna.samplers.TPESampler(
        seed=cfg.trainer.seed + len(study.trials),
        n_startup_trials=cfg.tune.startup_trials,
        multivariate=True,
        group=True,
    )
    study.pruner = _pruner(cfg)
    requeue_running(study)
    return study


def _pruner(cfg: RunConfig) -> optuna.pruners.BasePruner:
    if cfg.tune.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=cfg.tune.prune_startup, n_warmup_steps=cfg.tune.prune_after
    )


def requeue_running(study: optuna.Study) -> list[int]:
    """Trials left RUNNING by a dead process -> FAIL, their values queued as new trials."""
    dead = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in dead:
        retry(study, t.number, t.params)
    return [t.number for t in dead]


def retry(study: optuna.Study, number: int, params: dict) -> None:
    """Close trial `number` as FAIL and queue its sampled values to run again."""
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(params, user_attrs={"retry_of": number})
    log.warning("tune: trial %d did not finish; its values will be tried again", number)


def retried(trials: list[FrozenTrial]) -> set[int]:
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def counted(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count towards `--trials`: finished, and not queued to run again."""
    trials = study.get_trials(deepcopy=False)
    again = retried(trials)
    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [t for t in trials if t.state in done and t.number not in again]
