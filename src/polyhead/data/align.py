"""Words <-> subwords: the one place where word-level tags meet the tokenizer.

The rule, used for training labels and for reading predictions back: **the first subword of
each word carries the word's tag id; every other subword and every special token gets
IGNORE_INDEX (-100)**, so the loss ignores them and a word's prediction is read at its first
subword.

The tokenizer must be a fast (Rust) tokenizer, since `word_ids` come from it, and it is
called with `is_split_into_words=True`. Byte-level BPE tokenizers (RoBERTa, GPT-2 style)
only accept pre-split words when loaded with `add_prefix_space=True`; whoever loads the
tokenizer (the model code) must pass it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

IGNORE_INDEX = -100


@dataclass
class EncodedWords:
    """Encoded rows (Python lists, unpadded). Without windows, row i is example i.

    `word_ids[r][t]` is the index, in its example's word list, of the word token t belongs
    to (None for special tokens); with windows these are still indices into the whole
    example, so predictions map straight back. `row_example[r]` is the example row r encodes.
    """

    input_ids: list[list[int]]
    attention_mask: list[list[int]]
    word_ids: list[list[int | None]]
    row_example: list[int]
    n_words: list[int]  # per example
    token_type_ids: list[list[int]] | None = None
    labels: list[list[int]] | None = None
    n_truncated_words: int = 0  # words with no subword in any row: no label, no prediction
    n_truncated_examples: int = 0  # examples that lost at least one word
    windows: list[list[tuple[int, int]]] = field(default_factory=list)  # per example, if stride


def encode_words(
    tokenizer,
    words: list[list[str]],
    max_length: int,
    tags: list[list[int]] | None = None,
    stride: int = 0,
) -> EncodedWords:
    """Tokenize pre-split words and align word-level tag ids to subwords (rule above).

    stride=0: one row per example, truncated to max_length; lost words are counted.
    stride>0: an example too long for one row becomes several rows over overlapping word
    windows (`stride` words shared between neighbours), so every word is encoded; merge
    the rows' predictions with `merge_window_predictions`.

    A word the tokenizer maps to no subword at all (e.g. a lone combining accent under an
    accent-stripping tokenizer) is encoded as the unknown token, so it still has a position.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("encode_words needs a fast tokenizer (it relies on word_ids)")
    if tags is not None and [len(t) for t in tags] != [len(w) for w in words]:
        raise ValueError("tags must hold one id per word for every example")
    words, counts = _visible_words(tokenizer, words)
    if stride > 0:
        budget = max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))
        windows = [word_windows(c, budget, stride) for c in counts]
    else:
        windows = [[(0, len(w))] for w in words]
    enc = _encode_windows(tokenizer, words, windows, max_length)
    if stride > 0:
        enc.windows = windows
    _count_truncation(enc)
    if tags is not None:
        enc.labels = [
            _row_labels(ids, tags[ex])
            for ids, ex in zip(enc.word_ids, enc.row_example, strict=True)
        ]
    return enc


def _visible_words(tokenizer, words: list[list[str]]) -> tuple[list[list[str]], list[list[int]]]:
    """Words with zero-subword words replaced by the unknown token, and subwords per word."""
    counts = subword_counts(tokenizer, words)
    unk = tokenizer.unk_token or "_"
    n_unk = max(1, len(tokenizer.tokenize(unk)))
    fixed_words, fixed_counts = [], []
    for ws, cs in zip(words, counts, strict=True):
        fixed_words.append(
            [w if c else unk for w, c in zip(ws, cs, strict=True)] if 0 in cs else ws
        )
        fixed_counts.append([c or n_unk for c in cs])
    return fixed_words, fixed_counts


def subword_counts(tokenizer, words: list[list[str]]) -> list[list[int]]:
    """Subwords per word (0 for a word the tokenizer drops)."""
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    counts = []
    for i, ws in enumerate(words):
        c = [0] * len(ws)
        for w in enc.word_ids(i):
            if w is not None:
                c[w] += 1
        counts.append(c)
    return counts


def _encode_windows(tokenizer, words, windows, max_length: int) -> EncodedWords:
    pieces = [(ex, s, e) for ex, wins in enumerate(windows) for s, e in wins]
    enc = tokenizer(
        [words[ex][s:e] for ex, s, e in pieces],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
    )
    word_ids = [
        [None if w is None else w + s for w in enc.word_ids(r)]  # shift to example indices
        for r, (_, s, _) in enumerate(pieces)
    ]
    return EncodedWords(
        input_ids=enc["input_ids"],
        attention_mask=enc["attention_mask"],
        word_ids=word_ids,
        row_example=[ex for ex, _, _ in pieces],
        n_words=[len(w) for w in words],
        token_type_ids=enc.get("token_type_ids"),
    )


