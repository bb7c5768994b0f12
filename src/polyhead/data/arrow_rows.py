"""Canonical Arrow rows (polyhead.data.arrow) -> encoded rows, tokenized by `Dataset.map`
(batched) into an Arrow file named by everything the ids depend on (the rows' fingerprint,
the tokenizer's serialisation, max_length, the label sets), then served one row at a time.

The rows are the ones `data.rows.encode_source` builds from Examples (same keys, same ids,
`encode_words` does the alignment), so the model cannot tell the two paths apart.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import NamedTuple

from polyhead.data.align import IGNORE_INDEX, encode_words, tokenizer_fingerprint
from polyhead.data.arrow import BATCH, ArrowSplit, cache_dir, digest, require_datasets
from polyhead.data.kind_labels import VECTOR_KINDS
from polyhead.data.labels import LabelSet
from polyhead.data.windows import owned_labels, window_numbers

ENCODE_VERSION = "3"  # bump when the encoded columns change


class EncodeCounts(NamedTuple):
    examples: int
    truncated_examples: int
    truncated_words: int
    windowed_examples: int
    rows: int


def encode_split(
    tokenizer,
    split: ArrowSplit,
    source: int,
    tasks: list[str],
    kinds: dict[str, str],
    labels: dict[str, LabelSet],
    max_length: int,
    stride: int = 0,
) -> tuple[ArrowRows, EncodeCounts]:
    """Encoded rows of one source's split and their counts. `stride` > 0: an example too
    long for one row becomes overlapping windows, several output rows (`Dataset.map` may
    return more rows than it reads), labelled as `data.rows` labels them."""
    datasets = require_datasets()
    token_tasks = [t for t in tasks if kinds[t] == "token"]
    tag_set = labels[token_tasks[0]] if token_tasks else None
    has_tags = tag_set is not None and len(split) > 0 and not split.lacks("tags")
    own = {t: f"y{i}" for i, t in enumerate(tasks)}  # column per task this source labels
    key = digest(
        ENCODE_VERSION,
        split.dataset._fingerprint,
        tokenizer_fingerprint(tokenizer),
        max_length,
        {t: [kinds[t], labels[t].names] for t in tasks},
        has_tags,
        stride,
    )

    def encode(batch: dict, indices: list[int]) -> dict:
        words = batch["tokens"]
        tag_ids = None
        if has_tags:
            tag_ids = [[tag_set.encode(t, IGNORE_INDEX) for t in tags] for tags in batch["tags"]]
        enc = encode_words(tokenizer, words, max_length, tags=tag_ids, stride=stride)
        if enc.labels is not None and stride:
            enc.labels = owned_labels(enc)
        examples = enc.row_example
        word_ids = [[-1 if w is None else w for w in row] for row in enc.word_ids]
        out = {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask}
        out["word_ids"] = word_ids
        out["example"] = [indices[e] for e in examples]
        out["window"] = window_numbers(examples)
        # words with no subword in any row of their example (EncodeStats, summed from the
        # file), on the example's first row
        seen: list[set[int]] = [set() for _ in words]
        for row, e in zip(word_ids, examples, strict=True):
            seen[e].update(w for w in row if w >= 0)
        lost = [n - len(s) for n, s in zip(enc.n_words, seen, strict=True)]
        out["lost"] = [
            lost[e] if w == 0 else 0 for e, w in zip(examples, out["window"], strict=True)
        ]
        if enc.token_type_ids is not None:
            out["token_type_ids"] = enc.token_type_ids
        for task, column in own.items():
            if kinds[task] == "token":
                ignore = [[IGNORE_INDEX] * len(ids) for ids in enc.input_ids]
                out[column] = enc.labels if enc.labels is not None else ignore
            else:
                ls = labels[task]
                ys = [
                    ls.encode(y, IGNORE_INDEX) if y is not None else IGNORE_INDEX
                    for y in batch["label"]
                ]
                out[column] = [ys[e] for e in examples]  # a sentence label on every window
        return out

    ints = datasets.Sequence(datasets.Value("int32"))
    # masks (0 / 1) and segment ids (0 / 1; 2 in XLNet) a byte each, as `datasets` stores
    # them for HF Trainer: the file is ~25 % smaller, and training faults all of it in
    flags = datasets.Sequence(datasets.Value("int8"))
    features = {"input_ids": ints, "attention_mask": flags, "word_ids": ints}
    for column in ("example", "window", "lost"):
        features[column] = datasets.Value("int32")
    if "token_type_ids" in tokenizer.model_input_names:
        features["token_type_ids"] = flags
    for task, column in own.items():
        features[column] = ints if kinds[task] == "token" else datasets.Value("int64")
    encoded = split.dataset.map(
        encode,
        batched=True,
        with_indices=True,
        batch_size=BATCH,
        remove_columns=split.dataset.column_names,
        features=datasets.Features(features),
        cache_file_name=str(cache_dir() / f"encode-{key[:40]}.arrow"),
        new_fingerprint=key[:32],
        desc="polyhead: tokenizing",
    )
    # what a row gives a multilabel / regression task of another source: NaN throughout
    unlabelled = {t: (math.nan,) * len(labels[t].names) for t in kinds if kinds[t] in VECTOR_KINDS}
    rows = ArrowRows(encoded, source, own, kinds, unlabelled)
    counts = EncodeCounts(len(split), 0, 0, 0, len(encoded))
    if len(encoded):
        import pyarrow.compute as pc

        view = ArrowSplit(encoded, "")
        lost, window = view.column("lost"), view.column("window")
        counts = counts._replace(
            truncated_examples=pc.sum(pc.greater(lost, 0).cast("int64")).as_py() or 0,
            truncated_words=pc.sum(lost).as_py() or 0,
            windowed_examples=pc.sum(pc.equal(window, 1).cast("int64")).as_py() or 0,
        )
    return rows, counts


class ArrowRows(Sequence):
    """Encoded rows of one source's split, read from the memory-mapped file by index: each
    is the dict `encode_source` would have built (input ids, word ids, `labels.<task>` for
    every task, `index`, `source`). A map-style torch dataset (`__len__`, `__getitem__`)."""

    def __init__(
        self, dataset, source: int, own: dict[str, str], kinds: dict[str, str], unlabelled=None
    ):
        self.dataset, self.source, self.own, self.kinds = dataset, source, own, kinds
        self.unlabelled = unlabelled or {}  # vector-kind task -> its NaN row label

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.__getitems__(range(len(self))[i])
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i = i % len(self)
        return self._rows(self.dataset[i : i + 1], [i])[0]

    def __getitems__(self, indices) -> list[dict]:
        """Several rows in one read (torch's DataLoader calls this for a batch)."""
        indices = list(indices)
        return self._rows(self.dataset[indices], indices) if indices else []

    def __iter__(self):
        start = 0
        for batch in self.dataset.iter(batch_size=BATCH):
            n = len(batch["input_ids"])
            yield from self._rows(batch, range(start, start + n))
            start += n

    def lengths(self) -> array:
        """Subwords per row, from the Arrow column, as C ints (length bucketing reads every
        training row's: a row dict, or a Python int, per row would cost seconds / memory on
        millions of rows)."""
        import pyarrow.compute as pc

        n = pc.list_value_length(self.dataset.with_format("arrow")["input_ids"])
        return array("i", n.to_numpy().astype("int32").tobytes())

    def _rows(self, batch: dict, indices) -> list[dict]:
        out = []
        for j, i in enumerate(indices):
            ids = batch["input_ids"][j]
            row = {
                "input_ids": ids,
                "attention_mask": batch["attention_mask"][j],
                "word_ids": batch["word_ids"][j],
                "index": batch["example"][j],
                "window": batch["window"][j],
                "row": i,
                "source": self.source,
            }
            if "token_type_ids" in batch:
                row["token_type_ids"] = batch["token_type_ids"][j]
            for task, kind in self.kinds.items():
                column = self.own.get(task)
                if column is not None:
                    row[f"labels.{task}"] = batch[column][j]
                elif task in self.unlabelled:
                    row[f"labels.{task}"] = self.unlabelled[task]
                else:
                    row[f"labels.{task}"] = (
                        [IGNORE_INDEX] * len(ids) if kind == "token" else IGNORE_INDEX
                    )
            out.append(row)
        return out
