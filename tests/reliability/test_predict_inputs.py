"""Prediction on awkward inputs: empty and whitespace-only strings, emoji, zero-width and
combining characters, and inputs far longer than max_length all give a full answer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.predict import Predictor

LONG = " ".join(f"word{i}" for i in range(1500))  # ~4500 subwords, max_length 32


@pytest.fixture(scope="module")
def predictor(rel_bert):
    tasks = [
        TaskSpec(name="intent", kind="sentence", labels=["a", "b", "c"]),
        TaskSpec(name="slots", kind="token", labels=["O", "B-X", "I-X"]),
    ]
    model = MultiTaskModel(ModelSpec(backbone=str(rel_bert), max_length=32, tasks=tasks))
    return Predictor(model.eval(), batch_size=4)


def check(text: str, item: dict) -> None:
    assert item["text"] == text
    assert item["intent"]["label"] in {"a", "b", "c"} and 0 < item["intent"]["score"] <= 1
    for entity in item["slots"]:
        assert 0 <= entity["start_char"] < entity["end_char"] <= len(text)
        assert text[entity["start_char"] : entity["end_char"]] == entity["text"]


def test_awkward_inputs(predictor):
    texts = [
        "",
        "   ",
        "\t\n",
        "🙂🔥 wake me up 👋",
        "e\u0301te\u0301",
        "a\u200bb",
        "日本語の文",
        LONG,
    ]
    items = predictor.predict(texts, embeddings=True)
    assert len(items) == len(texts)
    for text, item in zip(texts, items, strict=True):
        check(text, item)
        assert len(item["embedding"]) == 32
    assert items[0]["slots"] == [] and items[1]["slots"] == []


def test_long_input_gets_a_prediction_for_every_word(predictor):
    """Every one of the 1500 words is read (windows), not only the first max_length tokens."""
    words = predictor.predict([LONG])[0]
    prepared = predictor.prepare([LONG])
    parts = list(zip(prepared.windows, predictor.run(prepared.windows), strict=True))
    raw = predictor._merge(parts, 1500)["slots"]  # (n_words, L) per-word probabilities
    assert raw.shape == (1500, 3) and bool((raw.sum(-1) > 0.99).all())
    check(LONG, words)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
def test_any_text_gives_one_well_formed_answer(predictor, texts):
    items = predictor.predict(texts)
    assert len(items) == len(texts)
    for text, item in zip(texts, items, strict=True):
        check(text, item)