def _count_truncation(enc: EncodedWords) -> None:
    seen: list[set[int]] = [set() for _ in enc.n_words]
    for ids, ex in zip(enc.word_ids, enc.row_example, strict=True):
        seen[ex].update(w for w in ids if w is not None)
    lost = [n - len(s) for n, s in zip(enc.n_words, seen, strict=True)]
    enc.n_truncated_words = sum(lost)
    enc.n_truncated_examples = sum(1 for n in lost if n)


def _row_labels(word_ids: list[int | None], tags: list[int]) -> list[int]:
    labels, previous = [], None
    for w in word_ids:
        labels.append(IGNORE_INDEX if w is None or w == previous else tags[w])
        previous = w
    return labels


def first_subwords(word_ids_row: Sequence[int | None]) -> list[tuple[int, int]]:
    """(token position, word id) of each word's first subword in a row.

    Accepts None or a negative number (padding convention) for "no word".
    """
    out, previous = [], None
    for t, w in enumerate(word_ids_row):
        w = None if w is None or w < 0 else int(w)
        if w is not None and w != previous:
            out.append((t, w))
        previous = w
    return out


def first_subword_mask(word_ids: torch.Tensor) -> torch.Tensor:
    """The same rule on tensors: (B, T) word ids (-1 = no word) -> (B, T) bool, True at each
    word's first subword."""
    prev = torch.cat([torch.full_like(word_ids[:, :1], -1), word_ids[:, :-1]], dim=1)  # (B, T)
    return (word_ids >= 0) & (word_ids != prev)


def word_predictions(logits_row, word_ids_row: Sequence[int | None]) -> list[int]:
    """(T, L) logits + T word ids -> the argmax at each word's first subword, in row order."""
    best = _as_array(logits_row).argmax(-1)  # (T,)
    return [int(best[t]) for t, _ in first_subwords(word_ids_row)]


def _as_array(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, possibly on GPU or in bf16
        values = values.detach().float().cpu().numpy()
    return np.asarray(values)


def windows_for_long_input(
    tokenizer, words: list[str], max_length: int, stride: int
) -> list[tuple[int, int]]:
    """Word ranges [start, end) that cover `words`, each fitting max_length tokens."""
    _, counts = _visible_words(tokenizer, [words])
    budget = max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))
    return word_windows(counts[0], budget, stride)


def word_windows(subword_counts: list[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Word ranges [start, end) covering every word, each holding at most `budget` subwords.

    Consecutive windows share `stride` words (at most half a window's words, so each window
    moves on by at least half: a stride longer than the windows cannot multiply the rows), so
    a word near one window's edge sits well inside the next. A single word longer than the
    budget gets a window of its own (truncated, but its first subword survives).
    """
    windows, start, n = [], 0, len(subword_counts)
    while True:
        end, used = start, 0
        while end < n and (end == start or used + subword_counts[end] <= budget):
            used += subword_counts[end]
            end += 1
        windows.append((start, end))
        if end >= n:
            return windows
        start = max(start + 1, end - min(stride, (end - start) // 2))


def merge_window_predictions(
    enc: EncodedWords, row_predictions: Sequence[Sequence[int]], fill: int = 0
) -> list[list[int]]:
    """Per-row word predictions (`word_predictions` of each row) -> one per word per example.

    A word seen in several windows takes the prediction of the window where it sits
    furthest from an edge; a word in no row (truncated, stride=0) gets `fill`.
    """
    out = [[fill] * n for n in enc.n_words]
    margin = [[-1] * n for n in enc.n_words]
    for ids, ex, preds in zip(enc.word_ids, enc.row_example, row_predictions, strict=True):
        words = [w for _, w in first_subwords(ids)]
        if not words:
            continue
        lo, hi = words[0], words[-1]
        for w, p in zip(words, preds, strict=True):
            m = min(w - lo, hi - w)
            if m > margin[ex][w]:
                margin[ex][w], out[ex][w] = m, int(p)
    return out


_LOCATION_OPTIONS = {"name_or_path", "is_local", "local_files_only", "cache_dir"}


def tokenizer_fingerprint(tokenizer) -> str:
    """The fast tokenizer's full serialisation (vocab, normaliser, pre-tokeniser, post-processor)
    plus the options set on the Python wrapper (e.g. add_prefix_space)."""
    rules = json.loads(tokenizer.backend_tokenizer.to_str())
    # Truncation and padding are per-call settings the last call leaves behind: not the rules.
    rules.pop("truncation", None), rules.pop("padding", None)
    h = hashlib.sha256(json.dumps(rules).encode())  # key order is the serialiser's own
    h.update(type(tokenizer).__name__.encode())
    # Where the files were loaded from does not change the tokens; the options do.
    options = {
        k: v
        for k, v in getattr(tokenizer, "init_kwargs", {}).items()
        if k not in _LOCATION_OPTIONS and not k.endswith("_file")
    }
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    return h.hexdigest()
