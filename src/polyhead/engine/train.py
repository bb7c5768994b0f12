"""train(): config in, run directory out. Everything a run needs to be understood later is
written next to the model: the config, the plan, per-epoch history, logs and final metrics.

    RUN/config.yaml      the validated config (with overrides applied)
    RUN/plan.txt|json    the training plan, as printed before training
    RUN/history.jsonl    one line per epoch: dev metrics, trainable groups, learning rates
    RUN/model/           the best artifact (safetensors + JSON)
    RUN/metrics.json     final dev and test metrics per task, from the best model
    RUN/checkpoints/     last.ckpt for --resume
    RUN/logs/            CSV and TensorBoard logs
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from polyhead.config import RunConfig
from polyhead.engine.callbacks import (
    BestArtifactCallback,
    HistoryCallback,
    PlanCallback,
    RngStateCallback,
)
from polyhead.engine.checkpoint_io import AtomicCheckpointIO, remove_stale_temporaries
from polyhead.engine.datamodule import MultiTaskDataModule
from polyhead.engine.faults import InterruptCallback, is_main_process
from polyhead.engine.guard import build_guards, guard_metrics
from polyhead.engine.module import PolyheadModule
from polyhead.errors import PolyheadError
from polyhead.features.source import backbone_cache
from polyhead.model.artifact import continue_from, is_artifact
from polyhead.model.backbone import load_tokenizer, resolve_backbone
from polyhead.model.levers import balanced_class_weights, reinit_top_layers
from polyhead.model.multitask import MultiTaskModel
from polyhead.model.spec import ModelSpec, TaskSpec
from polyhead.plan import TrainingPlan, build_plan

log = logging.getLogger("polyhead")
# Frozen parts run in eval mode on purpose (dropout only where weights learn); Lightning warns.
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    plan: TrainingPlan
    best_epoch: int | None
    train_seconds: float


def model_spec(cfg: RunConfig, label_sets: dict, class_weights: dict | None = None) -> ModelSpec:
    m = cfg.model
    tasks = [
        TaskSpec(
            name=name,
            kind=t.kind,
            labels=list(label_sets[name].names),
            dropout=t.dropout,
            hidden_size=t.hidden_size,
            loss_weight=t.loss_weight,
            crf=t.crf,
            label_smoothing=t.label_smoothing,
            class_weights=(class_weights or {}).get(name),
        )
        for name, t in cfg.tasks.items()
    ]
    return ModelSpec(
        backbone=m.backbone,
        pooling=m.pooling,
        normalize=m.normalize,
        max_length=m.max_length,
        tasks=tasks,
        hidden_dropout=m.hidden_dropout,
        attention_dropout=m.attention_dropout,
        trust_remote_code=m.trust_remote_code,
        layers=cfg.features.layers,
    )


def prepare(cfg: RunConfig):
    """Data, model and plan: everything `polyhead plan` shows and `train` runs."""
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    source = resolve_backbone(cfg.model.backbone)
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(source).model_type
    tokenizer = load_tokenizer(source, model_type, cfg.model.trust_remote_code)
    data = MultiTaskDataModule(cfg, tokenizer)
    model = MultiTaskModel(model_spec(cfg, data.label_sets, _class_weights(cfg, data)))
    if is_artifact(cfg.model.backbone):  # continue from a trained model: backbone and heads
        continue_from(model, cfg.model.backbone)
    reinit_top_layers(model.backbone, cfg.model.reinit_top)
    plan = build_plan(model, cfg.plan, cfg.trainer.epochs)
    return data, model, plan


def _class_weights(cfg: RunConfig, data) -> dict[str, list[float]]:
    """`class_weights: balanced` tasks -> weight per label id, from their training labels."""
    out = {}
    for src in data.sources:
        for task in src.tasks:
            if cfg.tasks[task].class_weights != "balanced":
                continue
            train = src.splits["train"]
            seen = [ex.label for ex in train] if data.kinds[task] == "sentence" else []
            seen = seen or [t for ex in train for t in ex.tags or []]
            out[task] = balanced_class_weights(data.label_sets[task].names, seen)
    return out


def _precision(cfg: RunConfig) -> str:
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def _write_setup(run_dir: Path, cfg: RunConfig, plan: TrainingPlan) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    (run_dir / "plan.txt").write_text(plan.render_text())
    (run_dir / "plan.json").write_text(json.dumps(plan.to_json(), indent=2))


def _csv_version(logs: Path) -> str:
    """logs/metrics.csv, or logs/resume-N/metrics.csv for a resumed run: CSVLogger deletes
    an existing metrics.csv, which would lose the epochs logged before the resume."""
    if not (logs / "metrics.csv").exists():
        return ""
    n = 1
    while (logs / f"resume-{n}").exists():
        n += 1
    return f"resume-{n}"


def _trainer(
    cfg: RunConfig, run_dir: Path, plan, best_cb, extra_callbacks=(), guards=()
) -> pl.Trainer:
    t = cfg.trainer
    callbacks = [
        *guards,  # before history and best artifact: they read the guards' verdict
        PlanCallback(plan),
        RngStateCallback(),
        HistoryCallback(run_dir / "history.jsonl", plan),
        best_cb,
        # The latest epoch as checkpoints/last.ckpt, every epoch: with save_top_k=0 Lightning
        # writes `save_last` only at the end of training, leaving a killed run nothing to resume.
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="last",
            save_top_k=1,
            enable_version_counter=False,
        ),
        InterruptCallback(run_dir / "checkpoints" / "last.ckpt", run_dir),
        *extra_callbacks,
    ]
    if t.patience:
        callbacks.append(
            EarlyStopping("val/score", mode="max", patience=t.patience, min_delta=t.min_delta)
        )
    if t.progress:
        callbacks.append(RichProgressBar(leave=True))
    loggers = [
        CSVLogger(run_dir, name="logs", version=_csv_version(run_dir / "logs")),
        TensorBoardLogger(run_dir, name="logs", version="tb"),
    ]
    return pl.Trainer(
        max_epochs=t.epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=_strategy(t.strategy),
        plugins=_checkpoint_io(t.strategy),
        precision=_precision(cfg),
        gradient_clip_val=t.gradient_clip,
        gradient_clip_algorithm="norm",
        callbacks=callbacks,
        logger=loggers,
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


def prepare_run_dir(run_dir, resume: bool = False) -> Path:
    """Refuse to overwrite an earlier run; fail early (before training) if not writable.

    Only the main process checks: the other ranks of a DDP run start while it already writes.
    """
    run_dir = Path(run_dir)
    if not is_main_process():
        return run_dir
    if resume:
        _resume_checkpoint(run_dir)
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        raise PolyheadError(f"{run_dir}: already holds a run; use --resume or another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise PolyheadError(f"{run_dir}: output directory is not writable ({e.strerror})") from None
    return run_dir


def train(
    cfg: RunConfig, run_dir, resume: bool = False, extra_callbacks=(), show_plan=None
) -> RunResult:
    """Train per the plan; `show_plan` is a rich Console to print the plan on before training."""
    run_dir = Path(run_dir)
    data, model, plan = prepare(cfg)
    if show_plan is not None and is_main_process():
        show_plan.print(plan.table())
    if not plan.trains_anything:  # frozen: features once + external classifiers, no step
        from polyhead.features.frozen import train_frozen

        result = train_frozen(cfg, run_dir, data, model, plan)
        _write_run_report(run_dir, data)
        return result
    if not data.has_split("dev"):
        raise PolyheadError("no dev data: set data.dev, a dev split, or data.dev_fraction")
    ckpt = _resume_checkpoint(run_dir) if resume else None
    if is_main_process():
        if resume:
            remove_stale_temporaries(run_dir)  # what a kill left half-written
        _write_setup(run_dir, cfg, plan)
    best_cb = BestArtifactCallback(
        run_dir / "model",
        lambda: {"plan": plan.to_json()},
        cfg.trainer.min_delta,
        static_backbone=not plan.trains_backbone,
    )
    module = PolyheadModule(model, plan, cfg, (data.sources, data.kinds, data.label_sets))
    # Backbone outputs from the feature cache in epochs where the backbone (or its lower
    # part) is frozen; keys hash the weights now, before any step.
    module.feature_source = backbone_cache(model, plan, data, cfg)
    guards = build_guards(cfg, run_dir, best_cb)  # frozen / preserved tasks, grad cosine
    trainer = _trainer(cfg, run_dir, plan, best_cb, extra_callbacks, guards)
    start = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=ckpt, weights_only=True if ckpt else None)
    seconds = time.perf_counter() - start
    if not trainer.is_global_zero:  # rank 0 scores the saved artifact and writes the results
        return RunResult(run_dir, {}, plan, best_cb.best_epoch, seconds)
    metrics = final_metrics(trainer, run_dir / "model", cfg, data)
    metrics.update(guard_metrics(guards, best_cb.best_epoch))
    metrics.update(
        train_seconds=seconds,
        best_epoch=best_cb.best_epoch,
        truncated_train_examples=data.train_stats.n_truncated_examples,
        skipped_nonfinite_batches=module.skipped_nonfinite,
    )
    if trainer.is_global_zero:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        _write_run_report(run_dir, data)
    return RunResult(run_dir, metrics, plan, best_cb.best_epoch, seconds)


def _write_run_report(run_dir: Path, data) -> None:
    """Per-run plots and report.md; a failure here is logged and never loses the run."""
    try:
        from polyhead.compare.run_report import write_run_report

        write_run_report(run_dir, data)
    except Exception as e:  # noqa: BLE001 - the model and metrics are already saved
        log.warning("run report not written: %s", e)


def _resume_checkpoint(run_dir: Path) -> str:
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if not ckpt.exists():
        raise PolyheadError(f"{run_dir}: nothing to resume (no checkpoints/last.ckpt)")
    return str(ckpt)


def final_metrics(trainer, artifact: Path, cfg: RunConfig, data) -> dict:
    """Dev and test metrics of the best artifact, reloaded from disk (what users will load)."""
    best = MultiTaskModel.load(artifact)
    module = PolyheadModule(best, None, cfg, (data.sources, data.kinds, data.label_sets))
    out = {}
    for split in ("dev", "test"):
        if not data.has_split(split):
            continue
        module.test_split = split
        evaluator = pl.Trainer(
            accelerator=cfg.trainer.accelerator,
            devices=1,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        evaluator.test(module, dataloaders=data.eval_dataloaders(split), verbose=False)
        out[split] = module._collector.metrics(module.weights)
    return out
