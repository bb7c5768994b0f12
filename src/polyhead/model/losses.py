"""Losses that train the sentence embedding itself, on pooled embeddings (B, H).

Each matches a sentence-transformers loss on the same embeddings (the tests compare values),
so a recipe tuned there carries over. Cosine similarity is computed here, so the inputs may be
normalised or not; the multi-task model passes its `embedding` (normalised when the spec says
so). `pairs_from_labels` turns a sentence task's labels into pairs for these losses (SetFit).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, H), (M, H) -> (N, M) cosine similarities (sentence-transformers' util.cos_sim)."""
    return F.normalize(a, p=2, dim=-1) @ F.normalize(b, p=2, dim=-1).T


def in_batch_negatives_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor | None = None,
    scale: float = 20.0,
) -> torch.Tensor:
    """Contrastive loss with the batch's other positives as negatives (InfoNCE).

    sentence-transformers' MultipleNegativesRankingLoss (default directions):
        S = scale * cos(anchor_i, c_j) over candidates c = [positive; negative],
        loss = mean_i CrossEntropy(S_i, target = i).
    `negative`: optional hard negatives, (B, H) for one per anchor or (B, K, H) for K; every
    anchor sees every negative in the batch as an extra column. scale = 1 / temperature.
    """
    if anchor.shape != positive.shape:
        raise ValueError(
            f"anchor {tuple(anchor.shape)} and positive {tuple(positive.shape)} differ"
        )
    candidates = [positive]
    if negative is not None:
        if negative.dim() == 3:  # (B, K, H) -> K column blocks of (B, H), as ST's K columns
            candidates.extend(negative.unbind(dim=1))
        else:
            candidates.append(negative)
    docs = torch.cat(candidates, dim=0)  # (B * (1 + K), H)
    scores = cosine_matrix(anchor, docs).float() * scale  # (B, B * (1 + K))
    target = torch.arange(anchor.shape[0], device=anchor.device)
    return F.cross_entropy(scores, target)


def cosent_loss(
    a: torch.Tensor, b: torch.Tensor, scores: torch.Tensor, scale: float = 20.0
) -> torch.Tensor:
    """CoSENT: rank the pairs' cosines in the order of their gold scores.

    sentence-transformers' CoSENTLoss:
        loss = log(1 + sum over pairs (i, j) with gold_i > gold_j of
                   exp(scale * (cos_j - cos_i))).
    Only the order of the gold scores matters, so STS scores 0..5 need no rescaling.
    """
    cos = _pair_cosine(a, b, scores) * scale  # (B,)
    gold = scores.reshape(-1).to(cos.device)
    diff = cos[None, :] - cos[:, None]  # (B, B): [i, j] = cos_j - cos_i
    ordered = gold[:, None] > gold[None, :]  # (B, B): gold_i > gold_j
    # e^0 = 1 is the "1 +": log(1 + 0) = 0 when no pair is ordered (all gold scores tied)
    return torch.logsumexp(torch.cat([cos.new_zeros(1), diff[ordered]]), dim=0)


def cosine_similarity_loss(a: torch.Tensor, b: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Mean squared error between cos(a_i, b_i) and the gold score (CosineSimilarityLoss).

    The gold score must be on the cosine's scale: divide STS scores (0..5) by 5.
    """
    cos = _pair_cosine(a, b, scores)
    return F.mse_loss(cos, scores.reshape(-1).to(cos))


def _pair_cosine(a: torch.Tensor, b: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """(B, H), (B, H) -> (B,) row-wise cosine in float32 (half precision ranks poorly)."""
    if a.shape != b.shape or a.shape[0] != scores.numel():
        raise ValueError(
            f"expected two (B, H) batches and B scores; got {tuple(a.shape)}, "
            f"{tuple(b.shape)} and {scores.numel()} scores"
        )
    return F.cosine_similarity(a.float(), b.float(), dim=-1)


def embedding_distillation(
    now: torch.Tensor,
    start: torch.Tensor,
    weight: float = 1.0,
    kind: Literal["cosine", "mse"] = "cosine",
) -> torch.Tensor:
    """A penalty for moving the embedding away from the start model's, times `weight`.

    sentence-transformers' EmbedDistillLoss with the start model as teacher:
    kind "cosine": mean_i (1 - cos(now_i, start_i)), independent of the width H, so one
    weight means the same for any backbone; kind "mse": mean over all B * H elements of
    (now - start)^2 (MSELoss), on unit vectors (2 - 2 cos) / H. `start` is a fixed target:
    no gradient reaches it.
    Weight 0 returns an exact 0 without reading the inputs (a NaN there cannot leak in).
    """
    if weight == 0:
        return now.new_zeros((), dtype=torch.float32)
    if now.shape != start.shape:
        raise ValueError(f"now {tuple(now.shape)} and start {tuple(start.shape)} differ")
    now, start = now.float(), start.detach().float()
    if kind == "cosine":
        term = (1.0 - F.cosine_similarity(now, start, dim=-1)).mean()
    elif kind == "mse":
        term = F.mse_loss(now, start)
    else:
        raise ValueError(f"kind must be 'cosine' or 'mse', got {kind!r}")
    return weight * term


def pairs_from_labels(
    labels,
    rng: np.random.Generator | int,
    num_iterations: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """SetFit-style pairs from a sentence task's labels: (pairs (N, 2) int64, targets (N,)).

    For each sentence that has another sentence of its label, `num_iterations` times: one
    positive pair (a random other sentence of the same label, target 1.0) and one negative
    pair (a random sentence of another label, target 0.0), so positives and negatives are
    balanced exactly. `None` labels (unlabelled sentences) take no part. Seeded by `rng`.
    Targets suit cosine_similarity_loss or cosent_loss; the positive pairs alone suit
    in_batch_negatives_loss.
    """
    rng = np.random.default_rng(rng)
    labels = list(labels)
    known = [i for i, lab in enumerate(labels) if lab is not None]
    names, codes = np.unique(np.array([str(labels[i]) for i in known]), return_inverse=True)
    index = np.array(known, dtype=np.int64)
    if len(names) < 2:
        raise ValueError(f"{len(names)} distinct label(s); negative pairs need at least 2")
    members = [index[codes == c] for c in range(len(names))]
    others = [index[codes != c] for c in range(len(names))]
    pairs, targets = [], []
    for _ in range(num_iterations):
        for i, c in zip(index, codes, strict=True):
            same = members[c][members[c] != i]
            if len(same) == 0:
                continue  # a label seen once has no positive partner
            pairs += [(i, rng.choice(same)), (i, rng.choice(others[c]))]
            targets += [1.0, 0.0]
    if not pairs:
        raise ValueError("every label occurs once; positive pairs need a label seen twice")
    return np.array(pairs, dtype=np.int64), np.array(targets, dtype=np.float32)
