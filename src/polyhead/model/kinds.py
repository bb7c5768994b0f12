"""Heads of the vector task kinds, each owning its loss and its output transform:

- `multilabel`: one logit per label, sigmoid + binary cross-entropy; a label is predicted
  when its probability reaches the label's threshold (chosen on dev during training, a
  buffer saved with the head's weights).
- `regression`: one output per target dimension, trained on standardised targets (mean and
  std of the training targets, buffers saved with the weights), MSE or Huber loss; outputs are
  mapped back to the target scale.

A `pair` task uses the head its `head` names (sentence, multilabel, regression) on the
pooled features of its two texts. Labels arrive as (B, L) float rows, NaN where a row does
not label the task (polyhead.data.kind_labels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from polyhead.model.heads import SentenceHead, build_head
from polyhead.model.spec import TaskSpec

VECTOR_KINDS = ("multilabel", "regression")


class MultiLabelHead(SentenceHead):
    kind = "multilabel"

    def __init__(self, spec: TaskSpec, input_size: int):
        super().__init__(spec, input_size)
        self.register_buffer("thresholds", torch.full((len(spec.labels),), 0.5))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
        rows = ~torch.isnan(labels[:, 0])  # (B,)
        if not rows.any():
            return None
        return F.binary_cross_entropy_with_logits(logits[rows].float(), labels[rows].float())

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, L) label probabilities."""
        return torch.sigmoid(logits.float())


class RegressionHead(SentenceHead):
    kind = "regression"

    def __init__(self, spec: TaskSpec, input_size: int):
        super().__init__(spec, input_size)
        n = len(spec.labels)
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        self.huber = spec.regression_loss == "huber"

    def set_standardisation(self, mean: list[float], std: list[float]) -> None:
        self.mean.copy_(torch.tensor(mean))
        self.std.copy_(torch.tensor(std))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
        rows = ~torch.isnan(labels[:, 0])  # (B,)
        if not rows.any():
            return None
        gold = (labels[rows].float() - self.mean) / self.std  # (N, D) standardised
        pred = logits[rows].float()
        return F.huber_loss(pred, gold) if self.huber else F.mse_loss(pred, gold)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, D) predictions on the target scale."""
        return logits.float() * self.std + self.mean


_HEADS = {"multilabel": MultiLabelHead, "regression": RegressionHead}


def build_task_head(spec: TaskSpec, input_size: int) -> nn.Module:
    """The head a task's spec asks for (a pair task: its `head` kind's)."""
    if spec.kind != "pair" and spec.kind not in _HEADS:
        return build_head(spec, input_size)  # sentence and token heads
    if not spec.labels:
        raise ValueError(f"task {spec.name!r} has no labels; build label sets from data first")
    return _HEADS.get(spec.head_kind, SentenceHead)(spec, input_size)


def output_heads(model) -> dict[str, nn.Module]:
    """task -> head, for the heads whose raw outputs need their `outputs` transform."""
    return {n: h for n, h in model.heads.items() if getattr(h, "kind", "") in VECTOR_KINDS}


def set_thresholds(model, thresholds: dict[str, list[float]]) -> None:
    """Store per-label thresholds (chosen on dev) in the multilabel heads."""
    for task, values in thresholds.items():
        head = model.heads[task]
        head.thresholds.copy_(torch.tensor(values, dtype=head.thresholds.dtype))


def vector_output(head, values: torch.Tensor, names: list[str]) -> dict:
    """A multilabel head's labels at or above their thresholds with every label's
    probability; a regression head's value (one target) or values by name."""
    values = values.float().cpu()
    if head.kind == "multilabel":
        chosen = values >= head.thresholds.float().cpu()
        return {
            "labels": [n for n, on in zip(names, chosen.tolist(), strict=True) if on],
            "scores": {n: round(float(v), 6) for n, v in zip(names, values, strict=True)},
        }
    if len(names) == 1:
        return {"value": round(float(values[0]), 6)}
    return {"values": {n: round(float(v), 6) for n, v in zip(names, values, strict=True)}}
