"""The printed plan: one column per phase, totals, and JSON that survives a round trip."""

from __future__ import annotations

import io
import json

from rich.console import Console

from polyhead.plan import plan_json, plan_table, plan_text
from tests.plan.conftest import plan_for


def _gradual(model):
    return plan_for(
        model, 5, strategy="gradual", unfreeze_every=2, frozen_heads=["slots"],
        backbone_lr=5e-5, layer_decay=1.0,
    )  # fmt: skip


def test_table_has_one_column_per_phase(model):
    table = plan_table(_gradual(model))
    headers = [str(c.header) for c in table.columns]
    assert headers == ["group", "params", "lr", "epochs 0-1", "epochs 2-3", "epoch 4"]
    rows = list(table.columns[0].cells)
    assert rows == [
        "head:intent",
        "head:slots",
        *["layer_3", "layer_2", "layer_1", "layer_0", "embeddings", "pooler"],
        "total / trainable",
    ]
    assert list(table.columns[4].cells)[:3] == [
        "[green]train[/]",
        "[dim]frozen[/]",
        "[green]train[/]",
    ]


def test_totals_row_counts_trainable_params_per_phase(model):
    plan = _gradual(model)
    table = plan_table(plan)
    n = {g.name: g.n_params for g in plan.groups}
    totals = [list(c.cells)[-1] for c in table.columns]
    assert totals[1] == f"{sum(p.numel() for p in model.parameters()):,}"
    assert totals[3:] == [
        f"{n['head:intent']:,}",
        f"{n['head:intent'] + n['layer_3']:,}",
        f"{n['head:intent'] + n['layer_3'] + n['layer_2']:,}",
    ]


def test_text_shows_phases_lrs_and_notes(model):
    text = plan_text(_gradual(model))
    assert "epochs 0-1" in text and "epoch 4" in text
    assert "head:slots: in plan.frozen_heads" in text
    assert "pooler: unused by polyhead pooling" in text
    layer_3 = next(line for line in text.splitlines() if line.strip().startswith("layer_3"))
    assert layer_3.split()[1:] == ["8,544", "5.00e-05", "frozen", "train", "train"]
    assert "\x1b" not in text  # plain text for the run directory


def test_table_fits_an_80_column_terminal(model):
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(plan_table(plan_for(model, 7, strategy="gradual", unfreeze_every=2)))
    text = console.export_text()
    assert "…" not in text  # no group name or LR cut off
    assert "layer_3 " in text and "embeddings" in text


def test_json_round_trip(model):
    plan = _gradual(model)
    data = plan_json(plan)
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {
        "strategy",
        "epochs",
        "schedule",
        "warmup_ratio",
        "weight_decay",
        "groups",
        "phases",
    }
    assert data["strategy"] == "gradual" and data["epochs"] == 5
    group = data["groups"][2]
    assert group == {
        "name": "layer_3",
        "kind": "layer",
        "depth": 4,
        "n_params": 8544,
        "lr": 5e-05,
        "start_epoch": 2,
        "note": "",
    }
    assert [g["name"] for g in data["groups"]] == [g.name for g in plan.groups]
    phases = [(p["start_epoch"], p["end_epoch"], p["trainable"]) for p in data["phases"]]
    assert phases == [(p.start_epoch, p.end_epoch, p.trainable) for p in plan.phases()]
    assert data["phases"][0]["trainable_params"] == group_params(data, "head:intent")


def group_params(data: dict, name: str) -> int:
    return next(g["n_params"] for g in data["groups"] if g["name"] == name)


def test_large_phase_totals_stay_narrow():
    from polyhead.plan.render import compact_count

    assert [compact_count(n) for n in (8_610, 99_999, 3_557_233, 109_482_240)] == [
        "8,610",
        "99,999",
        "3.56M",
        "109M",
    ]
