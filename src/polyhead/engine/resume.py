"""`--resume`: the config a resumed run may differ in, and where it starts again.

A resumed run must be the run it continues, so its config is compared with the one the run
saved (RUN/config.yaml) before anything is written. Fields that cannot change what is
trained (`INERT`) may differ; any other difference is refused by name. `--allow-changes`
also accepts a new `trainer.epochs`: the remaining epochs then get a fresh learning-rate
schedule (`fresh_schedules`), since the saved one has already decayed to 0 at the old end.

A run stopped before its first checkpoint (killed while epoch 0 trained) has nothing to
restore: `--resume` starts it again from its saved config.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from polyhead.config import RunConfig, validate_config
from polyhead.engine.rundir import CHECKPOINT
from polyhead.errors import PolyheadError
from polyhead.plan.optim import optimizer_group_specs
from polyhead.plan.plan import TrainingPlan
from polyhead.plan.schedule import GroupSchedule

log = logging.getLogger("polyhead")

# Fields (or dotted prefixes) that change how a run is shown, logged or fed, never what it
# trains: data loader processes, the progress bar, the logging interval, where the feature
# cache lives (entries are keyed by a hash of the weights), and `polyhead compare`'s settings.
INERT = (
    "trainer.num_workers",
    "trainer.progress",
    "trainer.log_every_n_steps",
    "features.cache.dir",
    "compare.",
)
EPOCHS = "trainer.epochs"  # what --allow-changes may change
SHOWN = 4  # differing fields named in the one-line refusal


@dataclass
class ResumePoint:
    """What `--resume` continues from (checked against the run's saved config)."""

    checkpoint: str | None  # None: the run stopped before its first checkpoint
    changed: dict[str, tuple] = field(default_factory=dict)  # accepted: field -> (saved, new)

    @property
    def epochs_from(self) -> int | None:
        """The run's previous trainer.epochs, when --allow-changes changed it."""
        return self.changed[EPOCHS][0] if EPOCHS in self.changed else None

    @property
    def extends(self) -> bool:
        """A checkpoint continued with another trainer.epochs (a run that starts again
        simply trains for the new count)."""
        return self.checkpoint is not None and self.epochs_from is not None


def resume_point(run_dir: Path, cfg: RunConfig, allow_changes: bool = False) -> ResumePoint:
    """Check `cfg` against RUN/config.yaml; raise naming every refused field."""
    run_dir = Path(run_dir)
    saved_path = run_dir / "config.yaml"
    if not saved_path.exists():
        raise PolyheadError(f"{run_dir}: nothing to resume (no config.yaml: not a polyhead run)")
    saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
    _keep_resolved_epochs(saved, cfg)
    diff = config_diff(saved, cfg)
    allowed = {k: v for k, v in diff.items() if _inert(k) or (allow_changes and k == EPOCHS)}
    refused = {k: v for k, v in diff.items() if k not in allowed}
    if refused:
        raise PolyheadError(_refusal(saved_path, refused, allow_changes))
    ckpt = run_dir / CHECKPOINT
    if not ckpt.exists():
        log.warning(
            "%s stopped before its first checkpoint: starting it again from %s", run_dir, saved_path
        )
        return ResumePoint(None, allowed)
    if EPOCHS in allowed:
        _check_epochs_left(ckpt, cfg.trainer.epochs)
    return ResumePoint(str(ckpt), allowed)


def _keep_resolved_epochs(saved: dict, cfg: RunConfig) -> None:
    """`epochs: auto` resolves from the same data to the number the run saved: resume with it."""
    old = (saved.get("trainer") or {}).get("epochs")
    if cfg.trainer.epochs == "auto" and isinstance(old, int) and old >= 1:
        cfg.trainer.epochs = old


def config_diff(saved: dict, cfg: RunConfig) -> dict[str, tuple]:
    """Dotted field -> (saved value, new value) for every field that differs. Both go through
    validation (a field added to polyhead since the run started gets its default on both
    sides) and the same YAML round trip, so only values are compared."""
    with contextlib.suppress(PolyheadError, ValueError):  # invalid now: compare the file as is
        saved = _as_saved(validate_config(saved))
    old_flat, new_flat = _flatten(saved), _flatten(_as_saved(cfg))
    keys = list(dict.fromkeys([*new_flat, *old_flat]))
    missing = object()
    return {
        k: (old_flat.get(k), new_flat.get(k))
        for k in keys
        if old_flat.get(k, missing) != new_flat.get(k, missing)
    }


def _as_saved(cfg: RunConfig) -> dict:
    return yaml.safe_load(yaml.safe_dump(cfg.model_dump(), sort_keys=False))


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _inert(name: str) -> bool:
    return any(name == f or (f.endswith(".") and name.startswith(f)) for f in INERT)


def _refusal(saved_path: Path, refused: dict[str, tuple], allow_changes: bool) -> str:
    named = [f"{k} {old!r} -> {new!r}" for k, (old, new) in list(refused.items())[:SHOWN]]
    more = f" and {len(refused) - SHOWN} more" if len(refused) > SHOWN else ""
    hint = ""
    if EPOCHS in refused and not allow_changes:
        hint = f"; --allow-changes accepts a new {EPOCHS} (a fresh schedule for the rest)"
    return (
        f"--resume with a config that changes the run: {', '.join(named)}{more} "
        f"(the run's config is {saved_path}; resume with it, or train into another --out){hint}"
    )


def _check_epochs_left(ckpt: Path, epochs: int) -> None:
    """A new epoch count must leave something to train, and the checkpoint must say which
    epoch count its schedule was built for (PolyheadModule saves it)."""
    state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    if "polyhead_epochs" not in state:
        raise PolyheadError(f"{ckpt}: written before --allow-changes existed; cannot extend it")
    position = state.get("MultiTaskDataModule") or {}
    epoch, done = position.get("epoch", 0), position.get("batches_done", 0)
    if epochs <= epoch:
        part = f" and {done} batches of epoch {epoch}" if done else ""
        raise PolyheadError(
            f"config field '{EPOCHS}': {epochs} leaves nothing to train; {ckpt} holds "
            f"{epoch} finished epoch(s){part}"
        )


# ---- a fresh schedule for an extended run ---------------------------------------------------


def fresh_schedules(plan: TrainingPlan, steps_per_epoch: int, from_step: int) -> list:
    """One LR multiplier per optimizer group for a run extended at `from_step`: each group
    warms up again from there (or from its planned start, if later) and decays to 0 at the new
    last step, as a fresh run over the remaining steps would."""
    total = plan.epochs * steps_per_epoch
    out = []
    for spec in optimizer_group_specs(plan):
        planned = plan.group(spec.group).start_epoch
        if planned is None:
            out.append(GroupSchedule(None, total, 0, plan.schedule))
            continue
        start = max(planned * steps_per_epoch, from_step)
        warmup = int(plan.warmup_ratio * (total - start))
        out.append(GroupSchedule(start, total, warmup, plan.schedule))
    return out


def describe_extension(point: ResumePoint, plan: TrainingPlan) -> str:
    """The line the printed plan (and plan.txt) carries for an extended run."""
    old = point.epochs_from
    return (
        f"resumed with --allow-changes: {EPOCHS} {old} -> {plan.epochs}; from the checkpoint "
        f"on, every training group gets a fresh {plan.schedule} schedule (warmup "
        f"{plan.warmup_ratio:.0%} of the steps left) ending at epoch {plan.epochs - 1}"
    )


def check_extended_plan(run_dir: Path, plan: TrainingPlan) -> None:
    """A new epoch count may not change which groups train when: the checkpoint's optimizer
    holds the groups of the old plan (gradual unfreezing that ran out of epochs would now
    unfreeze more)."""
    saved_path = Path(run_dir) / "plan.json"
    if not saved_path.exists():
        return
    saved = {g["name"]: g["start_epoch"] for g in json.loads(saved_path.read_text())["groups"]}
    moved = [
        f"{g.name} {_when(saved.get(g.name))} -> {_when(g.start_epoch)}"
        for g in plan.groups
        if saved.get(g.name) != g.start_epoch
    ]
    if moved:
        raise PolyheadError(
            f"config field '{EPOCHS}': {plan.epochs} epochs change when groups train "
            f"({', '.join(moved[:SHOWN])}), which the checkpoint's optimizer cannot hold; "
            f"continue in a new run with model.backbone={Path(run_dir) / 'model'}"
        )


def _when(start_epoch: int | None) -> str:
    return "never" if start_epoch is None else f"epoch {start_epoch}"
