"""The run directory: what a run writes next to its model, and the checks before it writes.

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
from dataclasses import dataclass
from pathlib import Path

import yaml

from polyhead.config import RunConfig
from polyhead.engine.faults import is_main_process
from polyhead.errors import PolyheadError
from polyhead.plan import TrainingPlan, plan_json, plan_text

CHECKPOINT = Path("checkpoints") / "last.ckpt"


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    plan: TrainingPlan
    best_epoch: int | None
    train_seconds: float


def write_setup(run_dir: Path, cfg: RunConfig, plan: TrainingPlan) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    (run_dir / "plan.txt").write_text(plan_text(plan))
    (run_dir / "plan.json").write_text(json.dumps(plan_json(plan), indent=2))


def write_metrics(run_dir: Path, metrics: dict) -> None:
    # NaN is not JSON: a metric that could not be computed is null.
    (run_dir / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))


def json_safe(value):
    """`value` with every NaN / inf float replaced by None (standard JSON has neither)."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def csv_version(logs: Path) -> str:
    """logs/metrics.csv, or logs/resume-N/metrics.csv for a resumed run: CSVLogger deletes
    an existing metrics.csv, which would lose the epochs logged before the resume."""
    if not (logs / "metrics.csv").exists():
        return ""
    n = 1
    while (logs / f"resume-{n}").exists():
        n += 1
    return f"resume-{n}"


def prepare_run_dir(run_dir, resume: bool = False) -> Path:
    """Refuse to overwrite an earlier run; fail early (before training) if not writable.

    Only the main process checks: the other ranks of a DDP run start while it already writes.
    """
    run_dir = Path(run_dir)
    if not is_main_process():
        return run_dir
    if resume:
        resume_checkpoint(run_dir)
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


def resume_checkpoint(run_dir: Path) -> str:
    ckpt = Path(run_dir) / CHECKPOINT
    if not ckpt.exists():
        raise PolyheadError(f"{run_dir}: nothing to resume (no {CHECKPOINT})")
    return str(ckpt)
