"""train(): config in, run directory out (polyhead.engine.rundir lists what it holds).

prepare() builds data, model and plan (everything `polyhead plan` shows and `train` runs);
train() assembles the Lightning Trainer (polyhead.engine.trainer), fits, then scores the best
artifact reloaded from disk.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import warnings
from pathlib import Path

import lightning.pytorch as pl

from polyhead.card import render_run_card
from polyhead.config import RunConfig
from polyhead.engine.auto_epochs import resolve_epochs
from polyhead.engine.callbacks import BestArtifactCallback, TrainClock
from polyhead.engine.checkpoint_io import remove_stale_temporaries
from polyhead.engine.compiled import compile_model
from polyhead.engine.datamodule import MultiTaskDataModule
from polyhead.engine.evaluation import final_metrics
from polyhead.engine.faults import InterruptCallback, Interrupted, is_main_process
from polyhead.engine.frozen import train_frozen
from polyhead.engine.guard import build_guards, guard_metrics
from polyhead.engine.kinds_eval import check_kinds, check_pairing, standardise_targets
from polyhead.engine.module import PolyheadModule
from polyhead.engine.resume import (
    ResumePoint,
    check_extended_plan,
    describe_extension,
    resume_point,
)
from polyhead.engine.run_report import write_run_report
from polyhead.engine.rundir import (
    CHECKPOINT,
    RunResult,
    discard_unstarted,
    keep_previous_config,
    resume_hint,
    setup_entries,
    write_metrics,
    write_setup,
)
from polyhead.engine.trainer import build_trainer, check_trainer_settings
from polyhead.errors import ConfigError, PolyheadError
from polyhead.features.source import backbone_cache
from polyhead.model.artifact import CARD_FILE, is_artifact
from polyhead.model.backbone import load_tokenizer_for
from polyhead.model.levers import balanced_class_weights, reinit_top_layers
from polyhead.model.multitask import MultiTaskModel
from polyhead.plan import build_plan, plan_json, plan_table

log = logging.getLogger("polyhead")
# Frozen parts run in eval mode on purpose (dropout only where weights learn); Lightning warns.
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")


def prepare(cfg: RunConfig):
    """Data, model and plan: everything `polyhead plan` shows and `train` runs. The trainer
    settings and the data are checked before the model's weights load."""
    check_trainer_settings(cfg)
    check_kinds(cfg)
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    tokenizer = load_tokenizer_for(cfg.model.backbone, cfg.model.trust_remote_code)
    data = MultiTaskDataModule(cfg, tokenizer)
    check_pairing(cfg, data.sources)
    resolve_epochs(cfg, data)  # `epochs: auto` needs the training rows counted
    labels = {task: ls.names for task, ls in data.label_sets.items()}
    model = MultiTaskModel(cfg.to_spec(labels, _class_weights(cfg, data), data.train_words()))
    standardise_targets(model, data)  # regression heads; before a continued run's heads load
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
    cfg: RunConfig,
    run_dir,
    resume: bool = False,
    extra_callbacks=(),
    show_plan=None,
    allow_changes: bool = False,
) -> RunResult:
    """Train per the plan; `show_plan` is a rich Console to print the plan on before training.

    `resume` continues RUN from its last checkpoint (or starts it again if it has none);
    the config must be the run's own, except fields that cannot change it, and, with
    `allow_changes`, trainer.epochs (polyhead.engine.resume).
    """
    run_dir = Path(run_dir)
    point = _resume_point(run_dir, cfg, allow_changes) if resume else None
    extended = point is not None and point.extends
    data, model, plan = prepare(cfg)
    if plan.trains_anything and not data.has_split("dev"):  # said before the plan is shown
        raise PolyheadError("no dev data: set data.dev, a dev split, or data.dev_fraction")
    if extended and is_main_process():
        check_extended_plan(run_dir, plan)  # before anything is written
    if show_plan is not None and is_main_process():
        show_plan.print(plan_table(plan))
        if extended:
            show_plan.print(describe_extension(point, plan))
    if not plan.trains_anything:  # frozen: features once + external classifiers, no step
        result = train_frozen(cfg, run_dir, data, model, plan)
        _write_run_report(run_dir, data)
        return result
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
    clock = TrainClock()
    compiled = compile_model(model, data, cfg)  # trainer.compile (None: eager)
    callbacks = [clock, *([compiled] if compiled else []), *extra_callbacks]
    # Built before anything is written: a Trainer that refuses its settings leaves no trace.
    trainer = build_trainer(cfg, run_dir, plan, best_cb, callbacks, guards)
    existed = setup_entries(run_dir)
    if is_main_process():
        _write_run_setup(run_dir, cfg, plan, point)
    ckpt = point.checkpoint if point else None
    _fit(trainer, module, data, ckpt, run_dir, discard=None if resume else existed)
    seconds = clock.seconds  # this process's fit plus those of the processes it continues
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
    if compiled is not None:
        metrics["compiled_graphs"] = compiled.graphs
    write_metrics(run_dir, metrics)
    _write_run_report(run_dir, data)
    return RunResult(run_dir, metrics, plan, best_cb.best_epoch, seconds)


