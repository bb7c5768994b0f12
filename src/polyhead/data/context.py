"""Document context for token tasks (`data.context: document`), as in FLERT (Schweter and
Akbik, 2020): a sentence's window is filled with the words of its neighbours in the same
document (CoNLL -DOCSTART- blocks, a JSONL `doc_id`), nearest words first, alternating left
and right, so the encoder sees the surrounding text.

Context words carry no label (IGNORE_INDEX) and no word id (-1, like special tokens): they
add no loss and get no prediction, so every sentence is still trained and scored on its
own words only. Context never crosses a document boundary, and a sentence without a
document (None) gets none. A sentence too long for one window gets no context: it is
split into windows as usual (`align.encode_words(stride=...)`).
"""

from __future__ import annotations

from collections.abc import Sequence

from polyhead.data import align
from polyhead.data.align import IGNORE_INDEX, EncodedWords, encode_words
from polyhead.data.example import Example
from polyhead.errors import ConfigError


def check_document_context(kinds: dict[str, str], sources: dict) -> None:
    """Document context is for token tasks: every other kind (sentence, multilabel,
    regression, a pair task's head) labels the input as a whole, which context would change.
    `kinds`: task -> what its head predicts; `sources`: task -> its `data:` settings."""
    for name, kind in kinds.items():
        if kind != "token" and sources[name].context == "document":
            raise ConfigError(
                f"tasks.{name}",
                "data.context: document is for token tasks (neighbouring sentences "
                "would change a sentence label's input); give this task its own data",
            )


def subword_counts(tokenizer, words: list[list[str]]) -> list[list[int]]:
    """Subwords per word (at least 1: a word of none is encoded as the unknown token)."""
    return [[max(1, n) for n in c] for c in align.subword_counts(tokenizer, words)]


def _neighbour_words(examples, counts, i: int, step: int):
    """(word, subwords) of the sentences before (step -1) or after (+1) example i in its
    document, nearest first."""
    document = examples[i].document
    j = i + step
    while document is not None and 0 <= j < len(examples) and examples[j].document == document:
        order = range(len(examples[j].tokens))
        for w in reversed(order) if step < 0 else order:
            yield examples[j].tokens[w], counts[j][w]
        j += step


def context_words(
    examples: Sequence[Example], counts: list[list[int]], budget: int
) -> list[tuple[list[str], list[str]] | None]:
    """Per example: (left, right) context words that fill its window up to `budget`
    subwords (in text order), or None when the sentence alone does not fit."""
    out: list[tuple[list[str], list[str]] | None] = []
    for i in range(len(examples)):
        room = budget - sum(counts[i])
        if room < 0:
            out.append(None)
            continue
        sides = {
            -1: _neighbour_words(examples, counts, i, -1),
            1: _neighbour_words(examples, counts, i, 1),
        }
        taken: dict[int, list[str]] = {-1: [], 1: []}
        while sides:
            for step in list(sides):
                word, n = next(sides[step], (None, 0))
                if word is None or n > room:
                    del sides[step]  # this side is used up, or its next word does not fit
                    continue
                taken[step].append(word)
                room -= n
        out.append((taken[-1][::-1], taken[1]))
    return out


def encode_in_context(
    tokenizer,
    examples: Sequence[Example],
    max_length: int,
    tags: list[list[int]] | None = None,
    stride: int = 0,
) -> EncodedWords:
    """`align.encode_words` with document context: rows in example order, word ids and
    labels only on each example's own words (context: -1 / IGNORE_INDEX)."""
    words = [ex.tokens for ex in examples]
    budget = max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))
    contexts = context_words(examples, subword_counts(tokenizer, words), budget)
    fit = [i for i, c in enumerate(contexts) if c is not None]
    long = [i for i, c in enumerate(contexts) if c is None]
    extended = [contexts[i][0] + words[i] + contexts[i][1] for i in fit]
    ext_tags = None
    if tags is not None:
        ext_tags = [
            [IGNORE_INDEX] * len(contexts[i][0]) + tags[i] + [IGNORE_INDEX] * len(contexts[i][1])
            for i in fit
        ]
    parts = []
    if fit:
        in_context = encode_words(tokenizer, extended, max_length, tags=ext_tags)
        for r, i in enumerate(fit):  # word ids back to the sentence's own words; context: none
            left, n = len(contexts[i][0]), len(words[i])
            in_context.word_ids[r] = [
                w - left if w is not None and left <= w < left + n else None
                for w in in_context.word_ids[r]
            ]
        parts.append((in_context, fit))
    if long:
        long_tags = None if tags is None else [tags[i] for i in long]
        alone = encode_words(
            tokenizer, [words[i] for i in long], max_length, tags=long_tags, stride=stride
        )
        parts.append((alone, long))
    return _in_example_order(parts, [len(w) for w in words])


def _in_example_order(parts: list[tuple[EncodedWords, list[int]]], n_words) -> EncodedWords:
    """One encoding from parts that each encode some examples (their indices given)."""
    rows = [
        (examples[ex], enc, r) for enc, examples in parts for r, ex in enumerate(enc.row_example)
    ]
    rows.sort(key=lambda item: item[0])  # stable: an example's windows keep their order

    def column(name):
        if any(getattr(enc, name) is None for enc, _ in parts):
            return None
        return [getattr(enc, name)[r] for _, enc, r in rows]

    return EncodedWords(
        input_ids=column("input_ids") or [],
        attention_mask=column("attention_mask") or [],
        word_ids=column("word_ids") or [],
        row_example=[ex for ex, _, _ in rows],
        n_words=n_words,
        token_type_ids=column("token_type_ids") if parts else None,
        labels=column("labels") if parts else None,
        n_truncated_words=sum(enc.n_truncated_words for enc, _ in parts),
        n_truncated_examples=sum(enc.n_truncated_examples for enc, _ in parts),
    )
