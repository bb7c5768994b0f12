"""polyhead compare: strategies x seeds through train(), resume, table, plots and reports."""

from __future__ import annotations

import csv
import json
import shutil
import statistics

import pytest
import yaml
from typer.testing import CliRunner

from polyhead.compare.report import write_report
from polyhead.compare.runner import run_comparison, run_config
from polyhead.config import validate_config
from tests.model.quality.conftest import tiny_run_config

STRATEGIES = ["heads", "full", "freeze-head"]  # freeze-head without frozen_heads: skipped


@pytest.fixture(scope="module")
def base_cfg(tiny_bert):
    raw = tiny_run_config(tiny_bert)
    raw["trainer"].update(epochs=2, batch_size=16)  # 2 epochs: curves have a shape
    raw["data"].update(max_train_examples=32, max_eval_examples=16)
    return validate_config(raw)


@pytest.fixture(scope="module")
def comparison(base_cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    outcomes = run_comparison(base_cfg, out, STRATEGIES, seeds=2, isolate=False)
    return out, outcomes, write_report(out, outcomes, header="test")


def test_runs_every_strategy_and_seed_and_skips_unavailable(comparison, base_cfg):
    out, outcomes, _ = comparison
    status = {o.name: o.status for o in outcomes}
    assert status == {
        "heads-s0": "done",
        "heads-s1": "done",
        "full-s0": "done",
        "full-s1": "done",
        "freeze-head-s0": "skipped",
        "freeze-head-s1": "skipped",
    }
    skipped = next(o for o in outcomes if o.status == "skipped")
    assert "plan.frozen_heads" in skipped.reason
    written = yaml.safe_load((out / "configs" / "full-s1.yaml").read_text())
    assert written["plan"]["strategy"] == "full"
    assert written["trainer"]["seed"] == run_config(base_cfg, "full", 1).trainer.seed == 43


def test_table_has_one_row_per_trained_strategy_with_mean_and_std(comparison):
    out, _, report = comparison
    with (out / "table.csv").open() as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert [r[0] for r in body] == ["heads", "full"]
    assert [r[1] for r in body] == ["2/2", "2/2"]
    for col in (
        "dev score",
        "test score",
        "intent accuracy dev",
        "slots f1 test",
        "dev frame acc",
        "trainable params",
        "train s",
        "peak MB",
    ):
        assert col in header
    scores = [
        json.loads((out / "runs" / f"full-s{i}" / "metrics.json").read_text())["dev"]["score"]
        for i in (0, 1)
    ]
    cell = body[1][header.index("dev score")]
    assert cell == f"{statistics.fmean(scores):.4f} ± {statistics.stdev(scores):.4f}"
    heads_params = int(body[0][header.index("trainable params")].replace(",", ""))
    full_params = int(body[1][header.index("trainable params")].replace(",", ""))
    assert 0 < heads_params < full_params


def test_reports_embed_tables_and_plots(comparison):
    out, _, report = comparison
    for name in (
        "curves_score.png",
        "score_vs_time.png",
        "entity_f1_slots.png",
        "confusions_intent.png",
    ):
        assert (out / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    md = (out / "report.md").read_text()
    assert "| heads | 2/2 |" in md and "| full | 2/2 |" in md
    assert "freeze-head-s0: skipped" in md and "best strategy" in md
    assert "![score_vs_time](plots/score_vs_time.png)" in md
    page = (out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(report.images) >= 4
    assert "src='plots/" not in page and "<td>full</td>" in page


def test_train_writes_the_per_run_report(comparison):
    out, _, _ = comparison
    run = out / "runs" / "full-s0"
    assert (run / "plots" / "curves.png").exists() and (
        run / "plots" / "entity_f1_slots.png"
    ).exists()
    analysis = json.loads((run / "analysis.json").read_text())
    assert analysis["split"] == "dev" and "intent" in analysis["confusions"]
    md = (run / "report.md").read_text()
    assert "| intent | accuracy |" in md and "| slots | f1 |" in md and "![curves]" in md


def test_resume_skips_finished_runs_and_redoes_only_the_missing_one(comparison, base_cfg):
    out, _, _ = comparison
    before = {
        n: (out / "runs" / n / "metrics.json").stat().st_mtime_ns
        for n in ("heads-s0", "full-s0", "full-s1")
    }
    shutil.rmtree(out / "runs" / "heads-s1")  # an interrupted run: nothing to resume from
    # The re-run trains in a subprocess (the default), so its peak memory is its own.
    outcomes = run_comparison(base_cfg, out, ["heads", "full"], seeds=2)
    status = {o.name: o.status for o in outcomes}
    assert status == {
        "heads-s0": "reused",
        "heads-s1": "done",
        "full-s0": "reused",
        "full-s1": "reused",
    }
    after = {n: (out / "runs" / n / "metrics.json").stat().st_mtime_ns for n in before}
    assert after == before
    redone = next(o for o in outcomes if o.name == "heads-s1")
    assert redone.memory_kind == "rss (run)" and redone.peak_memory_mb > 50


def test_cli_compare_resumes_and_prints_the_table(comparison, tmp_path):
    from polyhead.cli import app

    out, _, _ = comparison
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            json.loads(
                json.dumps(
                    validate_config(
                        yaml.safe_load((out / "configs" / "full-s0.yaml").read_text())
                    ).model_dump()
                )
            )
        )
    )
    args = [
        "compare",
        str(config),
        "--strategies",
        "full",
        "--seeds",
        "1",
        "--out",
        str(out),
        "--set",
        "trainer.seed=42",
        "--in-process",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "full-s0: reused" in result.output and "full" in result.output
    bad = CliRunner().invoke(
        app, ["compare", str(config), "--strategies", "ful", "--out", str(out)]
    )
    assert bad.exit_code != 0 and "--strategies" in str(bad.exception or bad.output)
