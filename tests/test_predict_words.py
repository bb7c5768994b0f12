"""Prediction splits raw text with the model's recorded words mode (`spec.words`): entities
on a `punct` model leave the punctuation out, Chinese gets a word per character, and every
entity's offsets slice the original text exactly.

The forward pass is set by hand (token id -> label), so the test checks everything
prediction does around the network (splitting, windows, first subwords, trimming, offsets)
with known per-token answers."""

from __future__ import annotations

import pytest
import torch

from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.predict import Predictor

LABELS = ["O", "B-LOC", "I-LOC"]


class RulePredictor(Predictor):
    """Logits by hand: a token whose id is in `rule` gets that label, every other one O."""

    def __init__(self, model, rule: dict[str, str], **kw):
        super().__init__(model, **kw)
        tok = model.tokenizer
        self.rule = {
            tok.convert_tokens_to_ids(tok.tokenize(w)[0]): LABELS.index(t) for w, t in rule.items()
        }

    def _forward(self, inputs):
        ids = inputs["input_ids"]  # (W, T)
        target = torch.zeros_like(ids)
        for token_id, label in self.rule.items():
            target[ids == token_id] = label
        logits = torch.nn.functional.one_hot(target, len(LABELS)).float() * 5  # (W, T, L)
        return torch.zeros(ids.shape[0], 4), {"places": logits}


def _model(backbone, words: str, split_off: str = "", max_length: int = 32):
    tasks = [TaskSpec(name="places", kind="token", labels=LABELS)]
    spec = ModelSpec(
        backbone=str(backbone), max_length=max_length, words=words, split_off=split_off, tasks=tasks
    )
    return MultiTaskModel(spec).eval()


# Cities start an entity; "," and "." continue one, as an untrained head might predict.
RULE = {"paris": "B-LOC", "rome": "B-LOC", "zurich": "B-LOC", ",": "I-LOC", ".": "I-LOC"}


def _entities(predictor, text: str) -> list[tuple[str, int, int]]:
    (item,) = predictor.predict([text])
    for e in item["places"]:
        assert text[e["start_char"] : e["end_char"]] == e["text"]
    return [(e["text"], e["start_char"], e["end_char"]) for e in item["places"]]


def test_a_punct_model_gives_paris_and_rome(tiny_bert):
    predictor = RulePredictor(_model(tiny_bert, "punct", split_off=",."), RULE)
    text = "I flew to Paris, then Rome."
    assert _entities(predictor, text) == [("Paris", 10, 15), ("Rome", 22, 26)]


def test_without_the_trim_the_entity_would_end_in_punctuation(tiny_bert):
    """The same hand-set head on a model whose training words split nothing off."""
    predictor = RulePredictor(_model(tiny_bert, "punct", split_off=""), RULE)
    assert _entities(predictor, "I flew to Paris, then Rome.") == [
        ("Paris,", 10, 16),
        ("Rome.", 22, 27),
    ]


def test_a_whitespace_model_keeps_its_whitespace_words(tiny_bert):
    """Artifacts from before `words` (and whitespace-trained models) split as they did."""
    assert ModelSpec().words == "whitespace" and ModelSpec().split_off == ""
    predictor = RulePredictor(_model(tiny_bert, "whitespace", split_off=",."), RULE)
    assert _entities(predictor, "I flew to Paris, then Rome.") == [
        ("Paris,", 10, 16),
        ("Rome.", 22, 27),
    ]


@pytest.mark.parametrize("words", ["unspaced", "punct+unspaced", "chars"])
def test_chinese_gets_a_word_per_character(tiny_bert, words):
    rule = {"北": "B-LOC", "京": "I-LOC", "。": "I-LOC"}
    predictor = RulePredictor(_model(tiny_bert, words, split_off="。"), rule)
    assert _entities(predictor, "我在北京工作。") == [("北京", 2, 4)]
    assert _entities(predictor, "他去了北京。") == [("北京", 3, 5)]


def test_chinese_on_a_whitespace_model_is_one_word(tiny_bert):
    rule = {"北": "B-LOC", "京": "I-LOC"}
    predictor = RulePredictor(_model(tiny_bert, "whitespace"), rule)
    assert _entities(predictor, "我在北京工作") == []  # one word, read at 我


@pytest.mark.parametrize("words", ["whitespace", "punct", "punct+unspaced", "chars"])
def test_offsets_slice_the_original_with_odd_spacing_and_non_ascii(tiny_bert, words):
    predictor = RulePredictor(_model(tiny_bert, words, split_off=",."), RULE)
    text = "  I  flew\tto \u00a0Zürich,\t\tthen   Rome  ,  Paris .\n"
    found = _entities(predictor, text)
    expected = {
        "whitespace": [("Zürich,", 14, 21), ("Rome", 30, 34), ("Paris", 39, 44)],
        "punct": [("Zürich", 14, 20), ("Rome", 30, 34), ("Paris", 39, 44)],
        "punct+unspaced": [("Zürich", 14, 20), ("Rome", 30, 34), ("Paris", 39, 44)],
        "chars": [],  # one word per character: "Z" is not a city
    }
    assert found == expected[words]


def test_long_text_windows_keep_offsets(tiny_bert):
    """A text far longer than max_length: every city is found, at its own offsets."""
    predictor = RulePredictor(_model(tiny_bert, "punct", split_off=",.", max_length=16), RULE)
    text = " ".join(f"we  saw Paris,\tthen Rome{'.' if i % 2 else ''}" for i in range(30))
    found = _entities(predictor, text)
    assert [t for t, _, _ in found] == ["Paris", "Rome"] * 30
    starts = [i for i in range(len(text)) if text.startswith(("Paris", "Rome"), i)]
    assert [s for _, s, _ in found] == starts
