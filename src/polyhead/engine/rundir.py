"""The run directory: what a run writes next to its model, and the checks before it writes.

RUN/config.yaml      the validated config (with overrides applied); a resume compares with it
RUN/config.before-resume-N.yaml   what it was before a resume with --allow-changes
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


def keep_previous_config(run_dir: Path) -> Path:
    """Before a resume with --allow-changes rewrites config.yaml: the old one, as
    config.before-resume-N.yaml (N counts such resumes)."""
    n = 1
    while (run_dir / f"config.before-resume-{n}.yaml").exists():
        n += 1
    kept = run_dir / f"config.before-resume-{n}.yaml"
    (run_dir / "config.yaml").replace(kept)
    return kept


def write_metrics(run_dir: Path, metrics: dict) -> None:
    # NaN is not JSON: a metric that could not be computed is null.
    (run_dir / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))


def json_line(record: dict) -> str:
    """One JSON line of `record` (history.jsonl): NaN / inf are null, never bare `NaN`."""
    return json.dumps(json_safe(record), allow_nan=False) + "\n"


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
        if not (run_dir / "config.yaml").exists():
            raise PolyheadError(f"{run_dir}: nothing to resume (no config.yaml: not a run)")
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        if (run_dir / "config.yaml").exists() and not (run_dir / CHECKPOINT).exists():
            raise PolyheadError(
                f"{run_dir}: already holds a run stopped before its first checkpoint; "
                f"--resume {run_dir} starts it again, or use another --out"
            )
        raise PolyheadError(f"{run_dir}: already holds a run; use --resume or another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise PolyheadError(f"{run_dir}: output directory is not writable ({e.strerror})") from None
    return run_dir


# What train() writes into a new run before its first step (discard_unstarted removes them).
SETUP_ENTRIES = ("config.yaml", "plan.txt", "plan.json", "history.jsonl", "logs", "checkpoints")


def setup_entries(run_dir: Path) -> set[str]:
    return {name for name in SETUP_ENTRIES if (Path(run_dir) / name).exists()}


def discard_unstarted(run_dir: Path, keep: set[str]) -> None:
    """Remove what a new run wrote before its trainer failed to take a step (all but `keep`,
    what was there before), so the next try into the same directory is not refused."""
    import shutil

    for name in set(SETUP_ENTRIES) - keep:
        path = Path(run_dir) / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def resume_hint(run_dir: Path) -> str:
    """How to go on after an interruption, from what the run directory holds now."""
    if (Path(run_dir) / CHECKPOINT).exists():
        return f"resume with: polyhead train CONFIG --resume {run_dir}"
    if (Path(run_dir) / "config.yaml").exists():
        return f"no checkpoint yet: polyhead train CONFIG --resume {run_dir} starts it again"
    return "nothing was written"
