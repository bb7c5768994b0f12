"""The Lightning Trainer of a run: callbacks in their order, loggers, precision, devices."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar

from polyhead.config import RunConfig
from polyhead.engine.callbacks import HistoryCallback, PlanCallback, RngStateCallback
from polyhead.engine.checkpoint_io import AtomicCheckpointIO
from polyhead.engine.faults import InterruptCallback
from polyhead.engine.rundir import CHECKPOINT
from polyhead.engine.trackers import TrackerCallback, build_loggers
from polyhead.errors import ConfigError

# `polyhead --verbose` sets this (inherited by DDP ranks and compare's worker processes).
VERBOSE_ENV = "POLYHEAD_VERBOSE"
# Small dev sets and short epochs are normal here, not a mistake to warn about.
warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")


def quiet_lightning() -> None:
    """Lightning adds its own stderr handler at import and logs INFO lines (accelerators,
    advertisements) there while they also reach the application's handler: every line twice.
    Keep one handler; its INFO lines only with --verbose."""
    lightning_log = logging.getLogger("lightning")
    for handler in list(lightning_log.handlers):
        if type(handler) is logging.StreamHandler:
            lightning_log.removeHandler(handler)
    if not lightning_log.handlers and not logging.getLogger().handlers:
        lightning_log.addHandler(logging.StreamHandler())  # no app handler: keep warnings
    verbose = os.environ.get(VERBOSE_ENV, "") not in ("", "0")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):  # each sets INFO
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


def precision(cfg: RunConfig) -> str:
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def check_trainer_settings(cfg: RunConfig) -> None:
    """Lightning's own parsing of trainer.accelerator, devices, precision and strategy, before
    anything is written: a Trainer is built and dropped (nothing runs, nothing is written),
    adding one setting at a time so that the error names the field that is wrong."""
    quiet_lightning()
    t = cfg.trainer
    steps = [
        ("accelerator", t.accelerator, {"accelerator": t.accelerator}),
        ("devices", t.devices, {"devices": t.devices, "num_nodes": t.num_nodes}),
        ("precision", t.precision, {"precision": precision(cfg)}),
        ("strategy", t.strategy, {"strategy": _strategy(t.strategy)}),
    ]
    settings: dict = {}
    for name, value, more in steps:
        settings.update(more)
        try:
            with warnings.catch_warnings():  # the real Trainer warns again, once
                warnings.simplefilter("ignore")
                pl.Trainer(
                    **settings,
                    logger=False,
                    enable_checkpointing=False,
                    enable_progress_bar=False,
                    enable_model_summary=False,
                    deterministic="warn",  # as the real one: global torch flags end the same
                )
        except Exception as e:  # noqa: BLE001 - Lightning raises several types for bad values
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ConfigError(f"trainer.{name}", f"got {value!r}; {first}") from None


def build_trainer(
    cfg: RunConfig, run_dir: Path, plan, best_cb, extra_callbacks=(), guards=()
) -> pl.Trainer:
    quiet_lightning()
    t = cfg.trainer
    callbacks = [
        RngStateCallback(),  # first: a mid-epoch resume puts the RNG back before other hooks
        *guards,  # before history and best artifact: they read the guards' verdict
        PlanCallback(plan),
        HistoryCallback(run_dir / "history.jsonl", plan),
        best_cb,
        # The latest epoch as checkpoints/last.ckpt, every epoch: with save_top_k=0 Lightning
        # writes `save_last` only at the end of training, leaving a killed run nothing to resume.
        ModelCheckpoint(
            dirpath=run_dir / CHECKPOINT.parent,
            filename=CHECKPOINT.stem,
            save_top_k=1,
            enable_version_counter=False,
        ),
        InterruptCallback(run_dir / CHECKPOINT, run_dir),
        TrackerCallback(cfg, plan, run_dir / "model"),
        *extra_callbacks,
    ]
    if t.patience:
        callbacks.append(
            EarlyStopping("val/score", mode="max", patience=t.patience, min_delta=t.min_delta)
        )
    if t.progress:
        callbacks.append(RichProgressBar(leave=True))
    return pl.Trainer(
        max_epochs=t.epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=_strategy(t.strategy),
        plugins=_checkpoint_io(t.strategy),
        precision=precision(cfg),
        gradient_clip_val=t.gradient_clip,
        gradient_clip_algorithm="norm",
        callbacks=callbacks,
        logger=build_loggers(cfg, run_dir),  # trainer.loggers: csv, tensorboard, mlflow, wandb
        log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic="warn",
        default_root_dir=run_dir,
    )


def _strategy(name: str):
    """Lightning's strategy by name, except plain `ddp`: tasks absent from a batch and frozen
    plan groups leave parameters without gradients, which DDP must be told to expect."""
    if name == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=True)
    return name


def _checkpoint_io(strategy: str) -> list:
    """Atomic checkpoint files, except where the strategy writes sharded checkpoints itself."""
    if any(k in strategy for k in ("fsdp", "deepspeed", "xla")):
        return []
    return [AtomicCheckpointIO()]
