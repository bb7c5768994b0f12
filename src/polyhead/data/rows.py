"""Examples -> encoded rows -> padded batches: the one place where examples become padded,
labelled model inputs.

Tasks that share a data source label the same sentences (intent + slots): one row carries
labels for all of them. Tasks from different sources contribute rows that carry only their own
labels; every other task's label is IGNORE_INDEX there, so each row adds loss only to the
tasks it labels.

A source with a token task and a stride encodes an example longer than max_length as
overlapping windows, several rows per example: each word is labelled only in the window
that owns it (polyhead.data.windows), and a sentence label goes on every window (prediction
averages a text's windows). Rows keep `index` (the example's position in its split),
`window` (its number within the example), `row` (its own position among the source's rows,
what the feature cache is indexed by) and `source`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from polyhead.data.align import IGNORE_INDEX, encode_words
from polyhead.data.arrow import ArrowSplit
from polyhead.data.arrow_rows import encode_split
from polyhead.data.context import encode_in_context
from polyhead.data.kind_labels import VECTOR_KINDS, label_names, label_row, labelled
from polyhead.data.labels import LabelSet
from polyhead.data.pair_examples import encode_pairs, is_paired
from polyhead.data.sources import SourceData
from polyhead.data.windows import owned_labels, window_numbers
from polyhead.errors import ConfigError

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def build_label_sets(kinds: dict[str, str], sources: list[SourceData]) -> dict[str, LabelSet]:
    """Each task's labels from its training examples (sorted; tags as O + B-/I- per type)."""
    out = {}
    for src in sources:
        train = src.splits["train"]
        for task in src.tasks:
            kind = kinds[task]
            if kind in VECTOR_KINDS:  # label lists / targets: from Examples (Arrow ones too)
                out[task] = LabelSet(_vector_names(task, kind, src))
                continue
            if isinstance(train, ArrowSplit):  # Arrow compute, no Example per row
                if train.lacks("label" if kind == "sentence" else "tags"):
                    what = "labels" if kind == "sentence" else "tags"
                    raise ConfigError(
                        f"tasks.{task}", f"{kind} task but training examples lack {what}"
                    )
                out[task] = train.label_set(kind)
                continue
            if kind == "sentence" and any(ex.label is None for ex in train):
                raise ConfigError(
                    f"tasks.{task}", "sentence task but training examples lack labels"
                )
            if kind == "token" and any(ex.tags is None for ex in train):
                raise ConfigError(f"tasks.{task}", "token task but training examples lack tags")
            out[task] = (
                LabelSet.for_sentences(train) if kind == "sentence" else LabelSet.for_tags(train)
            )
    return out


def _vector_names(task: str, kind: str, src: SourceData) -> list[str]:
    sep, field = _separator(src), src.config.label_field if src.config else "label"
    train = src.splits["train"]
    missing = next((ex for ex in train if not labelled(kind, ex, sep)), None)
    if missing is not None:
        where = f" ({missing.source})" if missing.source else ""
        raise ConfigError(
            f"tasks.{task}", f"{kind} task but a training example has no label{where}"
        )
    names = label_names(kind, train, sep, field)
    if not names:
        raise ConfigError(f"tasks.{task}", "multilabel task but no training example has a label")
    return names


def _separator(src: SourceData) -> str | None:
    return src.config.label_separator if src.config is not None else None


@dataclass
class EncodeStats:
    """Counts over the encoded examples: truncated ones lost words (no label, predicted O);
    windowed ones became several rows and lost nothing."""

    n_examples: int = 0
    n_truncated_examples: int = 0
    n_truncated_words: int = 0
    n_windowed_examples: int = 0
    n_rows: int = 0


