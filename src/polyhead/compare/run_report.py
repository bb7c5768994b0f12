"""Per-run report, written by `train()` into its run directory:

    RUN/analysis.json    dev confusions of the best model per sentence task (most frequent first)
    RUN/plots/*.png      validation curves, per-entity-type F1, most frequent confusions
    RUN/report.md        metrics tables and the plots

`polyhead compare` reuses analysis.json of its best run (or computes it if missing).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch

from polyhead.compare import plots
from polyhead.compare.collect import TASK_METRICS, load_run, task_kinds


@torch.inference_mode()
def analyse(model, data, split: str = "dev", top: int = 30) -> dict:
    """Predict `split` of a data module with `model`; count sentence-label confusions."""
    from polyhead.engine.evaluation import PredictionCollector

    collector = PredictionCollector(
        data.sources, data.kinds, data.label_sets, split, model.crf_heads()
    )
    model.eval()
    device = next(model.parameters()).device
    for loader in data.eval_dataloaders(split):
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            collector.add(batch, model.head_logits(model.features(batch)))
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
    import yaml

    from polyhead.config import validate_config
    from polyhead.data import LabelSet
    from polyhead.engine.datamodule import MultiTaskDataModule

    cfg = validate_config(yaml.safe_load((run_dir / "config.yaml").read_text()))
    label_sets = {t.name: LabelSet(t.labels) for t in model.spec.tasks}
    return MultiTaskDataModule(cfg, model.tokenizer, label_sets=label_sets)


def load_analysis(run_dir: Path, data=None) -> dict:
    """analysis.json of a run, computed (and saved) from its best model if missing."""
    path = Path(run_dir) / "analysis.json"
    if path.exists():
        return json.loads(path.read_text())
    from polyhead.model.multitask import MultiTaskModel

    model = MultiTaskModel.load(Path(run_dir) / "model")
    data = data or data_for_run(Path(run_dir), model)
    result = analyse(model, data) if data.has_split("dev") else {"confusions": {}}
    path.write_text(json.dumps(result, indent=2))
    return result


def curve_keys(kinds: dict[str, str], history: list[dict]) -> list[str]:
    keys = ["score"] + [f"{t}/{TASK_METRICS[k][0]}" for t, k in kinds.items()]
    last = history[-1].get("metrics", {}) if history else {}
    return keys + sorted(k for k in last if k.startswith("frame_accuracy"))


def run_plots(record, analysis: dict, folder: Path, kinds: dict[str, str]) -> list[Path]:
    """Curves, per-type F1 bars (dev) and confusion bars of one run."""
    out = [
        plots.run_curves(record.history, curve_keys(kinds, record.history), folder / "curves.png")
    ]
    dev = record.metrics.get("dev", {})
    for task, kind in kinds.items():
        if kind == "token":
            per_type = (dev.get(task) or {}).get("per_type") or {}
            out.append(
                plots.entity_f1_bars(
                    per_type, f"{task}: dev F1 per entity type", folder / f"entity_f1_{task}.png"
                )
            )
    for task, pairs in analysis.get("confusions", {}).items():
        out.append(
            plots.confusion_bars(
                pairs, f"{task}: most frequent dev confusions", folder / f"confusions_{task}.png"
            )
        )
    return [p for p in out if p is not None]


def metrics_markdown(metrics: dict, kinds: dict[str, str]) -> str:
    """| task | metric | dev | test | for every task metric, frame accuracy and score."""
    splits = [s for s in ("dev", "test") if s in metrics]
    lines = ["| task | metric | " + " | ".join(splits) + " |", "|---|---|" + "---|" * len(splits)]
    for task, kind in kinds.items():
        for name in TASK_METRICS[kind]:
            vals = [_fmt((metrics[s].get(task) or {}).get(name)) for s in splits]
            lines.append(f"| {task} | {name} | " + " | ".join(vals) + " |")
    keys = sorted({k for s in splits for k in metrics[s] if k.startswith("frame_accuracy")})
    for key in [*keys, "score"]:
        lines.append(
            f"| all | {key} | " + " | ".join(_fmt(metrics[s].get(key)) for s in splits) + " |"
        )
    return "\n".join(lines)


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


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
        f"Best epoch: {record.metrics.get('best_epoch')}; training time: {_fmt(seconds)} s; "
        f"trainable parameters: {record.trainable_params}.",
        "## Metrics (best model)",
        metrics_markdown(record.metrics, kinds),
        "## Plots",
        *[f"![{p.stem}](plots/{p.name})" for p in images],
    ]
    if plan:
        parts += ["## Plan", "```", plan.rstrip(), "```"]
    path = run_dir / "report.md"
    path.write_text("\n\n".join(parts) + "\n")
    return path
