"""`datasets` data kept in Arrow (polyhead.data.arrow): the same examples, label sets, rows and
one-line errors as the Example path, cached by fingerprint, memory-mapped, and no Python object
per row kept while training reads it."""

from __future__ import annotations

import gc

import datasets
import pytest

import polyhead.data.arrow as arrow
from polyhead.data.arrow import ArrowSplit, read_table
from polyhead.data.arrow_rows import ArrowRows
from polyhead.data.example import Example
from polyhead.data.frames import Columns, read_table_data
from polyhead.data.rows import EncodeStats, build_label_sets, collate, encode_source
from polyhead.data.sources import DataSource, SourceData, load_splits
from polyhead.data.words import word_counts
from polyhead.errors import DataError
from polyhead.model.backbone import load_tokenizer_for
from tests.data.test_frames import demo_examples, hub_layout

KINDS = {"intent": "sentence", "slots": "token"}


@pytest.fixture(scope="module")
def hub_dict() -> datasets.DatasetDict:
    ds = hub_layout(demo_examples(60))
    return datasets.DatasetDict(
        train=ds.select(range(40)).shuffle(seed=3), test=ds.select(range(40, 60))
    )


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return load_tokenizer_for(str(tiny_bert))


def both_paths(data, seed=0, **settings):
    """(Arrow sources' splits, Example sources' splits) of the same data, dev carved alike."""
    arrow_src = DataSource.in_memory(read_table(data), **settings)
    example_src = DataSource.in_memory(read_table_data(data), **settings)
    return load_splits(arrow_src, seed), load_splits(example_src, seed)


def test_same_examples_and_dev_carve(hub_dict):
    by_arrow, by_examples = both_paths(hub_dict, max_train_examples=30)
    assert isinstance(by_arrow["train"], ArrowSplit) and isinstance(by_arrow["dev"], ArrowSplit)
    for split in ("train", "dev", "test"):
        assert list(by_arrow[split]) == by_examples[split], split
    assert (len(by_arrow["train"]), len(by_arrow["dev"])) == (30, 4)  # 10 % of 40, then 30


def test_label_sets_by_arrow_compute_equal_the_examples(hub_dict):
    by_arrow, by_examples = both_paths(hub_dict)
    got = build_label_sets(KINDS, [SourceData(0, None, list(KINDS), by_arrow)])
    want = build_label_sets(KINDS, [SourceData(0, None, list(KINDS), by_examples)])
    assert got == want and len(got["slots"]) > 3


def test_word_counts_by_arrow_compute_equal_the_examples(hub_dict):
    """What `model.words: auto` decides from, counted without a Python object per row."""
    by_arrow, by_examples = both_paths(hub_dict)
    got = by_arrow["train"].word_counts()
    assert got == word_counts(ex.tokens for ex in by_examples["train"]) and len(got) > 20


@pytest.mark.parametrize("stride", [0, 2])
def test_rows_equal_the_example_rows(hub_dict, tokenizer, stride):
    """Every key of every row (ids, word ids, labels, index, window, row, source), both
    splits, with a max_length that truncates some sentences (stride 0) or splits them into
    windows (stride 2: labels only where a window owns the word, the intent on every window),
    and a second source's task ignored."""
    by_arrow, by_examples = both_paths(hub_dict)
    kinds = {**KINDS, "other": "sentence"}
    src = SourceData(1, None, list(KINDS), by_examples)
    labels = build_label_sets(KINDS, [src])
    labels["other"] = labels["intent"]
    for split in ("train", "test"):
        stats = [EncodeStats(), EncodeStats()]
        rows = [
            encode_source(
                tokenizer,
                SourceData(1, None, list(KINDS), s),
                split,
                kinds,
                labels,
                8,
                st,
                stride=stride,
            )
            for s, st in zip((by_arrow, by_examples), stats, strict=True)
        ]
        assert isinstance(rows[0], ArrowRows)
        assert list(rows[0]) == rows[1] and rows[0][3] == rows[1][3]
        assert rows[0][2:5] == rows[1][2:5]
        # what length bucketing reads, from the column
        assert list(rows[0].lengths()) == [len(r["input_ids"]) for r in rows[1]]
        # 0 / 1 columns a byte each (training faults the whole file into memory)
        features = rows[0].dataset.features
        assert features["attention_mask"].feature.dtype == "int8"
        assert stats[0] == stats[1]
        if stride:
            assert stats[0].n_windowed_examples > 0 and stats[0].n_truncated_words == 0
            assert stats[0].n_rows > stats[0].n_examples
            assert max(r["window"] for r in rows[1]) > 0
        else:
            assert stats[0].n_truncated_words > 0
    batch = collate(rows[0].__getitems__([0, 5, 7]), tokenizer.pad_token_id)
    assert batch["labels.other"].tolist() == [-100] * 3


