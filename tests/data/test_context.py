"""Document context (`data.context: document`) on documents made here: a sentence's window
holds its neighbours of the same document and never another document's words; context
tokens carry no label and no word id (no loss, no prediction); a sentence too long for one
window is windowed without context; evaluation still scores every word once."""

from __future__ import annotations

import random

import pytest

from polyhead.config import validate_config
from polyhead.data import IGNORE_INDEX
from polyhead.data.context import context_words
from polyhead.data.labels import LabelSet
from polyhead.data.readers import read_examples
from polyhead.data.rows import batches_in_order, encode_source
from polyhead.data.sources import SourceData
from polyhead.engine.evaluation import PredictionCollector
from polyhead.errors import ConfigError
from tests.data.test_align import tokenizer
from tests.data.test_windows import _oracle_logits

# Each document has its own vocabulary, so a context token names the document it came from.
DOCS = {
    "A": [["alpha", "went", "to", "paris"], ["alpha", "liked", "it"], ["alpha", "left", "rome"]],
    "B": [["bravo", "met", "oslo"], ["bravo", "stayed"]],
}
TAGGED = {"paris": "B-LOC", "rome": "B-LOC", "oslo": "B-LOC"}


def _conll(path):
    lines = []
    for sentences in DOCS.values():
        lines += ["-DOCSTART- O", ""]
        for words in sentences:
            lines += [f"{w} {TAGGED.get(w, 'O')}" for w in words] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def examples(tmp_path):
    return read_examples(_conll(tmp_path / "docs.conll"))


def _rows(examples, max_length=32, stride=4, context="document"):
    src = SourceData(0, None, ["places"], {"dev": examples})
    labels = {"places": LabelSet.for_tags(examples)}
    rows = encode_source(
        tokenizer(),
        src,
        "dev",
        {"places": "token"},
        labels,
        max_length,
        stride=stride,
        context=context,
    )
    return src, labels, rows


def test_conll_docstart_blocks_and_jsonl_doc_ids_name_documents(examples, tmp_path):
    docs = [ex.document for ex in examples]
    assert docs[:3] == [docs[0]] * 3 and docs[3:] == [docs[3]] * 2 and docs[0] != docs[3]
    assert docs[0].endswith("docs.conll:1")
    path = tmp_path / "d.jsonl"
    path.write_text('{"tokens": ["a"], "doc_id": 7}\n{"tokens": ["b"]}\n')
    assert [ex.document for ex in read_examples(path)] == ["7", None]


def test_context_never_crosses_a_document_and_carries_no_label(examples):
    _, labels, rows = _rows(examples)
    assert len(rows) == len(examples)  # every sentence fits: one row each
    tok = tokenizer()
    for row, ex in zip(rows, examples, strict=True):
        pieces = tok.convert_ids_to_tokens(row["input_ids"])
        own = [p for p, w in zip(pieces, row["word_ids"], strict=True) if w >= 0]
        context = [p for p, w in zip(pieces, row["word_ids"], strict=True) if w < 0]
        assert own == ex.tokens  # one subword per word in this vocabulary
        doc_words = {w for s in DOCS["A" if ex.tokens[0] == "alpha" else "B"] for w in s}
        assert set(context) - {"[CLS]", "[SEP]"} <= doc_words
        for label, w in zip(row["labels.places"], row["word_ids"], strict=True):
            assert (label != IGNORE_INDEX) == (w >= 0)
    # the middle sentence of A sees both neighbours, in text order
    middle = tok.convert_ids_to_tokens(rows[1]["input_ids"])
    assert middle[1:-1] == [w for s in DOCS["A"] for w in s]


def test_context_fills_the_window_nearest_words_first(examples):
    counts = [[1] * len(ex.tokens) for ex in examples]
    # sentence 1 of A ("alpha liked it", 3 words) with room for 4 more: 2 left, 2 right
    assert context_words(examples, counts, budget=7)[1] == (["to", "paris"], ["alpha", "left"])
    # the last sentence of A has no right neighbour in its document: all room goes left
    assert context_words(examples, counts, budget=6)[2] == (["alpha", "liked", "it"], [])
    assert context_words(examples, counts, budget=2)[2] is None  # does not fit alone


def test_a_sentence_too_long_for_a_window_is_windowed_without_context(examples):
    _, _, rows = _rows(examples, max_length=5, stride=1)  # 3 subwords per window
    first = [r for r in rows if r["index"] == 0]
    assert len(first) == 2 and all(-1 not in r["word_ids"][1:-1] for r in first)
    short = [r for r in rows if r["index"] == 4]  # "bravo stayed" + one context word
    assert len(short) == 1 and short[0]["word_ids"] == [-1, -1, 0, 1, -1]


def test_without_documents_there_is_no_context(examples):
    for ex in examples:
        ex.document = None
    _, _, with_docs_off = _rows(examples)
    _, _, sentence_mode = _rows(examples, context="sentence")
    assert with_docs_off == sentence_mode


@pytest.mark.parametrize("max_length", [5, 8, 32])
def test_every_word_is_scored_once_from_its_own_sentence(examples, max_length):
    src, labels, rows = _rows(examples, max_length=max_length, stride=1)
    random.Random(0).shuffle(rows)
    collector = PredictionCollector([src], {"places": "token"}, labels, "dev")
    for batch in batches_in_order(rows, 3):
        collector.add(
            batch, {"places": _oracle_logits(batch, examples, labels["places"], "places")}
        )
    assert collector.predictions(src, "places") == [ex.tags for ex in examples]


def test_document_context_is_refused_for_a_sentence_task(tmp_path):
    raw = {
        "data": {"train": str(_conll(tmp_path / "d.conll")), "context": "document"},
        "tasks": {"places": {"kind": "token"}, "topic": {"kind": "sentence"}},
    }
    with pytest.raises(ConfigError, match=r"'tasks\.topic': data\.context: document is for token"):
        validate_config(raw)
