"""The plan as people and programs read it: a rich table, its plain text, and JSON."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table

from polyhead.plan.plan import TrainingPlan


def _lr(lr: float, start_epoch: int | None) -> str:
    return "-" if start_epoch is None else f"{lr:.2e}"


def compact_count(n: int) -> str:
    """At most 6 characters, to fit the phase columns (exact counts are in the JSON)."""
    if n < 100_000:
        return f"{n:,}"
    scale, unit = next((s, u) for s, u in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if n >= s)
    return f"{n / scale:.3g}{unit}"


def _state(trains: bool) -> str:
    return "[green]train[/]" if trains else "[dim]frozen[/]"


def plan_table(plan: TrainingPlan) -> Table:
    """One row per group (heads, blocks top-down, embeddings, pooler), one column per phase;
    why a group is held frozen goes under the table, so the table fits 80 columns."""
    phases = plan.phases()
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"training plan: {plan.strategy}, {plan.epochs} epoch(s)",
        caption="\n".join(_caption_lines(plan)),
        caption_justify="left",
    )
    # A cut-off group name or LR would misstate the plan: only phase headers may wrap.
    table.add_column("group", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("lr", justify="right", no_wrap=True)
    for phase in phases:
        table.add_column(phase.label, justify="center", min_width=len("frozen"))
    for g in plan.groups:
        cells = [_state(g.trains_at(p.start_epoch)) for p in phases]
        table.add_row(g.name, f"{g.n_params:,}", _lr(g.lr, g.start_epoch), *cells)
    table.add_section()
    total = f"{sum(g.n_params for g in plan.groups):,}"
    trainable = [compact_count(trainable_params(plan, p.start_epoch)) for p in phases]
    table.add_row("total / trainable", total, "", *trainable)
    return table


def _caption_lines(plan: TrainingPlan) -> list[str]:
    lines = [
        f"{plan.schedule} schedule, warmup {plan.warmup_ratio:g} of each group's own steps, "
        f"weight decay {plan.weight_decay:g} (none on biases and norms)",
        "last row: all parameters / parameters training in each phase",
    ]
    notes: dict[str, list[str]] = {}
    for g in plan.groups:
        if g.note:
            notes.setdefault(g.note, []).append(g.name)
    lines += [f"{', '.join(names)}: {note}" for note, names in notes.items()]
    return lines + list(plan.losses)


def trainable_params(plan: TrainingPlan, epoch: int) -> int:
    return sum(g.n_params for g in plan.groups if g.trains_at(epoch))


def plan_text(plan: TrainingPlan) -> str:
    """The table as plain text, wide enough never to wrap, for the run directory."""
    console = Console(record=True, width=400, file=io.StringIO(), color_system=None)
    console.print(plan_table(plan))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def plan_json(plan: TrainingPlan) -> dict:
    return {
        "strategy": plan.strategy,
        "epochs": plan.epochs,
        "schedule": plan.schedule,
        "warmup_ratio": plan.warmup_ratio,
        "weight_decay": plan.weight_decay,
        **({"losses": list(plan.losses)} if plan.losses else {}),  # embedding tasks
        "groups": [
            {
                "name": g.name,
                "kind": g.kind,
                "depth": g.depth,
                "n_params": g.n_params,
                "lr": g.lr,
                "start_epoch": g.start_epoch,
                "note": g.note,
            }
            for g in plan.groups
        ],
        "phases": [
            {
                "start_epoch": p.start_epoch,
                "end_epoch": p.end_epoch,
                "trainable": p.trainable,
                "trainable_params": trainable_params(plan, p.start_epoch),
            }
            for p in plan.phases()
        ],
    }
