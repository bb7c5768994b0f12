"""`strategy: frozen`: features once, external classifiers saved as arrays in the artifact, and
predict / evaluate use them through the same API as trained heads."""

import json
from collections import Counter

import numpy as np
import torch

from polyhead.data import read_examples
from polyhead.data.sources import load_splits
from polyhead.engine.evaluation import evaluate_examples
from polyhead.engine.train import train
from polyhead.model import MultiTaskModel
from polyhead.predict import Predictor, tokenize
from tests.conftest import DEMO
from tests.features.conftest import run_config

TEXTS = ["wake me up at seven tomorrow", "play jazz by miles davis", "", "weather in paris"]


def test_frozen_run_saves_array_classifiers_that_predict_and_evaluate(tiny_bert, tmp_path):
    cfg = run_config(
        tiny_bert,
        tmp_path / "cache",
        plan={"strategy": "frozen"},
        data={"max_eval_examples": None},  # all 300 test sentences, as evaluate reads them
        features={"layers": "last2_concat", "classifier": {"C": 0.5}},
    )
    result = train(cfg, tmp_path / "run")
    run = result.run_dir
    for name in ("config.yaml", "plan.txt", "history.jsonl", "metrics.json"):
        assert (run / name).exists(), name
    files = {p.name for p in (run / "model").rglob("*") if p.is_file()}
    assert {"classifiers.json", "classifiers.safetensors", "polyhead.json"} <= files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib", ".bin"))]
    info = json.loads((run / "model" / "external" / "classifiers.json").read_text())
    assert info["intent"]["kind"] == "sentence" and info["intent"]["C"] == 0.5
    assert info["slots"]["kind"] == "token" and "O" in info["slots"]["classes"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["classifiers"]["intent"]["n_train"] == 48
    # 48 training sentences cover half of MASSIVE's 60 intents: the bar is the majority
    # class of the run's own training sample, scored on dev.
    splits = load_splits(cfg.data, cfg.trainer.seed)
    top = Counter(ex.label for ex in splits["train"]).most_common(1)[0][0]
    majority = sum(ex.label == top for ex in splits["dev"]) / len(splits["dev"])
    assert metrics["dev"]["intent"]["accuracy"] > 1.5 * majority  # 0.12 vs 0.06 here

    model = MultiTaskModel.load(run / "model")
    assert model.spec.layers.last_n == 2 and model.hidden_size == 64  # concat of 2 x 32
    assert set(model.external_heads) == {"intent", "slots"}
    # the external heads are what head_logits returns
    batch = tokenize(model, TEXTS)
    feats = model.features(batch)
    torch.testing.assert_close(
        model.head_logits(feats)["intent"], model.external_heads["intent"](feats)
    )

    # save -> load -> predict identical, and evaluate agrees with the run's own test metrics
    first = Predictor(model).predict(TEXTS, embeddings=True)
    model.save(tmp_path / "again")
    second = Predictor(MultiTaskModel.load(tmp_path / "again")).predict(TEXTS, embeddings=True)
    assert first == second
    assert first[2]["intent"]["label"] in model.spec.task("intent").labels  # empty text too
    scored = evaluate_examples(model, read_examples(DEMO / "test.jsonl"))
    assert np.isclose(scored["intent"]["accuracy"], metrics["test"]["intent"]["accuracy"])
    assert np.isclose(scored["slots"]["f1"], metrics["test"]["slots"]["f1"])
