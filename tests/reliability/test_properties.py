"""Property-based tests (hypothesis) for what tests/data does not already cover: readers
round-trip what a writer of their format produces, and the validation path (truncating
encode -> word-level predictions -> collector) returns one prediction per word whatever the
words are. (Windowed alignment round trips: tests/data/test_align.py.)"""

from __future__ import annotations

import json

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyhead.data import LabelSet, read_examples
from polyhead.data.example import Example
from polyhead.data.rows import collate, encode_source
from polyhead.data.sources import SourceData
from polyhead.engine.evaluation import PredictionCollector
from polyhead.evaluate import entities_from_tags
from tests.data.test_align import tokenizer

# A word: no whitespace of any kind (every reader splits on it), no control characters.
# A leading U+FEFF is excluded: at the start of a file it is a byte-order mark by definition.
word = (
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=6
    )
    .filter(lambda w: w.split() == [w] and not w.startswith("\ufeff"))
    .filter(lambda w: w != "-DOCSTART-")
)
kind = st.sampled_from(["PER", "LOC", "time", "date_x"])


@st.composite
def tagged_sentence(draw, alphabet=word, max_words=12):
    """Words with valid BIO tags (every I-X continues an X span)."""
    words = draw(st.lists(alphabet, min_size=1, max_size=max_words))
    tags, previous = [], None
    for _ in words:
        choice = draw(st.sampled_from(["O", "B", "I"]))
        if choice == "I" and previous is not None:
            tags.append(f"I-{previous}")
        elif choice == "O":
            tags.append("O")
            previous = None
        else:
            previous = draw(kind)
            tags.append(f"B-{previous}")
    return words, tags


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(st.lists(tagged_sentence(), min_size=1, max_size=4), st.sampled_from(["\n", "\r\n"]))
def test_conll_write_read_round_trip(tmp_path_factory, sentences, newline):
    lines = []
    for words, tags in sentences:
        lines += [f"{w}\t{t}" for w, t in zip(words, tags, strict=True)] + [""]
    path = tmp_path_factory.mktemp("conll") / "a.conll"
    path.write_bytes(newline.join(lines).encode("utf-8"))
    examples = read_examples(path)
    assert [(ex.tokens, ex.tags) for ex in examples] == [(w, t) for w, t in sentences]


# MASSIVE cannot write a word holding a bracket; such words are not generated.
massive_word = word.filter(lambda w: "[" not in w and "]" not in w)


def annotate(words: list[str], tags: list[str]) -> str:
    """MASSIVE's `annot_utt`: `[slot : words]` around every entity."""
    pieces, i = [], 0
    for e in entities_from_tags(words, tags, [(0, 0)] * len(words)):
        pieces += words[i : e["start_word"]]
        pieces.append(f"[{e['type']} : {' '.join(words[e['start_word'] : e['end_word']])}]")
        i = e["end_word"]
    return " ".join(pieces + words[i:])


@SETTINGS
@given(st.lists(tagged_sentence(massive_word), min_size=1, max_size=4))
def test_massive_annotation_round_trip(tmp_path_factory, sentences):
    path = tmp_path_factory.mktemp("massive") / "m.jsonl"
    records = [
        {"utt": " ".join(w), "annot_utt": annotate(w, t), "intent": "x", "partition": "train"}
        for w, t in sentences
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    examples = read_examples(path, format="massive")
    assert [(ex.tokens, ex.tags) for ex in examples] == [(w, t) for w, t in sentences]


@SETTINGS
@given(st.lists(tagged_sentence(), min_size=1, max_size=4))
def test_jsonl_entity_spans_round_trip_to_the_same_tags(tmp_path_factory, sentences):
    """Entities as predicted (char spans on the text) read back as the tags they came from."""
    path = tmp_path_factory.mktemp("jsonl") / "a.jsonl"
    records = []
    for words, tags in sentences:
        ex = Example.from_text(" ".join(words))
        spans = entities_from_tags(ex.tokens, tags, ex.offsets, text=ex.text)
        ents = [[e["start_char"], e["end_char"], e["type"]] for e in spans]
        records.append({"text": ex.text, "entities": ents})
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    assert [ex.tags for ex in read_examples(path)] == [t for _, t in sentences]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(word, min_size=1, max_size=40), min_size=1, max_size=4))
def test_validation_path_gives_one_prediction_per_word(sentences):
    """encode (truncating at 16 tokens) -> batch -> word-level argmax -> collector: every
    example gets exactly one tag per word; words cut off by truncation are predicted 'O'."""
    labels = LabelSet(["O", "B-X", "I-X"])
    examples = [Example(words, ["B-X"] * len(words)) for words in sentences]
    src = SourceData(0, None, ["tags"], {"dev": examples})
    rows = encode_source(tokenizer(), src, "dev", {"tags": "token"}, {"tags": labels}, 16)
    batch = collate(rows)
    logits = torch.zeros(*batch["input_ids"].shape, len(labels))  # (B, T, L)
    logits[..., 1] = 1.0  # every subword predicts B-X
    collector = PredictionCollector([src], {"tags": "token"}, {"tags": labels}, "dev")
    collector.add(batch, {"tags": logits})
    predicted = collector.predictions(src, "tags")
    assert [len(p) for p in predicted] == [len(w) for w in sentences]
    for words, row, tags in zip(sentences, rows, predicted, strict=True):
        seen = len({w for w in row["word_ids"] if w >= 0})
        assert tags == ["B-X"] * seen + ["O"] * (len(words) - seen)
