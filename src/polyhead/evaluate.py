"""Metrics as pure functions of gold and predicted label strings (word level for tags).

Every report, validation number and comparison is computed here, so they agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2
from sklearn.metrics import f1_score as sk_f1_score

# The metric a task is ranked by, per task kind.
MAIN_METRIC = {
    "sentence": "accuracy",
    "token": "f1",
    "multilabel": "micro_f1",  # polyhead.kind_metrics
    "regression": "spearman",
}


def sentence_metrics(
    gold: Sequence[str], pred: Sequence[str], known: set[str] | None = None
) -> dict:
    """Accuracy and macro-F1 (over gold and predicted labels) of sentence labels.

    `known` is the model's label set: gold labels outside it are counted in `n_unseen`.
    They can never be predicted, so they count as errors rather than being dropped.
    """
    _same_length(gold, pred, "sentences")
    n = len(gold)
    labels = sorted(set(gold) | set(pred))
    macro = sk_f1_score(gold, pred, labels=labels, average="macro", zero_division=0) if n else 0.0
    return {
        "accuracy": sum(g == p for g, p in zip(gold, pred, strict=True)) / n if n else 0.0,
        "macro_f1": float(macro),
        "n": n,
        "n_unseen": 0 if known is None else sum(g not in known for g in gold),
    }


def token_metrics(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], strict: bool = False
) -> dict:
    """Entity-level micro precision/recall/F1 (seqeval), per-type scores and token accuracy.
    Pass word-level BIO tags: no subword or -100 positions.

    Default: the conlleval rules (an I-X that continues nothing starts an entity).
    `strict`: seqeval's strict IOB2 mode, where only B-X starts an entity: on BIO tags this
    is what strict BIOES/BILOU scoring gives on the same tags written in those schemes."""
    _same_length(gold, pred, "sentences")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    gold, pred = [list(g) for g in gold], [list(p) for p in pred]
    n_tokens = sum(len(g) for g in gold)
    right = sum(a == b for g, p in zip(gold, pred, strict=True) for a, b in zip(g, p, strict=True))
    mode = {"mode": "strict", "scheme": IOB2} if strict else {}
    return {
        "precision": float(precision_score(gold, pred, zero_division=0, **mode)),
        "recall": float(recall_score(gold, pred, zero_division=0, **mode)),
        "f1": float(f1_score(gold, pred, zero_division=0, **mode)),
        "accuracy": right / n_tokens if n_tokens else 0.0,
        "n": len(gold),
        "n_tokens": n_tokens,
        "per_type": _per_type(gold, pred, mode),
        "entity_mode": "strict" if strict else "conlleval",
    }


def _per_type(gold: list[list[str]], pred: list[list[str]], mode: dict) -> dict[str, dict]:
    if all(t == "O" for seq in (*gold, *pred) for t in seq):
        return {}  # seqeval's report averages over no types and warns
    report = classification_report(gold, pred, output_dict=True, zero_division=0, **mode)
    return {
        kind: {
            "precision": float(r["precision"]),
            "recall": float(r["recall"]),
            "f1": float(r["f1-score"]),
            "support": int(r["support"]),
        }
        for kind, r in sorted(report.items())
        if not kind.endswith(" avg")  # micro/macro/weighted rows are not types
    }


def frame_accuracy(
    gold_labels: Sequence[str],
    pred_labels: Sequence[str],
    gold_tags: Sequence[Sequence[str]],
    pred_tags: Sequence[Sequence[str]],
) -> float:
    """Share of sentences whose label and every tag are right (exact semantic frame)."""
    _same_length(gold_labels, pred_labels, "labels")
    _same_length(gold_tags, pred_tags, "tag sequences")
    _same_length(gold_labels, gold_tags, "labels and tag sequences")
    rows = zip(gold_labels, pred_labels, gold_tags, pred_tags, strict=True)
    right = sum(gl == pl and list(gt) == list(pt) for gl, pl, gt, pt in rows)
    return right / len(gold_labels) if gold_labels else 0.0


def entities_from_tags(
    words: Sequence[str],
    tags: Sequence[str],
    offsets: Sequence[tuple[int, int]],
    text: str | None = None,
) -> list[dict]:
    """Entity spans from BIO tags, each `{type, text, start_char, end_char, start_word,
    end_word}` (end_word and end_char exclusive).

    `text` is the raw text the offsets point into; the entity text is its slice, so the
    original spacing survives. Without it, the words are joined by single spaces. An I-X
    that does not continue an X span starts a new one (the conlleval reading).
    """
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, tag_kind = tag.partition("-")
        if start is not None and (prefix != "I" or tag_kind != kind):
            spans.append((start, i, kind))
            start = None
        if prefix in ("B", "I") and start is None:
            start, kind = i, tag_kind
    return [_entity(words, offsets, text, s, e, k) for s, e, k in spans]


def _entity(words, offsets, text, start: int, end: int, kind: str) -> dict:
    start_char, end_char = offsets[start][0], offsets[end - 1][1]
    surface = text[start_char:end_char] if text is not None else " ".join(words[start:end])
    return {
        "type": kind,
        "text": surface,
        "start_char": start_char,
        "end_char": end_char,
        "start_word": start,
        "end_word": end,
    }


def combined_score(
    task_metrics: dict[str, dict],
    main: dict[str, str],
    weights: dict[str, float] | None = None,
) -> float:
    """Weighted mean over tasks of each task's main metric.

    `main` maps task -> metric name ("accuracy", "f1", ...) or task kind ("sentence",
    "token", meaning accuracy and entity F1). Missing weights count 1.
    """
    total, weight_sum = 0.0, 0.0
    for task, metric in main.items():
        weight = 1.0 if weights is None else weights.get(task, 1.0)
        total += weight * float(task_metrics[task][MAIN_METRIC.get(metric, metric)])
        weight_sum += weight
    return total / weight_sum if weight_sum else 0.0


def _same_length(a: Sequence, b: Sequence, what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} gold {what} but {len(b)} predicted")
