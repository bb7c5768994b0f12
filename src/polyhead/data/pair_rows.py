"""Sentence pairs as model inputs: each side tokenised the way sentence rows are, then
batched with all sides stacked into one (k * B, T) batch, so one forward pass encodes them.

A pairs row: {"sides": [inputs of side 0, side 1(, side 2)], "score", "index", "source"}
where each side holds the tokenizer outputs of one sentence (input ids, attention mask,
token type ids). Side 0 is the anchor / text, side 1 the positive / text_pair, side 2 the
hard negative. A batch (`collate_pairs`) holds `input_ids` etc. of shape (k * B, T): rows
[s * B, (s + 1) * B) are side s; `pair_sides` = k, `score` (B,), `index` (B,), `source` (B,).
"""

from __future__ import annotations

import bisect
import random
from array import array
from collections.abc import Sequence
from pathlib import Path

import torch

from polyhead.data.align import encode_words
from polyhead.data.example import split_words
from polyhead.data.pairs import Pair, read_pairs
from polyhead.data.rows import MODEL_INPUTS, collate
from polyhead.data.sources import DEFAULT_DEV_FRACTION, DataSource
from polyhead.errors import ConfigError

SPLITS = ("train", "dev", "test")


def pair_kind(pairs: list[Pair]) -> str:
    """ "scored" (text, text_pair, score) or "triples" (anchor, positive[, negative])."""
    return "scored" if pairs and pairs[0].score is not None else "triples"


def load_pair_splits(src: DataSource, seed: int, field: str) -> dict[str, list[Pair]]:
    """A pairs source's train / dev / test pairs: `path` or `train` is the training file,
    `dev` / `test` optional; `dev_fraction` carves dev from train; `max_train_examples` /
    `max_eval_examples` keep a seeded random subset. `field` names the config field."""
    files = {"train": src.train or src.path, "dev": src.dev, "test": src.test}
    splits = {k: read_pairs(Path(p)) if p else [] for k, p in files.items()}
    if not splits["train"]:
        raise ConfigError(field, f"{files['train']}: no training pairs")
    kinds = {pair_kind(v) for v in splits.values() if v}
    if len(kinds) > 1:
        raise ConfigError(field, "train, dev and test must hold the same kind of pairs")
    rng = random.Random(seed)
    # dev_fraction None: the sentence sources' default carve (a 10 % share of train)
    fraction = DEFAULT_DEV_FRACTION if src.dev_fraction is None else src.dev_fraction
    if not splits["dev"] and fraction > 0:
        train = splits["train"][:]
        rng.shuffle(train)
        n_dev = max(1, int(len(train) * fraction))
        splits["dev"], splits["train"] = train[:n_dev], train[n_dev:]
    splits["train"] = _subsample(splits["train"], src.max_train_examples, rng)
    for k in ("dev", "test"):
        splits[k] = _subsample(splits[k], src.max_eval_examples, rng)
    return splits


def _subsample(pairs: list[Pair], limit: int | None, rng: random.Random) -> list[Pair]:
    if limit is None or len(pairs) <= limit:
        return pairs
    return [pairs[i] for i in sorted(rng.sample(range(len(pairs)), limit))]


def encode_texts(tokenizer, texts: list[str], max_length: int) -> list[dict]:
    """Model inputs per text, tokenised like sentence rows (words split, then truncated)."""
    enc = encode_words(tokenizer, [split_words(t)[0] for t in texts], max_length)
    out = []
    for i in range(len(texts)):
        row = {"input_ids": enc.input_ids[i], "attention_mask": enc.attention_mask[i]}
        if enc.token_type_ids is not None:
            row["token_type_ids"] = enc.token_type_ids[i]
        out.append(row)
    return out


