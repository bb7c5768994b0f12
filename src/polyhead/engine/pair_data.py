"""The pairs sources of a run's embedding tasks: one per task, after the head sources in
the task sampler's order (source index = number of head sources + k).

A task with `data` reads a pairs file (polyhead.data.pairs) per split; a task with
`pairs_from: <sentence task>` makes SetFit-style pairs from that task's training labels,
new ones each epoch (`pairs_from_labels` seeded by seed + epoch), over the sentence rows
already encoded for the head (no second tokenisation).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from polyhead.data.pair_rows import FilePairRows, load_pair_splits, pair_kind
from polyhead.data.pairs import Pair
from polyhead.data.rows import MODEL_INPUTS
from polyhead.errors import ConfigError
from polyhead.model.losses import pairs_from_labels

log = logging.getLogger("polyhead")


@dataclass
class PairSource:
    """One embedding task's pairs and how it trains."""

    index: int  # its source index among the training rows
    task: str
    data_kind: str  # "triples" | "scored" | "labels"
    loss: str
    scale: float
    score_scale: float
    weight: float
    splits: dict[str, list[Pair]] = field(default_factory=dict)  # file pairs per split
    rows: dict[str, Sequence] = field(default_factory=dict)  # encoded rows per split

    @property
    def trains(self) -> bool:
        return self.weight > 0

    def describe(self) -> str:
        """One line for the plan: the loss on the pooled output."""
        data = "pairs from its labels" if self.data_kind == "labels" else f"{self.data_kind} pairs"
        scale = f", scale {self.scale:g}" if self.loss in ("mnrl", "cosent") else ""
        if self.loss == "cosine" and self.score_scale != 1.0:
            scale = f", scores / {self.score_scale:g}"
        state = f"weight {self.weight:g}" if self.trains else "off (loss_weight 0)"
        return (
            f"embedding task {self.task}: {self.loss} loss on the pooled embedding "
            f"({data}{scale}), {state}; no head, it trains the backbone"
        )


def build_pair_sources(cfg, head_sources, head_rows, tokenizer) -> list[PairSource]:
    """Every embedding task's PairSource, its training rows built (dev / test rows too for
    pairs files). `head_rows(split)` gives the encoded rows of the head sources."""
    out = []
    for k, name in enumerate(cfg.embedding_tasks()):
        task = cfg.tasks[name]
        index = len(head_sources) + k
        if task.pairs_from:
            src = next(s for s in head_sources if task.pairs_from in s.tasks)
            labels = [ex.label for ex in src.splits["train"]]
            rows = LabelPairRows(head_rows("train")[src.index], labels, task, cfg.trainer.seed)
            rows.source = index
            ps = _source(index, name, "labels", task)
            ps.rows["train"] = rows
        else:
            splits = load_pair_splits(task.data, cfg.trainer.seed, f"tasks.{name}.data")
            kind = pair_kind(splits["train"])
            top = max(abs(p.score) for p in splits["train"]) if kind == "scored" else 1.0
            ps = _source(index, name, kind, task, top)
            ps.splits = splits
            for split, pairs in splits.items():
                ps.rows[split] = FilePairRows(tokenizer, pairs, cfg.model.max_length, index)
            _check_loss(ps, name, top)
        out.append(ps)
    return out


def _source(index: int, name: str, data_kind: str, task, top_score: float = 1.0) -> PairSource:
    """`top_score`: the largest |score| of the training pairs; unset, `score_scale` is it
    (scores above 1 only: a 0..1 file is left as it is)."""
    return PairSource(
        index=index,
        task=name,
        data_kind=data_kind,
        loss=task.resolved_loss(data_kind),
        scale=task.scale,
        score_scale=task.score_scale or max(1.0, top_score),
        weight=task.loss_weight,
    )


def _check_loss(ps: PairSource, name: str, top_score: float) -> None:
    """The loss must fit the file: mnrl reads (anchor, positive), cosent / cosine scores."""
    if ps.loss == "mnrl" and ps.data_kind != "triples":
        raise ConfigError(
            f"tasks.{name}.loss",
            "mnrl needs (anchor, positive[, negative]) pairs; this file has scored pairs: "
            "use cosent or cosine",
        )
    if ps.loss != "mnrl" and ps.data_kind != "scored":
        raise ConfigError(
            f"tasks.{name}.loss",
            f"{ps.loss} needs scored (text, text_pair, score) pairs; this file has "
            "(anchor, positive) pairs: use mnrl",
        )
    if ps.loss == "cosine":
        top = top_score / ps.score_scale
        if top > 1.0:
            raise ConfigError(
                f"tasks.{name}.score_scale",
                f"the cosine loss needs scores in [-1, 1]; the largest is {top:g}: set "
                "score_scale to the largest score (STS 0..5: 5) or leave it unset",
            )


class LabelPairRows(Sequence):
    """SetFit-style pairs of a sentence task's training sentences, new each epoch.

    cosine / cosent: every pair (positive target 1, negative 0); mnrl: one row per anchor,
    (anchor, positive, hard negative). The number of rows is the same every epoch (it
    depends on the labels only), so the task sampler's epoch length holds.
    """

    def __init__(self, sentence_rows: list[dict], labels: list, task, seed: int):
        self.inputs = [{k: r[k] for k in MODEL_INPUTS if k in r} for r in sentence_rows]
        self.labels, self.seed = labels, seed
        self.loss = task.resolved_loss("labels")
        self.source = -1
        self.epoch = None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        if epoch == self.epoch:
            return
        self.epoch = epoch
        try:
            pairs, targets = pairs_from_labels(self.labels, rng=self.seed + epoch)
        except ValueError as e:
            raise ConfigError("pairs_from", f"cannot make pairs from the labels: {e}") from None
        if self.loss == "mnrl":  # pairs come (anchor, positive), (anchor, negative) per anchor
            triples = zip(pairs[0::2], pairs[1::2], strict=True)
            self.items = [(a, p, n, 1.0) for (a, p), (_, n) in triples]
        else:
            self.items = [(a, b, None, t) for (a, b), t in zip(pairs, targets, strict=True)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        a, b, n, target = self.items[i]
        sides = [self.inputs[a], self.inputs[b]] + ([self.inputs[n]] if n is not None else [])
        return {"sides": sides, "score": float(target), "index": i, "source": self.source}