def _write_run_setup(run_dir: Path, cfg: RunConfig, plan, point: ResumePoint | None) -> None:
    """config.yaml and the plan; on a resume, first what a kill left half-written goes, and
    an extended run keeps its old config and says in plan.txt how it was extended."""
    if point is not None and point.checkpoint:
        remove_stale_temporaries(run_dir)
    if point is not None and point.extends:
        keep_previous_config(run_dir)
    write_setup(run_dir, cfg, plan)
    if point is not None and point.extends:
        with (run_dir / "plan.txt").open("a") as f:
            f.write(describe_extension(point, plan) + "\n")


def _resume_point(run_dir: Path, cfg: RunConfig, allow_changes: bool) -> ResumePoint:
    """The main process checks the config against the run's; the other ranks of a DDP run
    start after it has written the new one, and take the checkpoint as they find it."""
    if is_main_process():
        return resume_point(run_dir, cfg, allow_changes)
    ckpt = run_dir / CHECKPOINT
    return ResumePoint(str(ckpt) if ckpt.exists() else None)


def _fit(trainer, module, data, ckpt, run_dir: Path, discard: set[str] | None) -> None:
    """trainer.fit, and what an early end leaves. `discard`: for a new run, the setup entries
    that were there before it (the rest is removed if no step was taken)."""
    interrupt = next((c for c in trainer.callbacks if isinstance(c, InterruptCallback)), None)
    handler = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt, weights_only=True if ckpt else None)
    except BaseException as e:
        unstarted = trainer.global_step == 0 and not (run_dir / CHECKPOINT).exists()
        if discard is not None and unstarted and is_main_process():
            discard_unstarted(run_dir, keep=discard)
        # Lightning answers a KeyboardInterrupt (a second Ctrl-C) with sys.exit(1)
        if isinstance(e, SystemExit) and interrupt is not None and interrupt.aborted:
            raise Interrupted(
                f"stopped at once by a second Ctrl-C (nothing saved since the last "
                f"checkpoint); {resume_hint(run_dir)}"
            ) from None
        raise
    finally:
        _restore_sigint(handler)


def _restore_sigint(handler) -> None:
    """Lightning leaves SIGINT ignored after a KeyboardInterrupt; put the caller's back."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and handler is not None:
        with contextlib.suppress(ValueError):  # not the main thread: nothing to put back
            signal.signal(signal.SIGINT, handler)


def _write_run_report(run_dir: Path, data) -> None:
    """Per-run plots and report.md, and the model card with the run's metrics; a failure here
    is logged and never loses the run."""
    try:
        card = render_run_card(run_dir, model_id=f"{run_dir.name}/model")
        (run_dir / "model" / CARD_FILE).write_text(card)
        write_run_report(run_dir, data)
    except Exception as e:  # noqa: BLE001 - the model and metrics are already saved
        log.warning("run report not written: %s", e)