def encode_source(
    tokenizer,
    src: SourceData,
    split: str,
    kinds: dict[str, str],
    labels: dict[str, LabelSet],
    max_length: int,
    stats: EncodeStats | None = None,
    stride: int = 0,
    context: str = "sentence",
) -> list[dict]:
    """Rows with input ids, word ids and `labels.<task>` for every task in `kinds` (ignored
    where this source does not label the task). `stride` > 0: long examples of a source with
    a token task become windows sharing `stride` words; 0 truncates them. `context`
    "document": neighbouring sentences of the document fill a token task's window
    (polyhead.data.context)."""
    examples = src.splits[split]
    # Stays in Arrow (data.arrow_rows, windows included) unless rows carry document context
    # (a sentence's neighbours), pair two texts or carry multilabel / regression labels:
    # those are built from Examples, read one at a time from the Arrow split.
    vector = any(kinds[t] in VECTOR_KINDS for t in src.tasks)
    if (
        isinstance(examples, ArrowSplit)
        and len(examples)
        and not (vector or is_paired(examples))
        and context == "sentence"
    ):
        windowed = stride > 0 and any(kinds[t] == "token" for t in src.tasks)
        rows, counts = encode_split(
            tokenizer,
            examples,
            src.index,
            src.tasks,
            kinds,
            labels,
            max_length,
            stride=stride if windowed else 0,
        )
        if stats is not None:
            stats.n_examples += counts.examples
            stats.n_truncated_examples += counts.truncated_examples
            stats.n_truncated_words += counts.truncated_words
            stats.n_windowed_examples += counts.windowed_examples
            stats.n_rows += counts.rows
        return rows
    token_tasks = [t for t in src.tasks if kinds[t] == "token"]
    tag_ids = None
    if token_tasks and examples and examples[0].tags is not None:
        ls = labels[token_tasks[0]]
        tag_ids = [[ls.id(t) if t in ls else IGNORE_INDEX for t in ex.tags] for ex in examples]
    stride = stride if token_tasks else 0
    if is_paired(examples):  # pair tasks: both texts in one row (polyhead.data.pair_examples)
        if token_tasks:
            raise ConfigError(f"tasks.{token_tasks[0]}", "a token task cannot read text pairs")
        enc = encode_pairs(tokenizer, examples, max_length)
    elif context == "document" and token_tasks:
        enc = encode_in_context(tokenizer, examples, max_length, tags=tag_ids, stride=stride)
    else:
        words = [ex.tokens for ex in examples]
        enc = encode_words(tokenizer, words, max_length, tags=tag_ids, stride=stride)
    if enc.labels is not None and stride:
        enc.labels = owned_labels(enc)
    if stats is not None:
        stats.n_examples += len(examples)
        stats.n_truncated_examples += enc.n_truncated_examples
        stats.n_truncated_words += enc.n_truncated_words
        stats.n_windowed_examples += sum(n > 1 for n in Counter(enc.row_example).values())
        stats.n_rows += len(enc.row_example)
    rows = []
    for r, (i, window) in enumerate(
        zip(enc.row_example, window_numbers(enc.row_example), strict=True)
    ):
        row = {
            "input_ids": enc.input_ids[r],
            "attention_mask": enc.attention_mask[r],
            "word_ids": [-1 if w is None else w for w in enc.word_ids[r]],
            "index": i,
            "window": window,
            "row": r,
            "source": src.index,
        }
        if enc.token_type_ids is not None:
            row["token_type_ids"] = enc.token_type_ids[r]
        for task, kind in kinds.items():
            row[f"labels.{task}"] = _row_label(task, kind, src, examples[i], enc, r, labels)
        rows.append(row)
    return rows


def _row_label(task, kind, src, ex, enc, i, labels):
    if kind in VECTOR_KINDS:  # a tuple, so collate stacks it (B, L) instead of padding it
        return label_row(
            kind, ex if task in src.tasks else None, labels[task].names, _separator(src)
        )
    if kind == "token":
        if task in src.tasks and enc.labels is not None:
            return enc.labels[i]
        return [IGNORE_INDEX] * len(enc.input_ids[i])
    if task in src.tasks and ex.label is not None and ex.label in labels[task]:
        return labels[task].id(ex.label)
    return IGNORE_INDEX


