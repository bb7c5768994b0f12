"""run_tune(): trials until the study holds `trials` finished ones, each a normal run directory.

    DIR/study.db              the Optuna study (polyhead.tune.study)
    DIR/trials/<n>/           trial n's run directory (config.yaml, history.jsonl, model/, ...)
    DIR/best_config.yaml      the best trial's config, ready for `polyhead train`
    DIR/report.md|html, DIR/trials.csv, DIR/plots/   (polyhead.tune.report)

Each trial samples the space (polyhead.tune.space), trains with `engine.train.train` in this
process and is scored by the best epoch's combined dev score; a PruningCallback reports every
epoch's dev score and stops trials the pruner rejects. A trial the config refuses (a
PolyheadError, e.g. a strategy that does not fit) is a failed trial and the tune goes on;
any other exception is a bug and stops the tune.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from polyhead.config import RunConfig
from polyhead.engine.faults import Interrupted
from polyhead.engine.train import train
from polyhead.errors import ConfigError, PolyheadError
from polyhead.tune.pruning import PruningCallback
from polyhead.tune.report import TuneReport, write_tune_report
from polyhead.tune.space import apply, check_space, layer_count, suggest
from polyhead.tune.study import counted, open_study, retry, storage_url, study_lock

log = logging.getLogger("polyhead")


@dataclass
class TuneResult:
    out: Path
    study: optuna.Study
    report: TuneReport
    ran: int  # trials started by this call
    timed_out: bool

    @property
    def storage(self) -> str:
        return storage_url(self.out)

    @property
    def dashboard(self) -> str:
        """The command that opens the study in Optuna's dashboard (pip install optuna-dashboard)."""
        return f"optuna-dashboard {self.storage}"


def run_tune(
    cfg: RunConfig,
    out,
    trials: int,
    timeout: float | None = None,
    extra_callbacks=(),
    on_trial: Callable[[FrozenTrial], None] | None = None,
) -> TuneResult:
    """Run trials until `trials` have finished in DIR's study (a re-run resumes), or until
    `timeout` seconds have passed (checked between trials), then write the report."""
    out = Path(out)
    if str(cfg.trainer.devices) != "1" or cfg.trainer.num_nodes != 1:
        raise ConfigError("trainer.devices", "tune trains each trial in one process: set 1")
    n_layers = layer_count(cfg)
    check_space(cfg, n_layers)
    out.mkdir(parents=True, exist_ok=True)
    start, ran, timed_out = time.monotonic(), 0, False
    with study_lock(out):
        study = open_study(cfg, out)
        while len(counted(study)) < trials:
            if timeout is not None and time.monotonic() - start >= timeout:
                timed_out = True
                log.warning("tune: --timeout reached after %d trials in this call", ran)
                break
            trial = study.ask()
            ran += 1
            run_trial(study, trial, cfg, out, n_layers, extra_callbacks)
            if on_trial:
                on_trial(study.trials[trial.number])
        report = write_tune_report(study, out, limit=trials)
    return TuneResult(out, study, report, ran, timed_out)


def run_trial(study, trial: optuna.Trial, cfg: RunConfig, out: Path, n_layers: int, callbacks):
    """Sample, train and tell the study how trial `trial` ended."""
    run_dir = out / "trials" / str(trial.number)
    if run_dir.exists():  # left by a study.db that was deleted: not this trial's
        shutil.rmtree(run_dir)
    params = suggest(trial, cfg, n_layers)
    pruning = PruningCallback(trial)
    log.info("tune: trial %d %s", trial.number, _short(params))
    try:
        result = train(apply(cfg, params), run_dir, extra_callbacks=[*callbacks, pruning])
    except optuna.TrialPruned as e:
        trial.set_user_attr("pruned", str(e))
        study.tell(trial, state=TrialState.PRUNED)
        log.info("tune: trial %d pruned (%s)", trial.number, e)
        return
    except (KeyboardInterrupt, SystemExit, Interrupted):
        # Ctrl-C: polyhead's handler raises Interrupted, a bare KeyboardInterrupt inside fit
        # makes Lightning call exit(1). Either way the trial runs again next time.
        retry(study, trial.number, params)
        raise Interrupted(
            f"tune interrupted in trial {trial.number}; re-run the same command to resume "
            "(the trial is run again)"
        ) from None
    except PolyheadError as e:  # this point of the space is refused: a failed trial
        trial.set_user_attr("error", str(e))
        study.tell(trial, state=TrialState.FAIL)
        log.warning("tune: trial %d failed: %s", trial.number, e)
        return
    except Exception as e:
        trial.set_user_attr("error", f"{type(e).__name__}: {e}")
        study.tell(trial, state=TrialState.FAIL)
        raise
    finally:
        _release_memory()
    _finish(study, trial, result)


def _finish(study, trial: optuna.Trial, result) -> None:
    dev, test = result.metrics.get("dev") or {}, result.metrics.get("test") or {}
    score = dev.get("score")
    trial.set_user_attr("best_epoch", result.best_epoch)
    trial.set_user_attr("train_seconds", round(result.train_seconds, 2))
    if test.get("score") is not None:
        trial.set_user_attr("test_score", test["score"])
    if score is None:  # NaN metrics are stored as null
        trial.set_user_attr("error", "no dev score")
        study.tell(trial, state=TrialState.FAIL)
        return
    study.tell(trial, float(score))
    log.info("tune: trial %d dev score %.4f", trial.number, score)


def _short(params: dict) -> str:
    return ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _release_memory() -> None:
    """On a GPU, each trial's model and optimizer go before the next is built (Lightning's
    reference cycles would hold them until the next collection)."""
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()