def test_one_line_errors_as_the_example_path():
    features = datasets.Features(
        tokens=datasets.Sequence(datasets.Value("string")),
        tags=datasets.Sequence(datasets.Value("string")),
    )
    ds = datasets.Dataset.from_dict(
        {"tokens": [["to", "paris"], ["to", "rome"]], "tags": [["O", "B-city"], ["O"]]},
        features=features,
    )
    with pytest.raises(DataError) as by_examples:
        read_table_data({"train": ds})
    with pytest.raises(DataError) as by_arrow:
        read_table({"train": ds})
    assert str(by_arrow.value) == str(by_examples.value)
    assert "data['train'][1]: 1 tags for 2 words" in str(by_arrow.value)
    with pytest.raises(DataError) as e:
        read_table(ds, Columns(label="intent"))
    assert str(e.value).startswith("data: no column 'intent' (data.columns.label); it has: ")
    assert "\n" not in str(e.value)


def test_read_once_per_fingerprint(hub_dict, monkeypatch):
    """A second read of the same data memory-maps the file the first one wrote."""
    first = read_table(hub_dict)

    def no_rereads(*args, **kwargs):
        raise AssertionError("rows read again")

    monkeypatch.setattr(arrow, "row_example", no_rereads)
    again = read_table(hub_dict)
    assert again.fingerprint == first.fingerprint
    assert again.splits["train"].dataset.cache_files == first.splits["train"].dataset.cache_files
    with pytest.raises(AssertionError):  # other data is read
        read_table(hub_dict["train"].select(range(5)))


def _examples() -> int:
    return sum(isinstance(o, Example) for o in gc.get_objects())


def _big_lists(n: int) -> set[int]:
    return {id(o) for o in gc.get_objects() if isinstance(o, list) and len(o) >= n}


@pytest.mark.parametrize("arrow_path", [True, False])
def test_training_reads_keep_no_python_object_per_row(arrow_path, tmp_path, tokenizer):
    """A saved dataset read through `hf:` stays memory-mapped from reading to batches: no
    Example and no list as long as the data is alive afterwards. The Example path (parameter
    False) keeps both, which shows the check can fail."""
    n = 3000
    rows = {
        "tokens": [["play", "jazz", "now"]] * n,
        "label": ["music"] * (n // 2) + ["x"] * (n // 2),
    }
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "ds"))
    gc.collect()
    before, examples_before = _big_lists(n // 2), _examples()
    src = DataSource(hf=str(tmp_path / "ds"), dev_fraction=0.1)
    if not arrow_path:
        src = DataSource.in_memory(read_table_data(datasets.load_from_disk(str(tmp_path / "ds"))))
    source = SourceData(0, src, ["intent"], load_splits(src, seed=0))
    labels = build_label_sets({"intent": "sentence"}, [source])
    train = encode_source(tokenizer, source, "train", {"intent": "sentence"}, labels, 16)
    batch = collate([train[i] for i in (0, 1, 2)], tokenizer.pad_token_id)
    gc.collect()
    examples = _examples() - examples_before  # other modules' Examples (the demo) aside
    new_lists = _big_lists(n // 2) - before
    assert batch["input_ids"].shape[0] == 3 and labels["intent"].names == ["music", "x"]
    if arrow_path:
        table = source.splits["train"].dataset
        assert type(table.data).__name__ == "MemoryMappedTable" and table.cache_files
        assert type(train.dataset.data).__name__ == "MemoryMappedTable"
        assert examples == 0 and not new_lists
    else:
        assert examples >= n and new_lists


def test_tokenized_once_per_fingerprint(hub_dict, tokenizer, monkeypatch):
    """The tokenizer's leftover truncation setting does not change the cache key, so a second
    run (same rows, tokenizer, max_length, labels) memory-maps the first run's file."""
    import polyhead.data.arrow_rows as arrow_rows

    by_arrow, _ = both_paths(hub_dict)
    src = SourceData(0, None, list(KINDS), by_arrow)
    labels = build_label_sets(KINDS, [src])
    first = encode_source(tokenizer, src, "train", KINDS, labels, 12)
    tokenizer(["a", "b"], truncation=True, max_length=5)  # leaves truncation set on the backend

    def no_retokenizing(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(arrow_rows, "encode_words", no_retokenizing)
    again = encode_source(tokenizer, src, "train", KINDS, labels, 12)
    assert again.dataset.cache_files == first.dataset.cache_files and list(again) == list(first)
    with pytest.raises(AssertionError):  # another max_length is another file
        encode_source(tokenizer, src, "train", KINDS, labels, 13)


def test_row_facts_kept_on_disk_by_fingerprint(hub_dict, monkeypatch):
    """Label sets, missing-label checks, word counts and the repaired-tags sum of a split
    read again (a cached run) come from the cache, with no pass over the rows."""
    by_arrow, _ = both_paths(hub_dict)
    train = by_arrow["train"]
    first = (train.label_set("token"), train.label_set("sentence"), train.lacks("label"))
    first_words = train.word_counts()

    def no_reads(*args, **kwargs):
        raise AssertionError("rows read again")

    again = both_paths(hub_dict)[0]["train"]
    monkeypatch.setattr(ArrowSplit, "column", no_reads)
    got = (again.label_set("token"), again.label_set("sentence"), again.lacks("label"))
    assert got == first and again.word_counts() == first_words
    # the repaired-tags count a read sums: its column is spread over the whole file
    assert len(read_table(hub_dict).splits["train"]) == len(hub_dict["train"])
    with pytest.raises(AssertionError):  # other rows are read
        both_paths(hub_dict, max_train_examples=7)[0]["train"].word_counts()
