"""Data where users have it -> Examples: lists of dicts, DataFrames, `datasets` objects with
ClassLabel / Sequence(ClassLabel) features, Hub split names, and one-line column errors."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest

from polyhead.data import read_examples
from polyhead.data.frames import Columns, fingerprint, read_table_data
from polyhead.errors import DataError
from tests.conftest import DEMO

# The shipped demo's label names, deliberately not sorted (reversed first-seen order): a name
# looked up by the wrong id shows.
_DEMO = read_examples(DEMO / "train.jsonl")
INTENTS = list(dict.fromkeys(e.label for e in _DEMO))[::-1]
TAGS = ["O"] + [t for t in dict.fromkeys(t for e in _DEMO for t in e.tags) if t != "O"][::-1]


def demo_examples(n: int = 20):
    return read_examples(DEMO / "train.jsonl")[:n]


def hub_layout(examples) -> datasets.Dataset:
    """conll2003 / MASSIVE style: ClassLabel ids for the intent, Sequence(ClassLabel) tags."""
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=TAGS)),
            "intent": datasets.ClassLabel(names=INTENTS),
        }
    )
    rows = {
        "tokens": [ex.tokens for ex in examples],
        "ner_tags": [[TAGS.index(t) for t in ex.tags] for ex in examples],
        "intent": [INTENTS.index(ex.label) for ex in examples],
    }
    return datasets.Dataset.from_dict(rows, features=features)


def test_classlabel_ids_become_their_names():
    examples = demo_examples()
    table = read_table_data(hub_layout(examples))
    got = table.splits["train"]
    assert [ex.label for ex in got] == [ex.label for ex in examples]
    assert [ex.tags for ex in got] == [ex.tags for ex in examples]
    assert [ex.tokens for ex in got] == [ex.tokens for ex in examples]
    assert table.columns == {"tokens": "tokens", "label": "intent", "tags": "ner_tags"}


def test_datasetdict_split_names_map_to_train_dev_test(caplog):
    ds = hub_layout(demo_examples(12))
    dd = datasets.DatasetDict(
        {
            "train": ds.select(range(6)),
            "validation": ds.select(range(6, 9)),
            "test": ds.select(range(9, 12)),
            "unsupervised": ds.select(range(2)),
        }
    )
    with caplog.at_level("INFO", logger="polyhead"):
        table = read_table_data(dd)
    assert {k: len(v) for k, v in table.splits.items()} == {"train": 6, "dev": 3, "test": 3}
    assert "['unsupervised'] not used" in caplog.text


def test_a_shuffled_dataset_is_read_in_its_own_order():
    ds = hub_layout(demo_examples(10)).shuffle(seed=1)
    got = read_table_data(ds).splits["train"]
    assert [ex.tokens for ex in got] == ds["tokens"][:]


def test_dataframe_text_and_label():
    df = pd.DataFrame({"utterance": ["wake me at 7", "play jazz"], "intent": ["alarm", "music"]})
    got = read_table_data(df).splits["train"]
    assert [(ex.tokens, ex.label) for ex in got] == [
        (["wake", "me", "at", "7"], "alarm"),
        (["play", "jazz"], "music"),
    ]
    assert got[0].text == "wake me at 7" and got[0].offsets[3] == (11, 12)


def test_list_of_words_and_tags_and_a_dict_of_splits():
    train = [{"words": ["to", "paris"], "tags": ["O", "B-city"]}]
    test = [{"words": ["rome"], "tags": ["B-city"]}]
    table = read_table_data({"train": train, "test": test})
    assert table.splits["test"][0].tags == ["B-city"]
    assert table.splits["train"][0].tokens == ["to", "paris"]
    assert table.splits["dev"] == []


def test_tags_are_repaired_to_bio_like_files():
    table = read_table_data([{"tokens": ["new", "york"], "tags": ["I-city", "I-city"]}])
    assert table.splits["train"][0].tags == ["B-city", "I-city"]


def test_massive_inline_annotation_gives_words_and_tags():
    rows = [{"utt": "wake me at seven am", "annot_utt": "wake me at [time : seven am]"}]
    (ex,) = read_table_data(rows).splits["train"]
    assert ex.tokens == ["wake", "me", "at", "seven", "am"]
    assert ex.tags == ["O", "O", "O", "B-time", "I-time"]


def test_mistyped_column_is_one_line_naming_it_and_the_features():
    with pytest.raises(DataError) as e:
        read_table_data(hub_layout(demo_examples(3)), Columns(label="intnet"), where="massive")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("massive: no column 'intnet' (data.columns.label)")
    assert f"intent (ClassLabel: {len(INTENTS)} names)" in msg
    assert "ner_tags (list[ClassLabel" in msg


def test_missing_text_column_lists_what_was_tried():
    with pytest.raises(DataError, match=r"no text column \(tried 'tokens', 'words', 'text'"):
        read_table_data(pd.DataFrame({"body": ["x"], "label": ["a"]}))


def test_a_task_whose_column_is_missing_names_the_task_and_the_columns():
    table = read_table_data([{"text": "x y", "topic": "a"}])
    with pytest.raises(DataError) as e:
        table.require("label", "intent")
    assert str(e.value) == (
        "data: no label column for task 'intent' (tried 'label', 'category', 'intent', "
        "'class'; set data.columns.label); the data has: text (str), topic (str)"
    )


def test_row_errors_name_the_split_and_row():
    rows = {
        "train": [{"tokens": ["a"], "tags": ["O"]}],
        "test": [{"tokens": ["a", "b"], "tags": ["O"]}],
    }
    with pytest.raises(DataError, match=r"^data\['test'\]\[0\]: 1 tags for 2 words"):
        read_table_data(rows)


def test_integer_tags_without_names_are_refused():
    with pytest.raises(DataError, match="ids without tag names"):
        read_table_data([{"tokens": ["a"], "tags": [0]}])


def test_unlabelled_rows_of_a_classlabel_are_none():
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])}
    )
    ds = datasets.Dataset.from_dict({"text": ["x", "y"], "label": [1, -1]}, features=features)
    assert [ex.label for ex in read_table_data(ds).splits["train"]] == ["b", None]


def test_no_train_split_and_unknown_objects_are_one_line():
    with pytest.raises(DataError, match=r"no train split; it has \['test'\]"):
        read_table_data({"test": [{"text": "x"}]})
    with pytest.raises(DataError, match="expected a list of dicts, a pandas DataFrame"):
        read_table_data("not data")


def test_fingerprint_follows_content_not_object():
    rows = [{"text": "a b", "label": "x"}]
    same = read_table_data(pd.DataFrame(rows)).fingerprint
    assert read_table_data(list(rows)).fingerprint == same
    assert read_table_data([{"text": "a b", "label": "y"}]).fingerprint != same
    assert fingerprint({"train": []}) != same
