"""Metric functions on hand-checked inputs."""

from __future__ import annotations

import pytest

from polyhead.data import split_words
from polyhead.evaluate import (
    combined_score,
    entities_from_tags,
    frame_accuracy,
    sentence_metrics,
    token_metrics,
)


def test_sentence_metrics_counts_unseen_gold_labels_as_errors():
    m = sentence_metrics(["a", "a", "b", "c"], ["a", "b", "b", "d"], known={"a", "b", "d"})
    # F1 per label over {a, b, c, d}: a 2/3, b 2/3, c 0, d 0.
    assert m["accuracy"] == 0.5 and m["macro_f1"] == pytest.approx(1 / 3)
    assert (m["n"], m["n_unseen"]) == (4, 1)


def test_sentence_metrics_empty_and_mismatched():
    assert sentence_metrics([], []) == {"accuracy": 0.0, "macro_f1": 0.0, "n": 0, "n_unseen": 0}
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        sentence_metrics(["a", "b"], ["a"])


def test_token_metrics_entity_level_and_per_type():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "B-PER"]]
    m = token_metrics(gold, pred)
    # Gold entities: PER, LOC, LOC; predicted: PER, LOC (right), PER (wrong).
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(4 / 6) and (m["n"], m["n_tokens"]) == (2, 6)
    assert m["per_type"]["LOC"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert m["per_type"]["PER"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    assert set(m["per_type"]) == {"LOC", "PER"}


def test_token_metrics_without_entities_and_length_mismatch():
    m = token_metrics([["O", "O"]], [["O", "O"]])
    assert (m["f1"], m["accuracy"], m["per_type"]) == (0.0, 1.0, {})
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        token_metrics([["O", "O"]], [["O"]])


def test_frame_accuracy_needs_label_and_every_tag():
    gold_tags = [["B-x", "O"], ["O"], ["O"]]
    pred_tags = [["B-x", "O"], ["B-x"], ["O"]]
    assert frame_accuracy(["a", "b", "c"], ["a", "b", "z"], gold_tags, pred_tags) == 1 / 3


def test_entities_from_tags_slice_the_raw_text():
    text = "fly  New   York to la tomorrow"
    words, offsets = split_words(text)
    tags = ["O", "B-city", "I-city", "O", "I-city", "B-date"]
    entities = entities_from_tags(words, tags, offsets, text=text)
    assert entities == [
        {
            "type": "city",
            "text": "New   York",
            "start_char": 5,
            "end_char": 15,
            "start_word": 1,
            "end_word": 3,
        },
        {
            "type": "city",
            "text": "la",
            "start_char": 19,
            "end_char": 21,
            "start_word": 4,
            "end_word": 5,
        },
        {
            "type": "date",
            "text": "tomorrow",
            "start_char": 22,
            "end_char": 30,
            "start_word": 5,
            "end_word": 6,
        },
    ]


def test_entities_from_tags_type_change_and_no_text():
    words, offsets = split_words("a b c")
    entities = entities_from_tags(words, ["B-x", "I-y", "B-y"], offsets)
    assert [(e["type"], e["start_word"], e["end_word"], e["text"]) for e in entities] == [
        ("x", 0, 1, "a"),
        ("y", 1, 2, "b"),
        ("y", 2, 3, "c"),
    ]
    assert entities_from_tags([], [], []) == []


def test_combined_score_mean_and_weights():
    metrics = {"intent": {"accuracy": 0.8, "f1": 0.1}, "slots": {"f1": 0.6}}
    main = {"intent": "accuracy", "slots": "f1"}
    assert combined_score(metrics, main) == pytest.approx(0.7)
    assert combined_score(metrics, main, {"intent": 3.0}) == pytest.approx(0.75)
    assert combined_score(metrics, {"intent": "sentence", "slots": "token"}) == pytest.approx(0.7)
    assert combined_score({}, {}) == 0.0
