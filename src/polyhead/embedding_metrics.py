"""Metrics of a sentence embedding as pure functions of numpy arrays (no torch).

`pair_correlations` scores similarity pairs the way STS-B is scored; `label_retrieval` asks
whether a sentence's nearest neighbours share its label (is the embedding organised by a
sentence task's labels?). Both sit beside `evaluate.py` in the lowest layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import ConstantInputWarning, pearsonr, spearmanr

_CHUNK = 1024  # query rows per similarity block: memory stays O(chunk * N), not O(N^2)


def unit_rows(emb) -> np.ndarray:
    """(N, H) rows scaled to length 1 in float64; an all-zero row stays zero (cosine 0)."""
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2:
        raise ValueError(f"expected embeddings of shape (N, H), got {emb.shape}")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.where(norms == 0, 1.0, norms)


def pair_cosines(emb_a, emb_b) -> np.ndarray:
    """(N, H), (N, H) -> (N,) cosine of each row pair."""
    a, b = unit_rows(emb_a), unit_rows(emb_b)
    if a.shape != b.shape:
        raise ValueError(f"embeddings of shape {a.shape} and {b.shape}; expected the same")
    return np.einsum("nh,nh->n", a, b)


def pair_correlations(emb_a, emb_b, gold: Sequence[float]) -> dict:
    """Spearman and Pearson correlation between pair cosines and gold scores, and n.

    STS-B is reported as Spearman x 100 of cosine vs gold (sentence-transformers'
    EmbeddingSimilarityEvaluator). A correlation is NaN when either side is constant.
    """
    cos = pair_cosines(emb_a, emb_b)
    gold = np.asarray(gold, dtype=np.float64).reshape(-1)
    if len(gold) != len(cos):
        raise ValueError(f"{len(cos)} pairs but {len(gold)} gold scores")
    if len(gold) < 2:
        raise ValueError(f"{len(gold)} pair(s); a correlation needs at least 2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)  # NaN is the documented answer
        spearman = spearmanr(cos, gold).statistic
        pearson = pearsonr(cos, gold).statistic
    return {"spearman": float(spearman), "pearson": float(pearson), "n": len(gold)}


def pair_spearman(emb_a, emb_b, gold: Sequence[float]) -> float:
    """Spearman correlation between pair cosines and gold scores (the STS-B number / 100)."""
    return pair_correlations(emb_a, emb_b, gold)["spearman"]


def label_retrieval(emb, labels: Sequence, k: Sequence[int] = (1, 10)) -> dict:
    """Same-label retrieval: each sentence queries all others by cosine, itself excluded.

    Returns `mrr@K` for K = max(k) (reciprocal rank of the first same-label sentence, 0 when
    none is in the top K), `recall@k` for each k (share of queries with a same-label sentence
    in the top k, the metric-learning Recall@k), `n_queries` and `n_skipped`. Queries whose
    label occurs once have nothing to find and are skipped. Equal cosines rank the lower
    index first.
    """
    k = sorted({int(x) for x in k})
    if not k or k[0] < 1:
        raise ValueError(f"k must hold positive ranks, got {k}")
    unit = unit_rows(emb)
    if len(labels) != len(unit):
        raise ValueError(f"{len(unit)} embeddings but {len(labels)} labels")
    codes = np.unique(np.asarray([str(x) for x in labels]), return_inverse=True)[1]
    codes = codes.astype(np.int64).reshape(-1)
    queries = np.flatnonzero(np.bincount(codes)[codes] > 1)  # labels seen at least twice
    # at most N - 1 others: self sorts last (-inf) and must never enter the top
    first_hit = _first_same_label_rank(unit, codes, queries, min(k[-1], len(unit) - 1))
    out = {f"mrr@{k[-1]}": _mean(np.where(first_hit > 0, 1.0 / np.maximum(first_hit, 1), 0.0))}
    for cut in k:
        out[f"recall@{cut}"] = _mean((first_hit > 0) & (first_hit <= cut))
    out["n_queries"], out["n_skipped"] = len(queries), len(unit) - len(queries)
    return out


def _first_same_label_rank(unit, codes, queries, top: int) -> np.ndarray:
    """Per query, the 1-based rank of its first same-label neighbour in the top `top`, else 0."""
    first = np.zeros(len(queries), dtype=np.int64)
    for start in range(0, len(queries), _CHUNK):
        rows = queries[start : start + _CHUNK]
        sim = unit[rows] @ unit.T  # (C, N)
        sim[np.arange(len(rows)), rows] = -np.inf  # a sentence never retrieves itself
        order = np.argsort(-sim, axis=1, kind="stable")[:, :top]  # (C, top) best first
        hit = codes[order] == codes[rows][:, None]  # (C, top)
        found = hit.any(axis=1)
        first[start : start + len(rows)] = np.where(found, hit.argmax(axis=1) + 1, 0)
    return first


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else 0.0
