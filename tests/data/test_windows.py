"""Long token-task examples as windows: every labelled word trains once (in the window that
owns it) and is scored once (read back from that same window), where truncation loses the
tail. Real MiniLM WordPiece tokenizer, no model: the "predictions" are built from the rows."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polyhead.data import IGNORE_INDEX, Example
from polyhead.data.labels import LabelSet
from polyhead.data.rows import EncodeStats, batches_in_order, encode_source
from polyhead.data.sources import SourceData
from polyhead.data.windows import merge_owned, owned_positions, window_numbers, word_margins
from polyhead.engine.evaluation import PredictionCollector
from tests.data.test_align import tokenizer

TYPES = ["LOC", "PER", "ORG"]


def _tagged(rng: random.Random, n_words: int) -> Example:
    words = [
        rng.choice(["Paris", "unbelievably", "x", ",", "Zürich", "a", "rome"])
        for _ in range(n_words)
    ]
    tags, prev = [], "O"
    for _ in words:
        kind = rng.choice(["O", "O", *TYPES])
        cont = prev != "O" and rng.random() < 0.5
        tags.append("O" if kind == "O" else (f"I-{prev[2:]}" if cont else f"B-{kind}"))
        prev = tags[-1]
    return Example(words, tags, label=rng.choice(["a", "b"]))


def _source(examples, tasks=("slots",)) -> SourceData:
    return SourceData(0, None, list(tasks), {"dev": examples})


def _labels(examples) -> dict[str, LabelSet]:
    return {"slots": LabelSet.for_tags(examples), "intent": LabelSet(["a", "b"])}


KINDS = {"slots": "token"}


def _encode(examples, max_length=16, stride=3, kinds=KINDS, stats=None):
    src = _source(examples, kinds)
    return src, encode_source(
        tokenizer(), src, "dev", kinds, _labels(examples), max_length, stats, stride=stride
    )


def test_window_numbers_count_within_each_example():
    assert window_numbers([0, 0, 0, 1, 2, 2]) == [0, 1, 2, 0, 0, 1]


def test_the_most_central_window_owns_a_word_and_the_first_wins_a_tie():
    # words 0-4 in window 0, 2-6 in window 1. Margins (words to the nearer window edge):
    # word 2: 2 vs 0, word 3: 1 vs 1 (a tie: window 0), word 4: 0 vs 2
    rows = [[None, 0, 1, 2, 3, 4, None], [None, 2, 3, 4, 5, 6, None]]
    assert word_margins(rows[1]) == [(1, 2, 0), (2, 3, 1), (3, 4, 2), (4, 5, 1), (5, 6, 0)]
    assert owned_positions(rows, [0, 0]) == [{1, 2, 3, 4}, {3, 4, 5}]
    assert owned_positions(rows, [0, 1]) == [{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}]  # 2 examples
    per_window = {
        n: [(w, m, f"{n}:{w}") for _, w, m in word_margins(r)] for n, r in enumerate(rows)
    }
    merged = merge_owned(per_window, 8, fill="-")
    assert merged == ["0:0", "0:1", "0:2", "0:3", "1:4", "1:5", "1:6", "-"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), max_length=st.integers(6, 20), stride=st.integers(1, 6))
def test_every_labelled_word_is_labelled_in_exactly_one_window(seed, max_length, stride):
    rng = random.Random(seed)
    examples = [_tagged(rng, rng.randint(0, 40)) for _ in range(4)]
    _, rows = _encode(examples, max_length, stride)
    labels = _labels(examples)["slots"]
    seen: dict[tuple[int, int], list[int]] = {}
    for row in rows:
        assert len(row["input_ids"]) <= max_length
        for label, w in zip(row["labels.slots"], row["word_ids"], strict=True):
            if label != IGNORE_INDEX:
                seen.setdefault((row["index"], w), []).append(label)
    expected = {
        (i, w): [labels.id(tag)] for i, ex in enumerate(examples) for w, tag in enumerate(ex.tags)
    }
    assert seen == expected
    assert [r["row"] for r in rows] == list(range(len(rows)))


def test_truncation_loses_the_tail_that_windows_keep():
    rng = random.Random(0)
    examples = [_tagged(rng, 30), _tagged(rng, 3)]
    cut, windowed = EncodeStats(), EncodeStats()
    _, rows_cut = _encode(examples, stride=0, stats=cut)
    _, rows_win = _encode(examples, stride=3, stats=windowed)
    assert len(rows_cut) == 2 and cut.n_truncated_examples == 1 and cut.n_truncated_words > 0
    labelled = sum(label != IGNORE_INDEX for r in rows_cut for label in r["labels.slots"])
    assert labelled == 33 - cut.n_truncated_words
    assert windowed.n_truncated_words == 0 and windowed.n_windowed_examples == 1
    assert windowed.n_rows == len(rows_win) > 2
    assert [r["window"] for r in rows_win if r["index"] == 0] == list(range(len(rows_win) - 1))


def test_a_sentence_label_goes_on_every_window_of_a_joint_source():
    examples = [_tagged(random.Random(1), 30)]
    kinds = {"intent": "sentence", "slots": "token"}
    _, rows = _encode(examples, kinds=kinds)
    assert len(rows) > 1
    assert {r["labels.intent"] for r in rows} == {_labels(examples)["intent"].id(examples[0].label)}


def test_a_sentence_only_source_is_never_windowed():
    examples = [_tagged(random.Random(2), 30)]
    _, rows = _encode(examples, kinds={"intent": "sentence"})
    assert len(rows) == 1


def _oracle_logits(batch, examples, labels: LabelSet, task: str = "slots") -> torch.Tensor:
    """(B, T, L) logits whose argmax at a word is its gold label in the rows that label it
    and a wrong label in every other row holding it: only the owning window is right."""
    n = len(labels.names)
    target = torch.zeros_like(batch["input_ids"])  # (B, T)
    for b, (i, words) in enumerate(
        zip(batch["index"].tolist(), batch["word_ids"].tolist(), strict=True)
    ):
        for t, w in enumerate(words):
            if w >= 0:
                gold = labels.id(examples[i].tags[w])
                owned = batch[f"labels.{task}"][b, t] != IGNORE_INDEX
                target[b, t] = gold if owned else (gold + 1) % n
    return torch.nn.functional.one_hot(target, n).float()


@pytest.mark.parametrize("stride", [1, 3, 8])
def test_evaluation_reads_each_word_from_the_window_that_trained_it(stride):
    rng = random.Random(stride)
    examples = [_tagged(rng, n) for n in (45, 2, 17, 0, 30)]
    src, rows = _encode(examples, max_length=12, stride=stride)
    labels = _labels(examples)
    collector = PredictionCollector([src], KINDS, labels, "dev")
    rng.shuffle(rows)  # batches arrive in any order (DDP shards, samplers)
    for batch in batches_in_order(rows, 5):
        collector.add(batch, {"slots": _oracle_logits(batch, examples, labels["slots"])})
    assert collector.predictions(src, "slots") == [ex.tags for ex in examples]
    assert collector.metrics()["slots"]["f1"] == 1.0


def test_truncated_words_are_scored_as_o():
    examples = [_tagged(random.Random(5), 40)]
    src, rows = _encode(examples, max_length=12, stride=0)
    labels = _labels(examples)
    collector = PredictionCollector([src], KINDS, labels, "dev")
    for batch in batches_in_order(rows, 4):
        collector.add(batch, {"slots": _oracle_logits(batch, examples, labels["slots"])})
    (pred,) = collector.predictions(src, "slots")
    n_kept = sum(label != IGNORE_INDEX for label in rows[0]["labels.slots"])
    assert pred[:n_kept] == examples[0].tags[:n_kept] and set(pred[n_kept:]) == {"O"}
    assert n_kept < len(examples[0].tags)


def test_a_sentence_prediction_averages_its_windows():
    examples = [_tagged(random.Random(3), 40)]
    kinds = {"intent": "sentence", "slots": "token"}
    src, rows = _encode(examples, kinds=kinds)
    labels = _labels(examples)
    collector = PredictionCollector([src], kinds, labels, "dev")
    batch = next(batches_in_order(rows, len(rows)))
    n = len(rows)
    assert n >= 3
    # the first window is sure of "b", the others fairly sure of "a": the mean says "a"
    intent = torch.tensor([[0.0, 5.0]] + [[3.0, 0.0]] * (n - 1))  # (B, 2)
    slots = _oracle_logits(batch, examples, labels["slots"])
    collector.add(batch, {"intent": intent, "slots": slots})
    assert collector.predictions(src, "intent") == ["a"]
