"""Which window owns a word: the one rule training labels and evaluation merges share.

An example longer than max_length is encoded as several overlapping windows
(`align.encode_words(stride=...)`). A word seen in more than one window is **owned by the
window where it sits furthest from an edge** (its margin: words to the nearer end of the
window), the first such window on a tie. Training puts the word's label only in its owner
(every labelled word trains once; elsewhere it is context), and evaluation reads the word's
prediction only from its owner (every word is scored once) - the same rule
`align.merge_window_predictions` and `Predictor` apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from polyhead.data.align import IGNORE_INDEX, first_subwords


def word_margins(word_ids_row: Sequence[int | None]) -> list[tuple[int, int, int]]:
    """(token position, word id, margin) of each word's first subword in one window; the
    margin is min(words before it, words after it) within the window."""
    firsts = first_subwords(word_ids_row)
    if not firsts:
        return []
    lo, hi = firsts[0][1], firsts[-1][1]
    return [(t, w, min(w - lo, hi - w)) for t, w in firsts]


def window_numbers(row_example: Sequence[int]) -> list[int]:
    """Each row's window number within its example (rows of an example are consecutive)."""
    out, previous, n = [], None, 0
    for ex in row_example:
        n = n + 1 if ex == previous else 0
        out.append(n)
        previous = ex
    return out


def owned_positions(
    word_ids: Sequence[Sequence[int | None]], row_example: Sequence[int]
) -> list[set[int]]:
    """Per row, the token positions (first subwords) of the words that row owns."""
    best: dict[tuple[int, int], tuple[int, int, int]] = {}  # (example, word) -> (margin, row, t)
    for r, (ids, ex) in enumerate(zip(word_ids, row_example, strict=True)):
        for t, w, margin in word_margins(ids):
            seen = best.get((ex, w))
            if seen is None or margin > seen[0]:  # strict: the first window wins a tie
                best[(ex, w)] = (margin, r, t)
    owned: list[set[int]] = [set() for _ in word_ids]
    for _, r, t in best.values():
        owned[r].add(t)
    return owned


def merge_owned(windows: dict[int, Sequence[tuple[int, int, object]]], n_words: int, fill):
    """Window number -> [(word id, margin, prediction)] of one example -> one prediction per
    word, each from its owning window (`fill` for a word no window holds)."""
    out, margins = [fill] * n_words, [-1] * n_words
    for number in sorted(windows):  # ascending, so the first window wins a tie
        for w, margin, pred in windows[number]:
            if w < n_words and margin > margins[w]:
                margins[w], out[w] = margin, pred
    return out


def owned_labels(enc) -> list[list[int]]:
    """Each row's labels of an `EncodedWords` kept only at the words it owns (the rest is
    context, IGNORE_INDEX)."""
    owned = owned_positions(enc.word_ids, enc.row_example)
    return [
        [label if t in keep else IGNORE_INDEX for t, label in enumerate(row)]
        for row, keep in zip(enc.labels, owned, strict=True)
    ]
