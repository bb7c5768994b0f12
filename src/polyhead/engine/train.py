"""train(): config in, run directory out (polyhead.engine.rundir lists what it holds).

prepare() builds data, model and plan (everything `polyhead plan` shows and `train` runs);
train() assembles the Lightning Trainer (polyhead.engine.trainer), fits, then scores the best
artifact reloaded from disk.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl

from polyhead.config import RunConfig
from polyhead.engine.callbacks import BestArtifactCallback
from polyhead.engine.checkpoint_io import remove_stale_temporaries
from polyhead.engine.datamodule import MultiTaskDataModule
from polyhead.engine.evaluation import final_metrics
from polyhead.engine.faults import is_main_process
from polyhead.engine.frozen import train_frozen
from polyhead.engine.guard import build_guards, guard_metrics
from polyhead.engine.module import PolyheadModule
from polyhead.engine.run_report import write_run_report
from polyhead.engine.rundir import (
    RunResult,
    resume_checkpoint,
    write_metrics,
    write_setup,
)
from polyhead.engine.trainer import build_trainer
from polyhead.errors import ConfigError, PolyheadError
from polyhead.features.source import backbone_cache
from polyhead.model.artifact import is_artifact
from polyhead.model.backbone import load_tokenizer_for
from polyhead.model.levers import balanced_class_weights, reinit_top_layers
from polyhead.model.multitask import MultiTaskModel
from polyhead.plan import build_plan, plan_json, plan_table

log = logging.getLogger("polyhead")
# Frozen parts run in eval mode on purpose (dropout only where weights learn); Lightning warns.
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")


def prepare(cfg: RunConfig):
    """Data, model and plan: everything `polyhead plan` shows and `train` runs."""
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    tokenizer = load_tokenizer_for(cfg.model.backbone, cfg.model.trust_remote_code)
    data = MultiTaskDataModule(cfg, tokenizer)
    labels = {task: ls.names for task, ls in data.label_sets.items()}
    model = MultiTaskModel(cfg.to_spec(labels, _class_weights(cfg, data)))
    if is_artifact(cfg.model.backbone):  # continue from a trained model: backbone and heads
        model.continue_from(cfg.model.backbone)
    reinit_top_layers(model.backbone, cfg.model.reinit_top)
    plan = build_plan(model, cfg.plan, cfg.trainer.epochs)
    _plan_embedding_tasks(plan, data.pair_sources)
    return data, model, plan


def _plan_embedding_tasks(plan, pair_sources) -> None:
    """Embedding tasks have no group: the plan lists each as a loss on the pooled output.
    One that trains needs a plan that trains the backbone (the loss has nothing else)."""
    plan.losses = [p.describe() for p in pair_sources]
    idle = [p.task for p in pair_sources if p.trains and not plan.trains_backbone]
    if idle:
        raise ConfigError(
            f"tasks.{idle[0]}",
            f"an embedding task trains the backbone, which strategy '{plan.strategy}' never "
            "trains: use full, top-k, gradual, lora or custom, or set its loss_weight: 0",
        )


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


def train(
    cfg: RunConfig, run_dir, resume: bool = False, extra_callbacks=(), show_plan=None
) -> RunResult:
    """Train per the plan; `show_plan` is a rich Console to print the plan on before training."""
    run_dir = Path(run_dir)
    data, model, plan = prepare(cfg)
    if show_plan is not None and is_main_process():
        show_plan.print(plan_table(plan))
    if not plan.trains_anything:  # frozen: features once + external classifiers, no step
        result = train_frozen(cfg, run_dir, data, model, plan)
        _write_run_report(run_dir, data)
        return result
    if not data.has_split("dev"):
        raise PolyheadError("no dev data: set data.dev, a dev split, or data.dev_fraction")
    ckpt = resume_checkpoint(run_dir) if resume else None
    if is_main_process():
        if resume:
            remove_stale_temporaries(run_dir)  # what a kill left half-written
        write_setup(run_dir, cfg, plan)
    best_cb = BestArtifactCallback(
        run_dir / "model",
        lambda: {"plan": plan_json(plan)},
        cfg.trainer.min_delta,
        static_backbone=not plan.trains_backbone,
    )
    module = PolyheadModule(
        model, plan, cfg, (data.sources, data.kinds, data.label_sets), data.pair_sources
    )
    # Backbone outputs from the feature cache in epochs where the backbone (or its lower
    # part) is frozen; keys hash the weights now, before any step.
    module.feature_source = backbone_cache(model, plan, data, cfg)
    guards = build_guards(cfg, run_dir, best_cb)  # frozen / preserved tasks, grad cosine
    trainer = build_trainer(cfg, run_dir, plan, best_cb, extra_callbacks, guards)
    start = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=ckpt, weights_only=True if ckpt else None)
    seconds = time.perf_counter() - start
    if not trainer.is_global_zero:  # rank 0 scores the saved artifact and writes the results
        return RunResult(run_dir, {}, plan, best_cb.best_epoch, seconds)
    metrics = final_metrics(run_dir / "model", cfg, data)
    metrics.update(guard_metrics(guards, best_cb.best_epoch))
    metrics.update(
        train_seconds=seconds,
        best_epoch=best_cb.best_epoch,
        truncated_train_examples=data.train_stats.n_truncated_examples,
        skipped_nonfinite_batches=module.skipped_nonfinite,
    )
    write_metrics(run_dir, metrics)
    _write_run_report(run_dir, data)
    return RunResult(run_dir, metrics, plan, best_cb.best_epoch, seconds)


def _write_run_report(run_dir: Path, data) -> None:
    """Per-run plots and report.md; a failure here is logged and never loses the run."""
    try:
        write_run_report(run_dir, data)
    except Exception as e:  # noqa: BLE001 - the model and metrics are already saved
        log.warning("run report not written: %s", e)
