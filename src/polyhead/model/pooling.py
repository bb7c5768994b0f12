"""Token embeddings -> one sentence vector, as sentence-transformers' Pooling does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Pooling(nn.Module):
    def __init__(self, mode: str = "mean", normalize: bool = False):
        super().__init__()
        if mode not in ("mean", "cls", "max"):
            raise ValueError(f"pooling mode must be mean, cls or max, got {mode!r}")
        self.mode, self.normalize = mode, normalize

    def pool(self, token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, H), (B, T) -> (B, H), before normalisation (heads read this)."""
        if self.mode == "cls":
            return token_embeddings[:, 0]
        mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)  # (B, T, 1)
        if self.mode == "max":
            masked = token_embeddings.masked_fill(mask == 0, torch.finfo(mask.dtype).min)
            return masked.max(dim=1).values
        summed = (token_embeddings * mask).sum(dim=1)  # (B, H)
        return summed / mask.sum(dim=1).clamp(min=1e-9)

    def finish(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(pooled, p=2, dim=-1) if self.normalize else pooled

    def forward(self, token_embeddings: torch.Tensor, attention_mask: torch.Tensor):
        return self.finish(self.pool(token_embeddings, attention_mask))
