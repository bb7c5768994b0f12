"""Embedding tasks in real `train()` runs on a tiny BERT: each loss falls on its toy pair
set, validation scores the embedding the way `evaluate --pairs` does, pairs made from a
sentence task's labels are new each epoch, and the plan and config say what trains."""

from __future__ import annotations

import json

import pytest
import torch

from polyhead.config import validate_config
from polyhead.data.pair_rows import collate_pairs
from polyhead.data.pairs import read_pairs
from polyhead.engine.embedding_eval import evaluate_pairs
from polyhead.engine.train import prepare, train
from polyhead.errors import ConfigError, DataError
from polyhead.model.embedding_task import is_pair_batch, pair_loss
from polyhead.model.multitask import MultiTaskModel
from polyhead.plan import plan_json, plan_text
from tests.engine.embedding.toy import embedding_raw, labelled, pair_files, write_jsonl


@torch.no_grad()
def train_loss(model, pair_source) -> float:
    """The task's loss over all its training pairs in one batch, dropout off."""
    rows = pair_source.rows["train"]
    batch = collate_pairs([rows[i] for i in range(len(rows))])
    model.eval()
    loss = pair_loss(model, batch, pair_source.loss, pair_source.scale, pair_source.score_scale)
    return float(loss)


@pytest.mark.parametrize(
    ("kind", "loss", "extra"),
    [("scored", "cosent", {}), ("scored", "cosine", {}), ("triples", "mnrl", {})],
)
def test_each_loss_falls_in_training(tiny_bert, tmp_path, kind, loss, extra):
    task = {"kind": "embedding", "data": pair_files(tmp_path, kind), "loss": loss, **extra}
    cfg = validate_config(embedding_raw(tiny_bert, {"sim": task}))
    data, untrained, _ = prepare(cfg)
    (source,) = data.pair_sources
    assert source.loss == loss
    before = train_loss(untrained, source)
    metrics = train(cfg, tmp_path / "run").metrics
    after = train_loss(MultiTaskModel.load(tmp_path / "run" / "model"), source)
    assert after < 0.8 * before, (before, after)
    main = "spearman" if kind == "scored" else "mrr@10"
    assert metrics["dev"]["score"] == pytest.approx(metrics["dev"]["sim"][main])


def test_validation_scores_pairs_like_evaluate(tiny_bert, tmp_path):
    files = pair_files(tmp_path, "scored")
    task = {"kind": "embedding", "data": files}  # scored pairs: cosine by default
    cfg = validate_config(embedding_raw(tiny_bert, {"sts": task}, trainer={"epochs": 1}))
    metrics = train(cfg, tmp_path / "run").metrics
    best = MultiTaskModel.load(tmp_path / "run" / "model")
    expected = evaluate_pairs(best, read_pairs(files["dev"]))
    assert metrics["dev"]["sts"]["spearman"] == pytest.approx(expected["spearman"], abs=1e-6)
    assert metrics["dev"]["sts"]["n"] == 32
    history = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").open()]
    assert history[0]["metrics"]["sts"]["spearman"] == pytest.approx(expected["spearman"])
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert plan["losses"] == [
        "embedding task sts: cosine loss on the pooled embedding "
        "(scored pairs, scores / 5), weight 1; no head, it trains the backbone"
    ]


@pytest.mark.parametrize(("given", "used"), [(None, 5.0), (10.0, 10.0)])
def test_the_cosine_loss_scales_scores_by_the_largest_unless_told(tiny_bert, tmp_path, given, used):
    task = {"kind": "embedding", "data": pair_files(tmp_path, "scored"), "score_scale": given}
    data, _, _ = prepare(validate_config(embedding_raw(tiny_bert, {"sts": task})))
    (source,) = data.pair_sources
    assert (source.loss, source.score_scale) == ("cosine", used)  # the toy's scores are 0 or 5


def test_pairs_from_labels_train_with_the_head(tiny_bert, tmp_path):
    train_file = write_jsonl(tmp_path / "train.jsonl", labelled(32, 0))
    dev_file = write_jsonl(tmp_path / "dev.jsonl", labelled(16, 1))
    tasks = {
        "topic": {"kind": "sentence", "data": {"train": str(train_file), "dev": str(dev_file)}},
        "setfit": {"kind": "embedding", "pairs_from": "topic"},
    }
    cfg = validate_config(embedding_raw(tiny_bert, tasks, trainer={"sampling": "temperature"}))
    data, untrained, plan = prepare(cfg)
    (source,) = data.pair_sources
    rows = source.rows["train"]
    assert (source.loss, len(rows)) == ("cosine", 64)  # one positive, one negative per sentence
    first = list(rows.items)
    data.set_epoch(1)
    assert len(rows) == 64 and rows.items != first  # new pairs, same number
    data.set_epoch(0)
    assert rows.items == first  # seeded by seed + epoch
    assert data.task_sampler().sizes == [32, 64]
    batches = list(data.train_dataloader())
    kinds = {is_pair_batch(b) for b in batches}
    assert kinds == {True, False}  # both sources feed the epoch, one source per batch
    before = train_loss(untrained, source)
    metrics = train(cfg, tmp_path / "run").metrics
    after = train_loss(MultiTaskModel.load(tmp_path / "run" / "model"), source)
    assert after < 0.8 * before, (before, after)
    assert set(metrics["dev"]["retrieval"]["topic"]) >= {"mrr@10", "recall@1", "recall@10"}
    assert "setfit" not in metrics["dev"]  # no dev pairs: the head's retrieval shows it
    assert "embedding task setfit: cosine loss" in plan_text(plan)


