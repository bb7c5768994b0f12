"""Scoring the embedding on pairs: during validation (pairs batches of the embedding tasks'
dev files), on a run's best model (dev and test), for the embedding guard's watch set and
for `polyhead evaluate --pairs`.

Scored pairs report the Spearman (and Pearson) correlation between the pairs' cosine and
their gold score, as STS-B is reported (polyhead.embedding_metrics.pair_correlations).
(anchor, positive) pairs report pair retrieval: every sentence queries all other anchors
and positives for its partner (label_retrieval with the pair as the label: MRR@10,
recall@1/10). The main metric (the one in the combined score) is `spearman` or `mrr@10`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from polyhead.data.pairs import Pair
from polyhead.embedding_metrics import label_retrieval, pair_correlations
from polyhead.model.embedding_task import side_embeddings
from polyhead.predict import encode

MAIN = {"scored": "spearman", "triples": "mrr@10"}


def pair_metrics(emb_a: np.ndarray, emb_b: np.ndarray, scores) -> dict:
    """Metrics of N pairs' embeddings (N, H) each; `scores` None for (anchor, positive)."""
    if scores is not None:
        return pair_correlations(emb_a, emb_b, scores)
    n = len(emb_a)
    out = label_retrieval(np.concatenate([emb_a, emb_b]), [*range(n), *range(n)])
    return {k: v for k, v in out.items() if k != "n_skipped"} | {"n": n}


class PairCollector:
    """Side embeddings of every evaluated pair per pairs source, keyed by pair index."""

    def __init__(self, pair_sources, split: str):
        self.split = split
        self.sources = {p.index: p for p in pair_sources if p.splits.get(split)}
        self.emb: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {
            s: {} for s in self.sources
        }

    def add(self, batch: dict, sides: list[torch.Tensor]) -> None:
        """One pairs batch and its side embeddings (k x (B, H))."""
        source = int(batch["source"][0])
        a, b = (s.float().cpu().numpy() for s in sides[:2])
        for i, ea, eb in zip(batch["index"].tolist(), a, b, strict=True):
            self.emb[source][i] = (ea, eb)

    @torch.inference_mode()
    def collect(self, model, batches: Iterable[dict]) -> None:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            self.add(batch, side_embeddings(model, batch))
        model.train(was_training)

    def gather(self) -> None:
        """Under DDP each process saw a shard: merge them (keyed by index: repeats collapse)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return
        shards: list = [None] * dist.get_world_size()
        dist.all_gather_object(shards, self.emb)
        for shard in shards:
            for source, pairs in shard.items():
                self.emb[source].update(pairs)

    def metrics(self) -> dict[str, dict]:
        """{task: metrics} for every pairs source with pairs in this split."""
        out = {}
        for s, ps in self.sources.items():
            pairs = ps.splits[self.split]
            got = self.emb[s]
            if len(got) != len(pairs):
                raise RuntimeError(
                    f"{ps.task}: embeddings for {len(got)} of {len(pairs)} {self.split} pairs"
                )
            a = np.stack([got[i][0] for i in range(len(pairs))])  # (N, H)
            b = np.stack([got[i][1] for i in range(len(pairs))])  # (N, H)
            scores = [p.score for p in pairs] if ps.data_kind == "scored" else None
            out[ps.task] = pair_metrics(a, b, scores)
        return out

    def main_metrics(self) -> dict[str, str]:
        """task -> the metric the combined score reads."""
        return {ps.task: MAIN[ps.data_kind] for ps in self.sources.values()}


def evaluate_pairs(model, pairs: list[Pair], batch_size: int = 64) -> dict:
    """Metrics of a model's embedding on pairs, through the inference path (`encode`)."""
    a = encode(model, [p.text for p in pairs], batch_size)
    b = encode(model, [p.text_pair for p in pairs], batch_size)
    scores = [p.score for p in pairs] if pairs and pairs[0].score is not None else None
    return pair_metrics(a, b, scores)


def examples_retrieval(model, examples, batch_size: int = 64) -> dict:
    """Label retrieval of labelled sentences by the embedding, for a model with no sentence
    head that labels them (an embedding-only model): the examples' own labels are the truth."""
    emb = encode(model, [" ".join(ex.tokens) for ex in examples], batch_size)
    return label_retrieval(emb, [ex.label for ex in examples])


class WatchPairs:
    """The embedding guard's probe: Spearman (or MRR@10) of the embedding on a pairs file."""

    def __init__(self, pairs: list[Pair], batch_size: int):
        self.pairs, self.batch_size = pairs, batch_size
        self.main = MAIN["scored" if pairs[0].score is not None else "triples"]

    def __call__(self, model) -> float:
        return float(evaluate_pairs(model, self.pairs, self.batch_size)[self.main])
