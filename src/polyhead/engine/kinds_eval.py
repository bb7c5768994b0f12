"""Training and scoring hooks of the vector task kinds (multilabel, regression; a pair task
scores as its head's kind): target standardisation before training, per-task metrics from the
collected outputs, and per-label thresholds chosen on dev."""

from __future__ import annotations

import numpy as np

from polyhead.data.kind_labels import VECTOR_KINDS, label_row, target_stats
from polyhead.data.pair_examples import check_pairs, is_paired
from polyhead.errors import ConfigError
from polyhead.kind_metrics import choose_thresholds, multilabel_metrics, regression_metrics


def check_kinds(cfg) -> None:
    """What the new kinds do not support yet, refused before anything loads."""
    kinds = cfg.kinds()
    vector = [t for t, k in kinds.items() if k in VECTOR_KINDS or t in cfg.pair_tasks()]
    if vector and cfg.plan.strategy == "frozen":
        raise ConfigError(
            "plan.strategy",
            f"frozen fits linear classifiers for sentence and token tasks; {vector[0]!r} is "
            f"{cfg.tasks[vector[0]].kind} (use heads, full, lora, ...)",
        )
    weighted = [t for t in vector if cfg.tasks[t].class_weights != "none"]
    if weighted and kinds[weighted[0]] != "sentence":
        raise ConfigError(
            f"tasks.{weighted[0]}.class_weights", "applies to sentence and token tasks"
        )


def check_pairing(cfg, sources) -> None:
    """A pair task reads text pairs, and a source of pairs serves only pair tasks."""
    pair_tasks = set(cfg.pair_tasks())
    for src in sources:
        train = src.splits["train"]
        paired = [t for t in src.tasks if t in pair_tasks]
        if paired and not is_paired(train):
            raise ConfigError(
                f"tasks.{paired[0]}.data",
                "a pair task needs two texts per example: a text_pair field / column, or "
                "format: pairs",
            )
        if paired:
            check_pairs(train, f"tasks.{paired[0]}.data")
        other = [t for t in src.tasks if t not in pair_tasks]
        if other and is_paired(train):
            raise ConfigError(
                f"tasks.{other[0]}.kind",
                f"its data holds text pairs; use kind: pair (head: {cfg.kinds()[other[0]]})",
            )


def standardise_targets(model, data) -> None:
    """Each regression head's target mean and std, from its training rows. The rows are
    encoded here either way (their errors and truncation counts come before the plan), but
    read only for a regression task, one at a time: a row is a dict built per read, and
    listing them all cost seconds and ~150 MB on a million Arrow rows (issue 14)."""
    encoded = data.rows("train")
    for task, kind in data.kinds.items():
        if kind == "regression":
            targets = (r[f"labels.{task}"] for rows in encoded for r in rows)
            mean, std = target_stats(targets)
            model.heads[task].set_standardisation(mean, std)


def task_metrics(kind: str, task: str, examples, outputs, names, sep, head, tuned: dict) -> dict:
    """Metrics of one vector task from its outputs (probabilities or values, example order).
    With `tuned` (a dict), multilabel thresholds are chosen here and stored in it;
    otherwise the head's own thresholds apply."""
    gold = np.array([label_row(kind, ex, names, sep) for ex in examples], dtype=np.float64)
    outputs = np.asarray(outputs, dtype=np.float64).reshape(len(examples), len(names))
    known = ~np.isnan(gold[:, 0]) if len(gold) else np.zeros(0, dtype=bool)
    gold, outputs = gold[known], outputs[known]
    if kind == "regression":
        return regression_metrics(gold, outputs)
    if tuned is not None:
        tuned[task] = choose_thresholds(gold, outputs)
        thresholds = np.array(tuned[task])
    else:
        thresholds = head.thresholds.detach().cpu().numpy()
    return multilabel_metrics(gold, outputs >= thresholds, names)
