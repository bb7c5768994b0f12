"""The embedding guard on a tiny model: the watched embedding's start value is an untrained
evaluation, its drift reaches history.jsonl and metrics.json, max_drop vetoes an epoch that
loses too much of it, and `preserve: [embedding]` pulls the embedding back toward the start
(at weight 0 it changes nothing)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from polyhead.config import validate_config
from polyhead.data.pairs import read_pairs
from polyhead.data.rows import batches_in_order
from polyhead.engine.callbacks import BestArtifactCallback
from polyhead.engine.embedding_eval import evaluate_pairs
from polyhead.engine.embedding_guard import START_FILE
from polyhead.engine.guard import DriftGuard
from polyhead.engine.train import prepare, train
from polyhead.model.multitask import MultiTaskModel
from tests.engine.embedding.toy import embedding_raw, labelled, pair_files, write_jsonl


def head_config(backbone, tmp_path, **trainer):
    """A topic head only (full fine-tuning moves the embedding as a side effect)."""
    train_file = write_jsonl(tmp_path / "train.jsonl", labelled(32, 0))
    dev_file = write_jsonl(tmp_path / "dev.jsonl", labelled(16, 1))
    task = {"kind": "sentence", "data": {"train": str(train_file), "dev": str(dev_file)}}
    raw = embedding_raw(
        backbone, {"topic": task}, plan={"head_lr": 1e-2, "backbone_lr": 1e-2}, trainer=trainer
    )
    return validate_config(raw)


def test_watched_embedding_starts_at_the_untrained_evaluation(tiny_bert, tmp_path):
    watch = pair_files(tmp_path, "scored")["dev"]
    cfg = head_config(tiny_bert, tmp_path, epochs=2, watch_embedding=watch, max_drop=100.0)
    _, untrained, _ = prepare(cfg)
    before = evaluate_pairs(untrained, read_pairs(watch))["spearman"]
    metrics = train(cfg, tmp_path / "run").metrics
    drift = metrics["drift"]["embedding"]
    assert drift["start"] == pytest.approx(before, abs=1e-9)
    best = MultiTaskModel.load(tmp_path / "run" / "model")
    assert drift["best"] == pytest.approx(evaluate_pairs(best, read_pairs(watch))["spearman"])
    assert drift["drop"] == pytest.approx(100 * (drift["start"] - drift["best"]))
    assert drift["best"] != pytest.approx(drift["start"])  # the backbone moved: a real check
    history = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").open()]
    assert [r["drift"]["embedding"]["start"] for r in history] == [drift["start"]] * 2
    assert history[-1]["drift"]["embedding"]["current"] == pytest.approx(drift["final"])
    assert list(metrics["drift"]) == ["embedding"]  # no head is watched
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| embedding |" in report and "retrieval mrr@10" in report


def test_max_drop_applies_to_the_embedding(tmp_path):
    best = BestArtifactCallback(tmp_path / "model", dict, 0.0)
    values = iter([0.70, 0.85])
    guard = DriftGuard([], 2.0, best, tmp_path, probes={"embedding": lambda model: next(values)})
    guard.start = {"embedding": 0.86}
    trainer = SimpleNamespace(
        sanity_checking=False, current_epoch=0, should_stop=False, is_global_zero=True
    )
    module = SimpleNamespace(last_metrics={"score": 0.5}, kinds={}, model=None, history_extras={})
    guard.on_validation_end(trainer, module)  # 16 points below the start: vetoed, stop
    assert trainer.should_stop and not all(v() for v in best.vetoes)
    assert module.history_extras["drift"]["embedding"]["drop"] == pytest.approx(16.0)
    trainer.current_epoch, trainer.should_stop = 1, False
    guard.on_validation_end(trainer, module)  # 1 point below: allowed
    assert not trainer.should_stop and all(v() for v in best.vetoes)
    assert guard.summary(best_epoch=1)["drift"]["embedding"]["best"] == pytest.approx(0.85)


def _params(folder) -> dict[str, torch.Tensor]:
    return dict(MultiTaskModel.load(folder).named_parameters())


@torch.no_grad()
def _start_cosine(data, folder, start: torch.Tensor) -> float:
    """Mean cosine between a saved model's training-sentence embeddings and `start`."""
    model = MultiTaskModel.load(folder)
    rows = data.rows("train")[0]
    now = torch.cat([model.features(b)["embedding"] for b in batches_in_order(rows, 64)])
    return float(torch.nn.functional.cosine_similarity(now, start).mean())


def test_preserve_embedding_pulls_toward_the_start_and_weight_zero_is_inert(tiny_bert, tmp_path):
    plain = head_config(tiny_bert, tmp_path, epochs=2)
    train(plain, tmp_path / "plain")
    zero = head_config(
        tiny_bert, tmp_path, epochs=2, preserve=["embedding"], preserve_embedding_weight=0.0
    )
    train(zero, tmp_path / "zero")
    a, b = _params(tmp_path / "plain" / "model"), _params(tmp_path / "zero" / "model")
    assert all(torch.equal(a[n], b[n]) for n in a)  # weight 0: the very same training
    assert not (tmp_path / "zero" / START_FILE).exists()  # nothing computed

    kept = head_config(
        tiny_bert, tmp_path, epochs=2, preserve=["embedding"], preserve_embedding_weight=20.0
    )
    train(kept, tmp_path / "kept")
    data, untrained, _ = prepare(kept)
    start = load_file(str(tmp_path / "kept" / START_FILE))["0"]
    rows = data.rows("train")[0]
    with torch.no_grad():
        untrained.eval()
        expected = torch.cat(
            [untrained.features(x)["embedding"] for x in batches_in_order(rows, 64)]
        )
    assert torch.allclose(start, expected, atol=1e-5)  # the untrained model's embeddings
    drifted = _start_cosine(data, tmp_path / "plain" / "model", start)
    preserved = _start_cosine(data, tmp_path / "kept" / "model", start)
    assert drifted < 0.99 and preserved > drifted + (1 - drifted) / 2, (drifted, preserved)