def test_a_bad_pairs_line_is_a_one_line_error(tiny_bert, tmp_path):
    files = pair_files(tmp_path, "scored")
    lines = (tmp_path / "scored-train.jsonl").read_text().splitlines()
    lines[2] = '{"text": "a", "text_pair": "b", "score": "high"}'
    (tmp_path / "scored-train.jsonl").write_text("\n".join(lines) + "\n")
    cfg = validate_config(embedding_raw(tiny_bert, {"sts": {"kind": "embedding", "data": files}}))
    with pytest.raises(DataError) as err:
        prepare(cfg)
    assert "\n" not in str(err.value)
    assert "scored-train.jsonl:3" in str(err.value) and "score" in str(err.value)


@pytest.mark.parametrize(
    ("task", "sections", "field"),
    [
        ({"loss": "mnrl"}, {}, "tasks.sts.loss"),
        ({"score_scale": 2.5}, {}, "tasks.sts.score_scale"),  # STS 0..5 / 2.5 > 1 for a cosine
        ({}, {"plan": {"strategy": "heads"}}, "tasks.sts"),  # the backbone never trains
    ],
)
def test_settings_that_cannot_train_are_refused(tiny_bert, tmp_path, task, sections, field):
    files = pair_files(tmp_path, "scored")
    raw = embedding_raw(tiny_bert, {"sts": {"kind": "embedding", "data": files, **task}})
    for key, value in sections.items():
        raw[key] = {**raw[key], **value}
    with pytest.raises(ConfigError) as err:
        prepare(validate_config(raw))
    assert err.value.field == field


def test_config_rules(tiny_bert, tmp_path):
    files = pair_files(tmp_path, "scored")
    head = {"kind": "sentence", "data": {"train": str(tmp_path / "x.jsonl")}}
    cases = [
        ({"e": {"kind": "embedding"}}, {}, "tasks.e"),  # neither data nor pairs_from
        ({"h": head, "e": {"kind": "embedding", "pairs_from": "nope"}}, {}, "tasks.e.pairs_from"),
        ({"h": {**head, "loss": "mnrl"}}, {}, "tasks.h"),  # embedding fields on a head
        ({"e": {"kind": "embedding", "data": files}}, {"sampling": "mixed"}, "trainer.sampling"),
        ({"e": {"kind": "embedding", "data": files}}, {"max_drop": 1.0}, "trainer.max_drop"),
        ({"h": head}, {"preserve": ["nope"]}, "trainer.preserve"),
    ]
    for tasks, trainer, field in cases:
        with pytest.raises(ConfigError) as err:
            validate_config(embedding_raw(tiny_bert, tasks, trainer=trainer))
        assert err.value.field == field, (tasks, trainer)

    # a dumped config validates again (tune, compare and config.yaml round-trip it)
    raw = embedding_raw(tiny_bert, {"h": head, "e": {"kind": "embedding", "pairs_from": "h"}})
    dumped = validate_config(raw).model_dump()
    assert validate_config(dumped).model_dump() == dumped


def test_an_idle_embedding_task_is_allowed_anywhere(tiny_bert, tmp_path):
    """loss_weight 0 turns the task off (a compare setting for strategies without a
    trainable backbone): no pairs batch, the plan says so."""
    train_file = write_jsonl(tmp_path / "train.jsonl", labelled(16, 0))
    dev_file = write_jsonl(tmp_path / "dev.jsonl", labelled(4, 1))  # else 10 % of train is carved
    tasks = {
        "topic": {"kind": "sentence", "data": {"train": str(train_file), "dev": str(dev_file)}},
        "setfit": {"kind": "embedding", "pairs_from": "topic", "loss_weight": 0},
    }
    cfg = validate_config(embedding_raw(tiny_bert, tasks, plan={"strategy": "heads"}))
    data, _, plan = prepare(cfg)
    assert data.task_sampler().sizes == [16, 0]
    assert "off (loss_weight 0)" in plan_json(plan)["losses"][0]
