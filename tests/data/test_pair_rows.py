"""Pairs as model inputs: each side tokenised like a sentence row, sides stacked side-major
in one padded batch, splits read and subsampled like a head's data source."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from polyhead.data.align import encode_words
from polyhead.data.pair_rows import (
    ChainRows,
    FilePairRows,
    RowLengths,
    collate_any,
    collate_pairs,
    load_pair_splits,
)
from polyhead.data.pairs import Pair
from polyhead.data.rows import padding_tokens
from polyhead.data.sources import DataSource
from polyhead.errors import ConfigError
from polyhead.model.backbone import default_model_path


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(default_model_path())


def test_sides_are_tokenised_like_sentence_rows_and_stacked(tokenizer):
    pairs = [
        Pair("wake me up", "set an alarm for seven", negative="play some jazz"),
        Pair("what is the weather", "wake me up", negative="order a pizza now please"),
    ]
    rows = FilePairRows(tokenizer, pairs, max_length=8, source=3)
    assert rows.with_negative and len(rows) == 2
    batch = collate_pairs([rows[0], rows[1]], pad_id=0)
    assert int(batch["pair_sides"]) == 3
    assert batch["input_ids"].shape[0] == 6  # (k * B, T): side-major
    assert batch["source"].tolist() == [3, 3] and batch["index"].tolist() == [0, 1]
    texts = ["wake me up", "what is the weather", "set an alarm for seven", "wake me up"]
    texts += ["play some jazz", "order a pizza now please"]
    enc = encode_words(tokenizer, [t.split() for t in texts], 8)
    for r, ids in enumerate(enc.input_ids):
        got = batch["input_ids"][r]
        assert got[: len(ids)].tolist() == ids  # the sentence-row tokenisation, truncated at 8
        assert batch["attention_mask"][r].sum() == len(ids)


def test_scores_kept_and_rows_chained(tokenizer):
    scored = FilePairRows(tokenizer, [Pair("a b", "c", score=4.5), Pair("d", "e f", 0.5)], 16, 0)
    assert not scored.with_negative
    batch = collate_any([scored[1], scored[0]])
    assert batch["score"].tolist() == [0.5, 4.5] and int(batch["pair_sides"]) == 2
    sentences = [{"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1], "index": 0}]
    chain = ChainRows([sentences, [], scored])
    assert len(chain) == 3 and chain[0] is sentences[0] and chain[2]["score"] == 0.5
    assert "pair_sides" not in collate_any([chain[0]])
    with pytest.raises(IndexError):
        chain[3]
    mixed = FilePairRows(tokenizer, [Pair("a", "b", negative="c")], 16, 0)
    with pytest.raises(ValueError, match="hard negative"):
        collate_pairs([mixed[0], scored[0]])


class EpochRows(list):
    """Rows that change with the epoch, like pairs made from labels (engine.pair_data)."""

    epoch = 0


def test_row_lengths_cover_pair_rows_and_follow_the_epoch(tokenizer):
    pairs = FilePairRows(tokenizer, [Pair("a", "b c d e"), Pair("f g", "h")], 16, 1)
    sentences = [{"input_ids": [101, 7, 102]}, {"input_ids": [101, 102]}]
    changing = EpochRows([{"input_ids": [1] * 4}])
    lengths = RowLengths([sentences, [], pairs, changing])
    sides = [len(pairs[0]["sides"][s]["input_ids"]) for s in (0, 1)]
    assert sides[1] > sides[0]  # a pairs row is bucketed by its longest side
    assert list(lengths) == [3, 2, sides[1], max(len(s["input_ids"]) for s in pairs[1]["sides"]), 4]
    # padding counts every side of a pairs row, each padded to the batch's width
    padded, real = padding_tokens([[2]], lengths.sides())
    assert (padded, real) == (2 * sides[1], sum(sides))
    changing[0] = {"input_ids": [1] * 9}
    assert lengths[4] == 4  # read once per epoch ...
    changing.epoch = 1
    assert lengths[4] == 9  # ... and again when the rows changed
    with pytest.raises(IndexError):
        lengths[5]


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_splits_dev_fraction_and_subsets(tmp_path):
    scored = [{"text": f"s{i}", "text_pair": f"t{i}", "score": i % 5} for i in range(40)]
    train = _write(tmp_path / "train.jsonl", scored)
    src = DataSource(train=train, dev_fraction=0.25, max_train_examples=10)
    splits = load_pair_splits(src, seed=0, field="tasks.sts.data")
    assert len(splits["dev"]) == 10 and len(splits["train"]) == 10 and splits["test"] == []
    assert not {p.text for p in splits["dev"]} & {p.text for p in splits["train"]}
    assert splits == load_pair_splits(src, seed=0, field="tasks.sts.data")  # seeded

    # no dev file and dev_fraction unset: the sentence sources' default 10 % carve; 0: none
    unset = load_pair_splits(DataSource(train=train), seed=0, field="tasks.sts.data")
    assert len(unset["dev"]) == 4 and len(unset["train"]) == 36
    none = load_pair_splits(DataSource(train=train, dev_fraction=0), 0, "tasks.sts.data")
    assert none["dev"] == [] and len(none["train"]) == 40

    triples = _write(tmp_path / "dev.jsonl", [{"anchor": "a", "positive": "b"}])
    with pytest.raises(ConfigError) as err:
        load_pair_splits(DataSource(train=train, dev=triples), 0, "tasks.sts.data")
    assert err.value.field == "tasks.sts.data"
