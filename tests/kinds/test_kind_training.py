"""The vector kinds trained in one model with intent + slots (tiny random backbone): each
task from its own source, thresholds chosen on dev and stored, targets standardised."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import polyhead
from polyhead.config import validate_config
from polyhead.data.readers import read_examples
from polyhead.engine.evaluation import evaluate_examples
from polyhead.engine.kinds_eval import check_kinds
from polyhead.errors import ConfigError
from polyhead.kind_metrics import choose_thresholds
from polyhead.model.multitask import MultiTaskModel
from polyhead.predict import tokenize
from tests.conftest import demo_raw
from tests.kinds import toy

COLOURS, OTHER = ["red", "blue", "green"], ["cat", "dog", "runs", "the", "big", "now"]


def colour_files(folder, n_train=96, n_eval=32, seed=0) -> tuple[dict, dict]:
    """Sentences of random words: multilabel = the colours present, regression = how many
    colour words. Both follow from the words alone, so a small model can learn them."""
    rng = random.Random(seed)
    ml, reg = {}, {}
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        sents = [rng.choices(COLOURS + OTHER, k=rng.randint(2, 6)) for _ in range(n)]
        ml_rows = [{"text": " ".join(s), "label": sorted(set(s) & set(COLOURS))} for s in sents]
        reg_rows = [{"text": " ".join(s), "label": sum(w in COLOURS for w in s)} for s in sents]
        ml[split] = str(toy.write(folder / f"c-ml-{split}.jsonl", ml_rows))
        reg[split] = str(toy.write(folder / f"c-reg-{split}.jsonl", reg_rows))
    return ml, reg


@pytest.fixture(scope="module")
def mixed_run(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kinds")
    raw = demo_raw(tiny_bert, train=32, eval=16)
    raw["tasks"]["types"] = {"kind": "multilabel", "data": toy.multilabel_files(tmp)}
    raw["tasks"]["nslots"] = {"kind": "regression", "data": toy.regression_files(tmp)}
    raw["tasks"]["same"] = {"kind": "pair", "head": "regression", "data": toy.pair_files(tmp)}
    raw["trainer"].update(epochs=2, sampling="round_robin")
    run = polyhead.train(raw, out=tmp / "run", show_plan=False)
    return run, tmp


def test_every_kind_scored_in_one_model(mixed_run):
    run, _ = mixed_run
    for split in ("dev", "test"):
        m = run.metrics[split]
        assert {"accuracy", "macro_f1"} <= set(m["intent"]) and "f1" in m["slots"]
        assert {"micro_f1", "macro_f1", "subset_accuracy"} <= set(m["types"])
        assert {"pearson", "spearman", "mae", "mse"} <= set(m["nslots"])
        assert {"pearson", "spearman", "mae"} <= set(m["same"])
        assert m["types"]["n"] == m["nslots"]["n"] == 24 and m["same"]["n"] == 24
        assert all(0.0 <= m["types"][k] <= 1.0 for k in ("micro_f1", "subset_accuracy"))
        assert np.isfinite(m["score"])


def test_stored_thresholds_are_the_ones_chosen_on_dev(mixed_run):
    run, tmp = mixed_run
    model = MultiTaskModel.load(run.run_dir / "model")
    dev = read_examples(tmp / "ml-dev.jsonl")
    names = model.spec.task("types").labels
    gold = np.array([[n in ex.labels for n in names] for ex in dev], dtype=int)
    with torch.inference_mode():
        feats = model.features(tokenize(model, [ex.text for ex in dev]))
        probs = model.heads["types"].outputs(model.head_logits(feats)["types"]).numpy()
    stored = model.heads["types"].thresholds.numpy()
    assert not np.allclose(stored, 0.5)  # chosen, not the initial value
    assert stored == pytest.approx(np.array(choose_thresholds(gold, probs)), abs=1e-6)


def test_targets_standardised_with_training_statistics(mixed_run):
    run, tmp = mixed_run
    model = MultiTaskModel.load(run.run_dir / "model")
    train = [json.loads(line)["label"] for line in (tmp / "reg-train.jsonl").open()]
    head = model.heads["nslots"]
    assert head.mean.item() == pytest.approx(np.mean(train), abs=1e-5)
    assert head.std.item() == pytest.approx(np.std(train), abs=1e-5)
    out = polyhead.load(run.run_dir / "model").predict(["wake me up at seven"])[0]
    assert set(out["types"]) == {"labels", "scores"} and "value" in out["nslots"]
    assert "same" not in out


def test_evaluate_on_files_matches_the_runs_dev_metrics(mixed_run):
    run, tmp = mixed_run
    model = MultiTaskModel.load(run.run_dir / "model")
    for task, name in (("types", "ml"), ("nslots", "reg"), ("same", "pair")):
        examples = read_examples(tmp / f"{name}-dev.jsonl")
        scored = evaluate_examples(model, examples)
        got, want = scored[task], run.metrics["dev"][task]
        # a pair task scores the examples with a second text, the other tasks the rest
        other = "nslots" if task == "same" else "same"
        assert scored[other] == {"n": 0}, (task, other)
        assert got["n"] == want["n"] == 24
        for key in ("micro_f1", "subset_accuracy", "spearman", "mae"):
            if key in want:
                assert got[key] == pytest.approx(want[key], abs=1e-6), (task, key)


def test_multilabel_and_regression_learn(tiny_bert, tmp_path):
    ml, reg = colour_files(tmp_path)
    raw = demo_raw(tiny_bert, train=8, eval=8)
    raw["tasks"] = {
        "colours": {"kind": "multilabel", "data": ml},
        "count": {"kind": "regression", "data": reg},
    }
    # 10 epochs: at 6, length-bucketed batches (the default since issue 17) left micro-F1 at 0.69
    raw["trainer"].update(epochs=10, batch_size=16)
    raw["plan"].update(head_lr=1e-2, backbone_lr=3e-3)
    test = polyhead.train(raw, out=tmp_path / "run", show_plan=False).metrics["test"]
    assert test["colours"]["micro_f1"] > 0.7  # predicting every colour everywhere: ~0.6
    assert test["count"]["spearman"] > 0.5


def test_frozen_strategy_and_class_weights_refuse_new_kinds(tiny_bert):
    raw = demo_raw(tiny_bert)
    raw["tasks"]["types"] = {"kind": "multilabel"}
    with pytest.raises(ConfigError, match="plan.strategy.*'types' is multilabel"):
        check_kinds(validate_config({**raw, "plan": {"strategy": "frozen"}}))
    raw["tasks"]["types"]["class_weights"] = "balanced"
    with pytest.raises(ConfigError, match="tasks.types.class_weights"):
        check_kinds(validate_config(raw))


def test_pair_task_without_pairs_and_pairs_for_a_plain_task(tiny_bert, tmp_path):
    raw = demo_raw(tiny_bert)
    raw["tasks"]["same"] = {"kind": "pair", "data": {"train": str(toy.DEMO / "train.jsonl")}}
    with pytest.raises(ConfigError, match="tasks.same.data.*two texts"):
        polyhead.train(raw, out=tmp_path / "a", show_plan=False)
    raw["tasks"]["same"] = {"kind": "regression", "data": toy.pair_files(tmp_path)}
    with pytest.raises(ConfigError, match="tasks.same.kind.*use kind: pair"):
        polyhead.train(raw, out=tmp_path / "b", show_plan=False)
