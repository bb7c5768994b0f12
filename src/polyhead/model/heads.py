"""Task heads. Each reads the features dict: sentence heads the pooled vector, token heads
the per-token hidden states."""

from __future__ import annotations

import torch
from torch import nn

from polyhead.model.crf import CRF
from polyhead.model.spec import TaskSpec


class SentenceHead(nn.Module):
    """dropout -> linear, or dropout -> linear -> tanh -> dropout -> linear with `hidden_size`."""

    kind = "sentence"

    def __init__(self, spec: TaskSpec, input_size: int):
        super().__init__()
        n = len(spec.labels)
        if spec.hidden_size:
            self.net = nn.Sequential(
                nn.Dropout(spec.dropout),
                nn.Linear(input_size, spec.hidden_size),
                nn.Tanh(),
                nn.Dropout(spec.dropout),
                nn.Linear(spec.hidden_size, n),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(input_size, n))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(features["pooled"])  # (B, L)


class TokenHead(nn.Module):
    """dropout -> linear over every subword; labels sit on first subwords only."""

    kind = "token"

    def __init__(self, spec: TaskSpec, input_size: int):
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(input_size, len(spec.labels)))
        # `crf: true`: the logits become CRF emissions; loss and decoding go through the CRF.
        self.crf = CRF(spec.labels) if spec.crf else None

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(features["token_embeddings"])  # (B, T, L)


def build_head(spec: TaskSpec, input_size: int) -> nn.Module:
    if not spec.labels:
        raise ValueError(f"task {spec.name!r} has no labels; build label sets from data first")
    return (SentenceHead if spec.kind == "sentence" else TokenHead)(spec, input_size)
