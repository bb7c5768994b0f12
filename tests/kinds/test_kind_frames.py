"""The other task kinds from data given in Python (lists of dicts, DataFrames, `datasets`)
and from `data: {hf: ...}` (issue 14's "every task kind"): multilabel as a list column or a
Sequence(ClassLabel), regression as a float column, pairs as text + text_pair columns."""

from __future__ import annotations

import math

import datasets
import pandas as pd
import pytest

import polyhead
from polyhead.api import build_config, check_data
from polyhead.data.arrow import ArrowSplit, read_table
from polyhead.data.arrow_rows import ArrowRows
from polyhead.data.frames import Columns, row_example
from polyhead.data.readers import read_examples
from polyhead.data.rows import build_label_sets, collate, encode_source
from polyhead.data.sources import DataSource, SourceData, load_splits, write_jsonl
from polyhead.errors import DataError
from polyhead.model.backbone import load_tokenizer_for
from tests.conftest import demo_raw
from tests.kinds import toy

TYPES = ["date", "place", "time"]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return load_tokenizer_for(str(tiny_bert))


def source(data, index=0, tasks=("t",), columns=None) -> SourceData:
    cols = Columns(**(columns or {}))
    src = DataSource.in_memory(read_table(data, cols), dev_fraction=0, columns=cols)
    return SourceData(index, src, list(tasks), load_splits(src, 0))


def rows_of(src, kinds, tokenizer, labels=None):
    labels = labels or build_label_sets(kinds, [src])
    return labels, list(encode_source(tokenizer, src, "train", kinds, labels, 32))


def classlabel_types() -> datasets.Dataset:
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "types": datasets.Sequence(datasets.ClassLabel(names=TYPES)),
        }
    )
    rows = {"text": ["rome at noon", "today", "hi"], "types": [[1, 2], [0], []]}
    return datasets.Dataset.from_dict(rows, features=features)


# ---- multilabel --------------------------------------------------------------------------
def test_multilabel_from_a_list_column(tokenizer):
    records = [{"text": "at noon", "label": ["time"]}, {"text": "in rome today", "label": []}]
    records.append({"text": "rome at noon", "label": ["place", "time"]})
    kinds = {"t": "multilabel"}
    labels, rows = rows_of(source(records), kinds, tokenizer)
    assert labels["t"].names == ["place", "time"]
    assert [r["labels.t"] for r in rows] == [(0.0, 1.0), (0.0, 0.0), (1.0, 1.0)]