class FilePairRows(Sequence):
    """The pairs of one file split as rows; every distinct sentence is tokenised once."""

    def __init__(self, tokenizer, pairs: list[Pair], max_length: int, source: int):
        self.pairs, self.source = pairs, source
        texts = list(dict.fromkeys(t for p in pairs for t in _sides(p)))
        encoded = encode_texts(tokenizer, texts, max_length) if texts else []
        self._inputs = dict(zip(texts, encoded, strict=True))
        # all rows or none carry a hard negative: a batch stacks the same sides for every row
        self.with_negative = bool(pairs) and all(p.negative is not None for p in pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict:
        p = self.pairs[i]
        sides = [p.text, p.text_pair] + ([p.negative] if self.with_negative else [])
        return {
            "sides": [self._inputs[t] for t in sides],
            "score": 0.0 if p.score is None else p.score,
            "index": i,
            "source": self.source,
        }


def _sides(p: Pair) -> list[str]:
    return [p.text, p.text_pair] + ([p.negative] if p.negative is not None else [])


class ChainRows(Sequence):
    """Several row sequences laid end to end (the task sampler's source order), read lazily
    so rows that change each epoch (pairs made from labels) are read as they are now."""

    def __init__(self, parts: list[Sequence]):
        self.parts = list(parts)
        self.offsets = [0]
        for part in self.parts:
            self.offsets.append(self.offsets[-1] + len(part))

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, i: int) -> dict:
        for part, start, end in zip(self.parts, self.offsets, self.offsets[1:], strict=False):
            if start <= i < end:
                return part[i - start]
        raise IndexError(i)


def side_lengths(row: dict) -> list[int]:
    """Subwords of each text a row feeds the model: one for a sentence row, one per side for
    a pairs row (its sides are stacked into one batch, each padded like a row)."""
    if "sides" in row:
        return [len(side["input_ids"]) for side in row["sides"]]
    return [len(row["input_ids"])]


class RowLengths(Sequence):
    """The length each row of `parts` (laid end to end, as ChainRows) is bucketed by
    (polyhead.data.bucketing): a sentence row's subwords; a pairs row's longest side, since
    its batch is padded to the longest side of any row. Read once per part (Arrow rows from
    their column, no row built), and again when a part's `epoch` changed (pairs made from
    labels are new each epoch)."""

    def __init__(self, parts: list[Sequence]):
        self.parts = list(parts)
        self.offsets = [0]
        for part in self.parts:
            self.offsets.append(self.offsets[-1] + len(part))
        # part -> (its epoch when read, lengths as C ints, a pairs row's side lengths or None)
        self._read: dict[int, tuple[object, array, list[list[int]] | None]] = {}

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = bisect.bisect_right(self.offsets, i) - 1
        return self._part(k)[1][i - self.offsets[k]]

    def as_array(self) -> array:
        """Every row's length in order, as one C array (the parts' arrays joined)."""
        out = array("i")
        for k in range(len(self.parts)):
            out.extend(self._part(k)[1])
        return out

    def sides(self) -> list[int | list[int]]:
        """Per row in order: its subwords, or a pairs row's per side (padding counts each).
        Without pairs rows, the C array (no Python int per row, each epoch)."""
        read = [self._part(k) for k in range(len(self.parts))]
        if all(sides is None for _, _, sides in read):
            return self.as_array()
        out: list[int | list[int]] = []
        for _, lengths, sides in read:
            out += list(lengths) if sides is None else sides
        return out

    def _part(self, k: int):
        part, stamp = self.parts[k], getattr(self.parts[k], "epoch", None)
        if k not in self._read or self._read[k][0] != stamp:
            if hasattr(part, "lengths"):  # ArrowRows: one column read
                self._read[k] = (stamp, part.lengths(), None)
            else:
                sides = [side_lengths(row) for row in part]
                pairs = any(len(s) > 1 for s in sides)
                lengths = array("i", (max(s) for s in sides))
                self._read[k] = (stamp, lengths, sides if pairs else None)
        return self._read[k]


def collate_pairs(rows: list[dict], pad_id: int = 0, **padding) -> dict:
    """Pairs rows -> one batch with the k sides stacked: (k * B, T) inputs (see module doc).
    `padding`: collate's widths / multiple."""
    k = len(rows[0]["sides"])
    if any(len(r["sides"]) != k for r in rows):
        raise ValueError("a pairs batch mixes rows with and without a hard negative")
    stacked = [r["sides"][s] for s in range(k) for r in rows]  # side-major: side 0 rows first
    inputs = [{key: v[key] for key in MODEL_INPUTS if key in v} for v in stacked]
    batch = collate(inputs, pad_id, **padding)
    batch["pair_sides"] = torch.tensor(k)
    batch["score"] = torch.tensor([float(r["score"]) for r in rows])  # (B,)
    batch["index"] = torch.tensor([r["index"] for r in rows])
    batch["source"] = torch.tensor([r["source"] for r in rows])
    return batch


def collate_any(rows: list[dict], pad_id: int = 0, **padding) -> dict:
    """A batch of sentence rows, or of pairs rows (a batch holds one source, so one kind)."""
    if "sides" in rows[0]:
        return collate_pairs(rows, pad_id, **padding)
    return collate(rows, pad_id, **padding)
