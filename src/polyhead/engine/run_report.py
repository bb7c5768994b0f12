"""Per-run report, written by `train()` into its run directory (plots and tables come from
polyhead.report):

    RUN/analysis.json    dev confusions of the best model per sentence task (most frequent first)
    RUN/plots/*.png      validation curves, per-entity-type F1, most frequent confusions
    RUN/report.md        metrics tables and the plots

`polyhead compare` reuses analysis.json of its best run (or computes it if missing).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from polyhead.config import validate_config
from polyhead.data.labels import LabelSet
from polyhead.engine.datamodule import MultiTaskDataModule
from polyhead.engine.evaluation import PredictionCollector
from polyhead.model.kinds import output_heads
from polyhead.model.multitask import MultiTaskModel
from polyhead.report.runs import (
    drift_markdown,
    fmt_value,
    load_run,
    metrics_markdown,
    run_plots,
    task_kinds,
)


def analyse(model, data, split: str = "dev", top: int = 30) -> dict:
    """Predict `split` of a data module with `model`; count sentence-label confusions."""
    collector = PredictionCollector(
        data.sources, data.kinds, data.label_sets, split, model.crf_heads(), output_heads(model)
    )
    batches = (b for loader in data.eval_dataloaders(split) for b in loader)
    collector.collect(model, batches)
    confusions = {}
    for src in data.sources:
        examples = src.splits.get(split) or []
        for task in src.tasks:
            if data.kinds[task] != "sentence" or not examples:
                continue
            preds = collector.predictions(src, task)
            pairs = Counter((ex.label, p) for ex, p in zip(examples, preds, strict=True))
            confusions[task] = [[g, p, n] for (g, p), n in pairs.most_common() if g != p][:top]
    return {"split": split, "confusions": confusions}


def data_for_run(run_dir: Path, model):
    """The run's data module, rebuilt from its config.yaml with the model's label sets."""
    cfg = validate_config(yaml.safe_load((run_dir / "config.yaml").read_text()))
    label_sets = {t.name: LabelSet(t.labels) for t in model.spec.tasks}
    return MultiTaskDataModule(cfg, model.tokenizer, label_sets=label_sets)


def load_analysis(run_dir: Path, data=None) -> dict:
    """analysis.json of a run, computed (and saved) from its best model if missing."""
    path = Path(run_dir) / "analysis.json"
    if path.exists():
        return json.loads(path.read_text())
    model = MultiTaskModel.load(Path(run_dir) / "model")
    data = data or data_for_run(Path(run_dir), model)
    result = analyse(model, data) if data.has_split("dev") else {"confusions": {}}
    path.write_text(json.dumps(result, indent=2))
    return result


def write_run_report(run_dir, data=None) -> Path:
    """analysis.json, plots/ and report.md for a finished run directory."""
    run_dir = Path(run_dir)
    record = load_run(run_dir, strategy="", seed=0)
    if record is None:
        raise FileNotFoundError(f"{run_dir}: no metrics.json (the run has not finished)")
    kinds = task_kinds([record])
    analysis = load_analysis(run_dir, data)
    images = run_plots(record, analysis, run_dir / "plots", kinds)
    plan = (run_dir / "plan.txt").read_text() if (run_dir / "plan.txt").exists() else ""
    seconds = record.metrics.get("train_seconds")
    parts = [
        f"# Run report: {run_dir.name}",
        f"Best epoch: {record.metrics.get('best_epoch')}; training time: {fmt_value(seconds)} s; "
        f"trainable parameters: {record.trainable_params}.",
        "## Metrics (best model)",
        metrics_markdown(record.metrics, kinds),
    ]
    drift = drift_markdown(record.metrics)
    if drift:  # the guard's watched heads / embedding, against their value before training
        parts += ["## Drift (dev, before training vs the saved model)", drift]
    parts += [
        "## Plots",
        *[f"![{p.stem}](plots/{p.name})" for p in images],
    ]
    if plan:
        parts += ["## Plan", "```", plan.rstrip(), "```"]
    path = run_dir / "report.md"
    path.write_text("\n\n".join(parts) + "\n")
    return path