def test_multilabel_from_a_sequence_of_classlabel_in_arrow(tokenizer):
    src = source(classlabel_types(), columns={"label": "types"})
    assert isinstance(src.splits["train"], ArrowSplit)
    assert [ex.labels for ex in src.splits["train"]] == [["place", "time"], ["date"], []]
    kinds = {"t": "multilabel"}
    labels, rows = rows_of(src, kinds, tokenizer)
    assert labels["t"].names == TYPES  # the names seen in training
    assert [r["labels.t"] for r in rows] == [(0.0, 1.0, 1.0), (1.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
    # the rows a list of dicts of the same data gives
    records = [
        {"text": "rome at noon", "label": ["place", "time"]},
        {"text": "today", "label": ["date"]},
        {"text": "hi", "label": []},
    ]
    assert rows == rows_of(source(records), kinds, tokenizer, labels)[1]


def test_a_classlabel_list_with_an_unknown_id_is_one_line():
    cols = {"text": "text", "label": "types"}
    get = {"text": ["a"], "types": [[0, 7]]}
    get["label"] = get.pop("types")
    with pytest.raises(DataError, match=r"^data\[0\]: column 'types' is \[0, 7\]; expected ids"):
        row_example(get, {"text": None, "label": TYPES}, cols, 0, "data[0]", False)


# ---- regression --------------------------------------------------------------------------
def test_regression_from_a_float_column(tokenizer):
    frame = pd.DataFrame({"text": ["a b", "c", "d e f"], "score": [0.5, 2.0, float("nan")]})
    src = source(frame.iloc[:2], columns={"label": "score"})
    assert [ex.target for ex in src.splits["train"]] == [[0.5], [2.0]]
    labels, rows = rows_of(src, {"t": "regression"}, tokenizer)
    assert labels["t"].names == ["label"] and [r["labels.t"] for r in rows] == [(0.5,), (2.0,)]
    # NaN is no label: a training row without one is refused, naming the row
    unlabelled = source(frame, columns={"label": "score"})
    assert unlabelled.splits["train"][2].target is None
    with pytest.raises(Exception, match=r"tasks\.t.*no label \(data\[2\]\)"):
        build_label_sets({"t": "regression"}, [unlabelled])


def test_regression_from_a_float_dataset_column_in_arrow(tokenizer):
    ds = datasets.Dataset.from_dict({"sentence": ["a b", "c"], "label": [0.25, 4.0]})
    src = source(ds)
    assert isinstance(src.splits["train"], ArrowSplit)
    _, rows = rows_of(src, {"t": "regression"}, tokenizer)
    assert [r["labels.t"] for r in rows] == [(0.25,), (4.0,)]


# ---- pairs -------------------------------------------------------------------------------
def test_pairs_from_text_and_text_pair_columns(tokenizer):
    frame = pd.DataFrame({"text": ["a cat sat"], "text_pair": ["a dog ran"], "label": [3.0]})
    _, (row,) = rows_of(source(frame), {"t": "regression"}, tokenizer)
    assert tokenizer.decode(row["input_ids"]) == "[CLS] a cat sat [SEP] a dog ran [SEP]"
    assert sorted(set(row["token_type_ids"])) == [0, 1] and row["labels.t"] == (3.0,)


def test_sts_layout_dataset_pairs_by_column_names(tokenizer):
    """GLUE STS-B on the Hub: sentence1, sentence2 and a float label; stays Arrow, rows
    are built from its Examples (two texts per row)."""
    ds = datasets.Dataset.from_dict(
        {"sentence1": ["a cat", "x"], "sentence2": ["a dog", "y z"], "label": [4.5, 0.2]}
    )
    src = source(ds)
    assert isinstance(src.splits["train"], ArrowSplit)
    assert [ex.text_pair for ex in src.splits["train"]] == ["a dog", "y z"]
    kinds = {"t": "regression"}
    rows = encode_source(tokenizer, src, "train", kinds, build_label_sets(kinds, [src]), 32)
    assert isinstance(rows, list)  # not ArrowRows: those hold one text per row
    assert tokenizer.decode(rows[0]["input_ids"]) == "[CLS] a cat [SEP] a dog [SEP]"
    assert [r["labels.t"] for r in rows] == [(4.5,), (0.2,)]


def test_a_pair_task_on_data_without_a_second_text_is_one_line(tiny_bert):
    raw = demo_raw(tiny_bert)
    raw["tasks"]["sim"] = {"kind": "pair", "head": "regression"}
    frame = pd.DataFrame({"text": ["a"], "label": [1.0]})
    cfg = build_config(raw, {"sim": frame})
    with pytest.raises(DataError, match=r"no text_pair column for task 'sim' \(tried 'text_pair'"):
        check_data(cfg)


# ---- Arrow rows next to other sources, and the spawned-process copy ----------------------
def test_arrow_rows_give_other_sources_vector_tasks_no_label(tokenizer):
    """A sentence source kept in Arrow next to a multilabel source: its rows carry NaN for
    the multilabel task, so a batch mixing both sources stacks."""
    intents = datasets.Dataset.from_dict({"text": ["a b", "c"], "label": ["x", "y"]})
    arrow_src = source(intents, tasks=("intent",))
    types = source([{"text": "d", "label": ["time"]}], index=1, tasks=("types",))
    kinds = {"intent": "sentence", "types": "multilabel"}
    labels = build_label_sets(kinds, [arrow_src, types])
    arrow_rows = encode_source(tokenizer, arrow_src, "train", kinds, labels, 32)
    assert isinstance(arrow_rows, ArrowRows)
    assert all(math.isnan(r["labels.types"][0]) for r in arrow_rows)
    mixed = [*arrow_rows, *encode_source(tokenizer, types, "train", kinds, labels, 32)]
    batch = collate(mixed)
    assert batch["labels.types"].shape == (3, 1) and batch["labels.types"][2].tolist() == [1.0]
    assert batch["labels.intent"].tolist() == [0, 1, -100]


@pytest.mark.parametrize(
    "record",
    [
        {"text": "a", "label": ["p", "q"]},
        {"text": "a", "label": 3},
        {"text": "a", "label": -2.5},
        {"text": "a", "label": [0.5, 1.0]},
        {"text": "a", "text_pair": "b c", "label": "yes"},
    ],
)
def test_the_spawned_process_copy_reads_back_the_same_examples(record, tmp_path):
    src = DataSource.in_memory(read_table([record]))
    (want,) = src.table().splits["train"]
    fields = write_jsonl(src, tmp_path)
    (got,) = read_examples(fields["path"], format="jsonl")
    for key in ("text", "tokens", "label", "labels", "target", "text_pair"):
        assert getattr(got, key) == getattr(want, key), key


# ---- training, one run: every kind from Python data and from `data: {hf: folder}` ---------
@pytest.mark.slow
def test_every_kind_trains_from_python_data_and_hf_folders(tiny_bert, tmp_path):
    utterances = toy.demo_split("train", 48)
    types = [{"text": ex.text, "label": toy.slot_types(ex.tags)} for ex in utterances]
    nslots = pd.DataFrame(
        {
            "utterance": [ex.text for ex in utterances],
            "score": [float(sum(t != "O" for t in ex.tags)) for ex in utterances],
        }
    )
    a, b = toy.demo_split("train", 96)[0::2], toy.demo_split("train", 96)[1::2]
    same = datasets.Dataset.from_dict(
        {
            "sentence1": [x.text for x in a],
            "sentence2": [y.text for y in b],
            "label": [float(x.label == y.label) for x, y in zip(a, b, strict=True)],
        }
    )
    folder = tmp_path / "types-ds"
    classlabel_types().save_to_disk(str(folder))
    raw = demo_raw(tiny_bert, train=32, eval=16)
    raw["tasks"].update(
        types={"kind": "multilabel"},
        nslots={"kind": "regression", "data": {"columns": {"label": "score"}}},
        same={"kind": "pair", "head": "regression"},
        hf_types={"kind": "multilabel", "data": {"hf": str(folder), "columns": {"label": "types"}}},
    )
    raw["trainer"].update(epochs=1, sampling="round_robin")
    data = {"types": types, "nslots": nslots, "same": same}
    run = polyhead.train(raw, data=data, out=tmp_path / "run", show_plan=False)
    dev = run.metrics["dev"]
    for task in ("types", "hf_types"):
        assert {"micro_f1", "macro_f1", "subset_accuracy"} <= set(dev[task])
    for task in ("nslots", "same"):
        assert {"spearman", "pearson", "mae"} <= set(dev[task])
    # each scored on its own seeded 10 % dev carve: 4 of 48 rows, 1 of 3
    assert [dev[t]["n"] for t in ("types", "nslots", "same", "hf_types")] == [4, 4, 4, 1]
