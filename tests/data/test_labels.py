"""LabelSet ordering and (de)serialisation; BIO repair."""

from __future__ import annotations

import json

import pytest

from polyhead.data import Example, LabelSet, repair_bio
from polyhead.errors import DataError


def test_for_tags_is_o_then_b_and_i_per_sorted_type():
    examples = [
        Example(["a", "b"], tags=["B-time", "O"]),
        Example(["c", "d"], tags=["I-date", "O"]),  # only I- seen: B- still included
        Example(["e"], tags=None),
    ]
    labels = LabelSet.for_tags(examples)
    assert labels.names == ["O", "B-date", "I-date", "B-time", "I-time"]
    assert (labels.id("I-date"), labels.name(3), len(labels)) == (2, "B-time", 5)


def test_for_sentences_sorted_and_skips_unlabelled():
    examples = [Example(["x"], label="b"), Example(["y"], label="a"), Example(["z"])]
    assert LabelSet.for_sentences(examples).names == ["a", "b"]


def test_round_trip_through_json():
    labels = LabelSet(["O", "B-x", "I-x"])
    again = LabelSet.from_dict(json.loads(json.dumps(labels.to_dict())))
    assert again == labels and again.id("I-x") == 2


def test_unknown_labels_encode_without_crashing():
    labels = LabelSet(["a", "b"])
    assert (labels.encode("b"), labels.encode("zzz"), labels.encode("zzz", unknown=-100)) == (
        1,
        -1,
        -100,
    )
    assert "zzz" not in labels and "a" in labels
    with pytest.raises(KeyError, match="unknown label 'zzz'"):
        labels.id("zzz")


def test_duplicate_names_rejected():
    with pytest.raises(ValueError, match=r"duplicate label names: \['a'\]"):
        LabelSet(["a", "b", "a"])


@pytest.mark.parametrize(
    ("tags", "repaired", "count"),
    [
        (["O", "I-x", "I-x"], ["O", "B-x", "I-x"], 1),
        (["B-x", "I-y", "I-y", "O", "I-y"], ["B-x", "B-y", "I-y", "O", "B-y"], 2),
        (["B-x", "I-x", "B-x"], ["B-x", "I-x", "B-x"], 0),
        ([], [], 0),
    ],
)
def test_repair_bio(tags, repaired, count):
    assert repair_bio(tags) == (repaired, count)


def test_repair_bio_strict_and_invalid_tags_raise_with_location():
    with pytest.raises(DataError, match=r"^f\.conll:7: tag 2 is 'I-y' but does not continue"):
        repair_bio(["B-x", "I-y"], strict=True, where="f.conll:7")
    with pytest.raises(DataError, match=r"^f\.conll:12: tag 2 is 'I-y'"):
        repair_bio(["B-x", "I-y"], strict=True, where="f.conll:7", lines=[11, 12])
    with pytest.raises(DataError, match=r"tag 1 is 'PER'; expected O, B-<type> or I-<type>"):
        repair_bio(["PER"])
