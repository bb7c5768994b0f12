"""polyhead.train with data from where users have it, then polyhead.load and predict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

import polyhead
from polyhead.data import read_examples
from tests.api.conftest import api_config
from tests.conftest import DEMO
from tests.data.test_frames import INTENTS, TAGS


def test_datasetdict_in_model_out(tiny_bert, tmp_path):
    """The README's promise, under 20 lines: ClassLabel intents and Sequence(ClassLabel) tags
    in a DatasetDict, trained from a dict config, loaded back, predicting label names."""
    demo = read_examples(DEMO / "train.jsonl")[:40]
    columns = {
        "tokens": [e.tokens for e in demo],
        "intent": [INTENTS.index(e.label) for e in demo],
        "tags": [[TAGS.index(t) for t in e.tags] for e in demo],
    }
    features = Features(
        tokens=Sequence(Value("string")),
        intent=ClassLabel(names=INTENTS),
        tags=Sequence(ClassLabel(names=TAGS)),
    )
    ds = Dataset.from_dict(columns, features=features)
    data = DatasetDict(train=ds.select(range(32)), validation=ds.select(range(32, 40)))
    run = polyhead.train(api_config(tiny_bert), data=data, out=tmp_path / "run", show_plan=False)
    preds = polyhead.load(run.model_dir).predict(["play some jazz", "wake me up at seven"])
    assert all(p["intent"]["label"] in INTENTS for p in preds)  # names, not ids
    assert {e["type"] for p in preds for e in p["slots"]} <= {t[2:] for t in TAGS}
    assert run.metrics["dev"]["intent"]["n"] == 8  # "validation" is the dev split


def test_run_has_metrics_paths_and_model(trained, intent_slots):
    saved = json.loads(trained.paths["metrics.json"].read_text())
    assert saved["test"]["intent"] == trained.metrics["test"]["intent"]
    assert trained.metrics["dev"]["intent"]["n"] == len(intent_slots["validation"])
    assert trained.model.tasks == {"intent": "sentence", "slots": "token"}
    # the names come from the ClassLabel (sorted as polyhead sorts labels), not its ids
    names = intent_slots["train"].features["intent"].int2str
    seen = {names(i) for i in intent_slots["train"]["intent"]}
    assert trained.model.labels["intent"] == sorted(seen)


def test_evaluate_a_datasetdict_scores_its_test_split_like_training_did(trained, intent_slots):
    metrics = trained.model.evaluate(intent_slots)
    assert metrics["intent"] == trained.metrics["test"]["intent"]
    assert metrics["slots"]["f1"] == trained.metrics["test"]["slots"]["f1"]
    assert trained.model.evaluate(intent_slots, split="dev")["intent"]["n"] == 16


def test_predict_one_text_and_encode(trained):
    model = trained.model
    one = model.predict("play some jazz")
    assert one == model.predict(["play some jazz"])[0]
    vectors = model.encode(["play some jazz", "wake me up"])
    assert vectors.shape == (2, model.module.hidden_size)
    assert np.allclose(model.encode("play some jazz"), vectors[0], atol=1e-5)  # batch of one


def test_dataframe_sentence_task_and_list_token_task(tiny_bert, tmp_path, caplog):
    """Each task its own data: a DataFrame for intents, a list of words + tags for slots. No
    dev data: a seeded 10 % of each becomes dev, and one line says so for each."""
    examples = read_examples(DEMO / "train.jsonl")[:40]
    frame = pd.DataFrame(
        {"text": [e.text for e in examples], "intent": [e.label for e in examples]}
    )
    words = [{"words": e.tokens, "tags": e.tags} for e in examples]
    with caplog.at_level("WARNING", logger="polyhead"):
        run = polyhead.train(
            api_config(tiny_bert, epochs=1),
            data={"intent": frame, "slots": words},
            out=tmp_path / "run",
            show_plan=False,
        )
    carves = [r.getMessage() for r in caplog.records if "no dev data" in r.getMessage()]
    assert (
        carves
        == [
            "in-memory data: no dev data; a seeded 10% of train (4 examples) is the dev set "
            "(set data.dev_fraction, or 0 for none)"
        ]
        * 2
    )
    assert run.metrics["dev"]["intent"]["n"] == 4 and "f1" in run.metrics["dev"]["slots"]
    assert run.model.labels["intent"] == sorted({e.label for e in examples})


def test_mistyped_column_is_one_line_before_anything_loads(tiny_bert, tmp_path):
    frame = pd.DataFrame({"text": ["wake me up", "play jazz"], "intent": ["alarm", "music"]})
    config = api_config(tiny_bert)
    config["tasks"] = {"intent": {"kind": "sentence"}}
    with pytest.raises(polyhead.DataError) as e:
        polyhead.train(config, data=frame, columns={"label": "intnet"}, out=tmp_path / "r")
    assert str(e.value) == (
        "data: no column 'intnet' (data.columns.label); it has: text (str), intent (str)"
    )
    assert not (tmp_path / "r").exists()


def test_a_task_without_its_column_is_one_line(tiny_bert, tmp_path):
    frame = pd.DataFrame({"text": ["wake me up", "play jazz"], "intent": ["alarm", "music"]})
    with pytest.raises(polyhead.DataError, match=r"^data: no tags column for task 'slots'"):
        polyhead.train(api_config(tiny_bert), data=frame, out=tmp_path / "r")


def test_overrides_and_yaml_config(tiny_bert, tmp_path, intent_slots):
    import yaml

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(api_config(tiny_bert)))
    cfg = polyhead.build_config(
        path, intent_slots, overrides={"trainer__epochs": 4, "plan": {"head_lr": 0.01}}
    )
    assert (cfg.trainer.epochs, cfg.plan.head_lr, cfg.plan.strategy) == (4, 0.01, "heads")
    assert cfg.data.memory and cfg.trainer.batch_size == 8
    plan = polyhead.training_plan(path, intent_slots, **{"plan.strategy": "full"})
    assert plan.strategy == "full" and plan.epochs == 2
