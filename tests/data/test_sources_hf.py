"""Sources beyond files: `data: {hf: ...}` through `datasets`, data given in Python, and the
seeded 10 % dev carve when a source has no dev data."""

from __future__ import annotations

import datasets
import pytest
import yaml

from polyhead.config import load_config, validate_config
from polyhead.data.readers import read_examples
from polyhead.data.sources import DataSource, data_section, load_splits, write_jsonl
from polyhead.errors import ConfigError, DataError
from polyhead.features.keys import data_fingerprint
from tests.data.test_frames import INTENTS, demo_examples, hub_layout


@pytest.fixture(scope="module")
def saved_dataset(tmp_path_factory):
    """A DatasetDict saved with save_to_disk: train and validation only."""
    ds = hub_layout(demo_examples(30))
    dd = datasets.DatasetDict(
        {"train": ds.select(range(20)), "validation": ds.select(range(20, 30))}
    )
    folder = tmp_path_factory.mktemp("hf") / "intents"
    dd.save_to_disk(str(folder))
    return folder


def test_hf_folder_in_yaml_relative_to_the_config(saved_dataset, tmp_path):
    config = saved_dataset.parent / "run.yaml"
    raw = {
        "data": {"hf": "intents", "columns": {"label": "intent"}},
        "tasks": {"intent": {"kind": "sentence"}},
    }
    config.write_text(yaml.safe_dump(raw))
    src = load_config(config).data
    assert src.hf == str(saved_dataset)
    splits = load_splits(src, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"train": 20, "dev": 10, "test": 0}
    assert {ex.label for ex in splits["train"]} <= set(INTENTS)


def test_hf_data_files(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"sentence": "wake me up", "category": "alarm"}\n' * 3)
    splits = load_splits(DataSource(hf=str(path)), seed=0)
    assert [ex.label for ex in [*splits["train"], *splits["dev"]]] == ["alarm"] * 3


def test_hf_unknown_name_offline_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(ConfigError) as e:
        DataSource(hf="no-such-org/no-such-dataset").table()
    assert str(e.value).startswith("config field 'data.hf': no-such-org/no-such-dataset: cannot")
    assert "\n" not in str(e.value)


def test_hf_mistyped_column_names_the_features(saved_dataset):
    src = DataSource(hf=str(saved_dataset), columns={"tags": "ner"})
    with pytest.raises(DataError, match=r"no column 'ner' \(data.columns.tags\); it has: tok"):
        src.table()


def test_no_dev_data_carves_a_seeded_tenth_and_says_so(caplog):
    src = data_section([{"text": f"sentence {i}", "label": "a"} for i in range(50)])
    with caplog.at_level("WARNING", logger="polyhead"):
        first = load_splits(src, seed=3)
    assert (len(first["train"]), len(first["dev"])) == (45, 5)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("in-memory data: no dev data; a seeded 10% of train (5 examples)")
    assert [ex.text for ex in load_splits(src, seed=3)["dev"]] == [ex.text for ex in first["dev"]]
    assert [ex.text for ex in load_splits(src, seed=4)["dev"]] != [ex.text for ex in first["dev"]]


def test_dev_fraction_zero_keeps_every_training_example():
    rows = [{"text": f"s {i}", "label": "a"} for i in range(20)]
    splits = load_splits(data_section(rows, {"dev_fraction": 0.0}), seed=0)
    assert (len(splits["train"]), len(splits["dev"])) == (20, 0)


def test_data_section_kinds(tmp_path):
    assert data_section("train.jsonl", {"max_train_examples": 5, "format": "csv"}) == {
        "max_train_examples": 5,
        "path": str((tmp_path.cwd() / "train.jsonl").resolve()),
    }
    assert data_section({"hf": "banking77"}, {"dev_fraction": 0.2}) == {
        "dev_fraction": 0.2,
        "hf": "banking77",
    }
    src = data_section([{"text": "a", "label": "x"}], {"max_train_examples": 5})
    assert isinstance(src, DataSource) and src.memory and src.max_train_examples == 5
    with pytest.raises(ConfigError, match=r"data.columns.lable': unknown; columns are text"):
        data_section([{"text": "a"}], {"columns": {"lable": "x"}})


def test_a_copy_of_the_config_finds_in_memory_data_by_fingerprint():
    src = data_section([{"text": "a b", "label": "x"}, {"text": "c", "label": "y"}])
    cfg = validate_config({"data": src, "tasks": {"intent": {"kind": "sentence"}}})
    copy = validate_config(cfg.model_dump())
    assert copy.data is not src and copy.data.memory == src.memory
    assert copy.data.table() is src.table()
    assert data_fingerprint(copy.data, "train") == [src.memory]


def test_in_memory_data_gone_from_the_process_is_one_line():
    with pytest.raises(ConfigError, match="data given in Python is not in this process"):
        load_splits(DataSource(memory="0" * 64), seed=0)


def test_sources_are_one_of_files_hf_or_memory():
    with pytest.raises(ValueError, match="give one of path/train, hf or in-memory data"):
        DataSource(path="a.jsonl", hf="banking77")
    with pytest.raises(ValueError, match="`columns` is for hf or in-memory data"):
        DataSource(path="a.jsonl", columns={"text": "t"})


def test_written_jsonl_reads_back_the_same_examples(tmp_path):
    examples = demo_examples(8)
    src = data_section({"train": hub_layout(examples), "test": hub_layout(examples[:2])})
    fields = write_jsonl(src, tmp_path)
    back = read_examples(fields["path"])
    assert [(ex.tokens, ex.tags, ex.label, ex.split) for ex in back] == [
        (ex.tokens, ex.tags, ex.label, split)
        for split, exs in (("train", examples), ("test", examples[:2]))
        for ex in exs
    ]
    assert write_jsonl(src, tmp_path) == fields  # named by content: written once