class RowDataset(Dataset):
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


# Padding value per key; every other list-valued key is a label row (IGNORE_INDEX).
_PAD = {"attention_mask": 0, "token_type_ids": 0, "word_ids": -1}
# Batches are padded to a multiple of this on GPUs: tensor cores work on tiles of 8 (16-bit)
# elements. On CPU every padded token is work in every layer (utterances of ~10 subwords
# padded to 16 cost a third more), so there the engine pads to the longest row (multiple 1).
PAD_MULTIPLE = 8
# Widths a compiled model sees (`trainer.compile`): every batch is padded up to one of these,
# so a static-shape compile happens once per width (and batch size), not per length.
STATIC_WIDTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def static_widths(max_length: int) -> tuple[int, ...]:
    """The STATIC_WIDTHS below `max_length`, then `max_length` rounded up to PAD_MULTIPLE."""
    top = -(-max_length // PAD_MULTIPLE) * PAD_MULTIPLE
    return (*(w for w in STATIC_WIDTHS if w < top), top)


def pad_width(
    longest: int, widths: tuple[int, ...] | None = None, multiple: int = PAD_MULTIPLE
) -> int:
    """The padded width of a batch whose longest row is `longest`: the first of `widths`
    that holds it, else (or without widths) the next multiple of `multiple`."""
    for w in widths or ():
        if w >= longest:
            return w
    return -(-longest // multiple) * multiple


def collate(
    rows: list[dict],
    pad_id: int = 0,
    widths: tuple[int, ...] | None = None,
    multiple: int = 1,
) -> dict[str, torch.Tensor]:
    """Pad to the longest row, rounded up to `widths` / `multiple` (`pad_width`; the engine
    passes PAD_MULTIPLE on CUDA): ids with pad_id, masks with 0, word ids -1, labels ignored."""
    width = pad_width(max(len(r["input_ids"]) for r in rows), widths, multiple)
    batch: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if not isinstance(values[0], list):
            batch[key] = torch.tensor(values)
            continue
        fill = pad_id if key == "input_ids" else _PAD.get(key, IGNORE_INDEX)
        padded = [v + [fill] * (width - len(v)) for v in values]
        batch[key] = torch.tensor(padded)  # (B, T)
    return batch


def padding_tokens(
    batches: list[list[int]],
    lengths: Sequence[int | Sequence[int]],
    widths: tuple[int, ...] | None = None,
    multiple: int = 1,
) -> tuple[int, int]:
    """(padded, real) token counts of `batches` (lists of row indices) as `collate` pads them.
    `lengths[i]`: row i's subwords, or a list of them per text (a pairs row's sides, each
    padded to the batch's width)."""
    padded = real = 0
    for batch in batches:
        sizes = [n for i in batch for n in _texts(lengths[i])]
        padded += pad_width(max(sizes), widths, multiple) * len(sizes)
        real += sum(sizes)
    return padded, real


def _texts(length: int | Sequence[int]) -> Sequence[int]:
    return [length] if isinstance(length, int) else length


def sorted_by_length(rows: list[dict]) -> list[dict]:
    """Longest first (stable): evaluation batches then pad little. Rows keep their `index`,
    so predictions are still matched to their examples."""
    return sorted(rows, key=lambda r: -len(r["input_ids"]))


def batches_in_order(rows: list[dict], batch_size: int, pad_id: int = 0):
    """Padded batches of `rows` in row order (evaluation, probes, distillation targets)."""
    for start in range(0, len(rows), batch_size):
        yield collate(rows[start : start + batch_size], pad_id)


def model_inputs(rows: list[dict], idx, pad_id: int) -> dict[str, torch.Tensor]:
    """Only the tokenizer outputs of the rows at `idx`, padded (what a backbone reads)."""
    chosen = [{k: v for k, v in rows[i].items() if k in MODEL_INPUTS} for i in idx]
    return collate(chosen, pad_id)
