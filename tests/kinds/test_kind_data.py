"""Reading and encoding the vector kinds' labels and text pairs."""

from __future__ import annotations

import json
import math

import pytest
from transformers import AutoTokenizer

from polyhead.data.readers import read_examples
from polyhead.data.rows import build_label_sets, collate, encode_source
from polyhead.data.sources import DataSource, SourceData, load_splits
from polyhead.errors import ConfigError, DataError
from polyhead.model.backbone import default_model_path


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(default_model_path())


def jsonl(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_jsonl_label_lists_numbers_and_pairs(tmp_path):
    path = jsonl(
        tmp_path / "d.jsonl",
        {"text": "a b", "label": ["x", "y"]},
        {"text": "a", "label": 2.5, "text_pair": "c d"},
        {"text": "a", "label": [0.5, 1]},
        {"text": "a", "label": 3},
    )
    ml, reg, vec, whole = read_examples(path)
    assert (ml.labels, ml.label) == (["x", "y"], None)
    assert (reg.target, reg.label, reg.text_pair) == ([2.5], "2.5", "c d")
    assert vec.target == [0.5, 1.0]
    assert (whole.label, whole.target) == ("3", [3.0])  # still a sentence label too


def test_csv_separator_and_pair_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,text_pair,label\nhi,there,"a|b"\nyo,you,\n')
    src = DataSource(path=str(path), label_separator="|", dev_fraction=0)
    data = SourceData(0, src, ["tags"], load_splits(src, 0))
    labels = build_label_sets({"tags": "multilabel"}, [data])
    assert labels["tags"].names == ["a", "b"]
    assert [ex.text_pair for ex in data.splits["train"]] == ["there", "you"]


def test_headerless_sts_file_reads_as_scored_pairs(tmp_path):
    path = tmp_path / "sts.csv"
    path.write_text("A man plays.,A man is playing.,4.5\nA dog.,A cat.,0.6\n")
    first, second = read_examples(path, format="pairs")
    assert (first.text, first.text_pair, first.target) == (
        "A man plays.",
        "A man is playing.",
        [4.5],
    )
    assert first.source == f"{path}:1" and second.target == [0.6]


def _source(tmp_path, tasks, *records, **settings):
    path = jsonl(tmp_path / "s.jsonl", *records)
    src = DataSource(path=str(path), dev_fraction=0, **settings)
    return SourceData(0, src, tasks, load_splits(src, 0))


def test_rows_carry_multi_hot_and_targets_nan_elsewhere(tmp_path, tokenizer):
    ml = _source(
        tmp_path, ["types"], {"text": "a b", "label": ["y", "x"]}, {"text": "c", "label": []}
    )
    reg_path = jsonl(tmp_path / "r.jsonl", {"text": "d", "label": 1.5}, {"text": "e", "label": 2})
    reg_src = DataSource(path=str(reg_path), dev_fraction=0)
    reg = SourceData(1, reg_src, ["score"], load_splits(reg_src, 0))
    kinds = {"types": "multilabel", "score": "regression"}
    labels = build_label_sets(kinds, [ml, reg])
    assert (labels["types"].names, labels["score"].names) == (["x", "y"], ["label"])
    rows = encode_source(tokenizer, ml, "train", kinds, labels, 16)
    assert [r["labels.types"] for r in rows] == [(1.0, 1.0), (0.0, 0.0)]
    assert all(math.isnan(r["labels.score"][0]) for r in rows)
    batch = collate(rows + encode_source(tokenizer, reg, "train", kinds, labels, 16))
    assert batch["labels.types"].shape == (4, 2)  # stacked, not padded to the token width
    assert batch["labels.score"][2:, 0].tolist() == [1.5, 2.0]


def test_pair_rows_hold_both_texts_in_two_segments(tmp_path, tokenizer):
    src = _source(tmp_path, ["sim"], {"text": "a cat sat", "text_pair": "a dog ran", "label": 3.0})
    labels = build_label_sets({"sim": "regression"}, [src])
    (row,) = encode_source(tokenizer, src, "train", {"sim": "regression"}, labels, 32)
    assert tokenizer.decode(row["input_ids"]) == "[CLS] a cat sat [SEP] a dog ran [SEP]"
    assert sorted(set(row["token_type_ids"])) == [0, 1]
    assert set(row["word_ids"]) == {-1}  # no token labels on pairs


def test_pair_source_refuses_token_tasks(tmp_path, tokenizer):
    src = _source(tmp_path, ["ner"], {"text": "a b", "text_pair": "c", "tags": ["O", "B-x"]})
    labels = build_label_sets({"ner": "token"}, [src])
    with pytest.raises(ConfigError, match="tasks.ner.*cannot read text pairs"):
        encode_source(tokenizer, src, "train", {"ner": "token"}, labels, 16)


def test_bad_regression_label_names_file_and_line(tmp_path):
    src = _source(
        tmp_path, ["score"], {"text": "a", "label": "1.0"}, {"text": "b", "label": "high"}
    )
    with pytest.raises(DataError, match=r"s\.jsonl:2: label 'high'; a regression task expects"):
        build_label_sets({"score": "regression"}, [src])


def test_unlabelled_training_example_is_refused(tmp_path):
    src = _source(tmp_path, ["types"], {"text": "a", "label": ["x"]}, {"text": "b"})
    with pytest.raises(ConfigError, match=r"tasks.types.*no label \(.*s\.jsonl:2\)"):
        build_label_sets({"types": "multilabel"}, [src])


def test_vector_sizes_must_agree(tmp_path):
    src = _source(tmp_path, ["v"], {"text": "a", "label": [1, 2]}, {"text": "b", "label": [1]})
    with pytest.raises(DataError, match="targets of sizes"):
        build_label_sets({"v": "regression"}, [src])
