"""Experiment trackers: the Lightning loggers `trainer.loggers` names, and what a run records in
them besides the per-epoch metrics Lightning logs itself (`train/*`, `val/*`): the flattened
config as hyperparameters, the training plan, and the saved artifact's path at the end.

CSV and TensorBoard write under the run directory. MLflow writes to `trainer.tracking_uri`,
else $MLFLOW_TRACKING_URI, else MLflow's own default (a SQLite file in the working directory
for MLflow 3). W&B runs offline (files under the run directory) unless WANDB_MODE=online.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.loggers import (
    CSVLogger,
    Logger,
    MLFlowLogger,
    TensorBoardLogger,
    WandbLogger,
)

from polyhead.config import RunConfig
from polyhead.engine.rundir import csv_version
from polyhead.plan import TrainingPlan, plan_json, plan_text

ARTIFACT_TAG = "polyhead.artifact"
RUN_DIR_TAG = "polyhead.run_dir"


def build_loggers(cfg: RunConfig, run_dir: Path) -> list[Logger]:
    """One Lightning logger per name in `trainer.loggers`, in that order."""
    t = cfg.trainer
    makers = {
        "csv": lambda: CSVLogger(run_dir, name="logs", version=csv_version(run_dir / "logs")),
        # No placeholder `hp_metric`: the real metrics are logged per epoch.
        "tensorboard": lambda: TensorBoardLogger(
            run_dir, name="logs", version="tb", default_hp_metric=False
        ),
        "mlflow": lambda: MLFlowLogger(
            experiment_name=t.experiment,
            run_name=run_dir.name,
            tracking_uri=mlflow_tracking_uri(t.tracking_uri),
            tags={RUN_DIR_TAG: str(run_dir.resolve())},
        ),
        "wandb": lambda: WandbLogger(
            project=t.experiment,
            name=run_dir.name,
            save_dir=run_dir,
            # Lightning's offline switch sets WANDB_MODE for the process; online only on request.
            offline=os.environ.get("WANDB_MODE", "offline") != "online",
        ),
    }
    return [makers[name]() for name in t.loggers]


def mlflow_tracking_uri(configured: str | None) -> str:
    """The config's URI, else MLflow's own choice (it reads $MLFLOW_TRACKING_URI first).
    Lightning's fallback would be a ./mlruns file store, which MLflow 3 no longer opens by
    default; MLflow's choice is what `mlflow ui` in the same folder shows."""
    if configured:
        return configured
    import mlflow  # optional dependency (`trainer.loggers` checked it is installed)

    return mlflow.get_tracking_uri()


class TrackerCallback(pl.Callback):
    """Config and plan into every logger at fit start; the artifact path at fit end."""

    def __init__(self, cfg: RunConfig, plan: TrainingPlan, artifact: Path):
        self.cfg, self.plan, self.artifact = cfg, plan, Path(artifact)

    def on_fit_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        params = self.cfg.model_dump(mode="json")  # each logger flattens it to a/b/c keys
        for logger in trainer.loggers:
            logger.log_hyperparams(params)
            _record_plan(logger, self.plan)

    def on_fit_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        path = str(self.artifact.resolve())
        for logger in trainer.loggers:
            _record_artifact(logger, path)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        # Lightning leaves a W&B run open (for notebooks); the next run in this process would
        # log into it. Closed here, after every callback's on_fit_end.
        _finish_wandb(trainer)

    def on_exception(self, trainer, pl_module, exception) -> None:
        _finish_wandb(trainer, exit_code=1)


def _finish_wandb(trainer, exit_code: int = 0) -> None:
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero:
            logger.experiment.finish(exit_code=exit_code)


def _record_plan(logger: Logger, plan: TrainingPlan) -> None:
    """The plan as the tracker shows text best; CSV runs have plan.txt beside their logs."""
    if isinstance(logger, MLFlowLogger):
        logger.experiment.log_text(logger.run_id, plan_text(plan), "plan.txt")
        logger.experiment.log_dict(logger.run_id, plan_json(plan), "plan.json")
    elif isinstance(logger, TensorBoardLogger):
        logger.experiment.add_text("plan", _code_block(plan_text(plan)))
    elif isinstance(logger, WandbLogger):
        # Not `plan`: the config's own plan section is there already.
        logger.experiment.config.update({"training_plan": plan_json(plan)})


def _record_artifact(logger: Logger, path: str) -> None:
    if isinstance(logger, MLFlowLogger):
        logger.experiment.set_tag(logger.run_id, ARTIFACT_TAG, path)
    elif isinstance(logger, TensorBoardLogger):
        logger.experiment.add_text("artifact", path)
    elif isinstance(logger, WandbLogger):
        logger.experiment.summary[ARTIFACT_TAG] = path


def _code_block(text: str) -> str:
    # TensorBoard renders text as markdown: indent to keep the plan's columns.
    return "\n".join("    " + line for line in text.splitlines())
