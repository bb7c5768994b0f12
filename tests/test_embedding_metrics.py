"""Embedding metrics on hand-computed cases, against a brute-force reference, and (slow)
against sentence-transformers' STS evaluator on real STS-B pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from polyhead.embedding_metrics import (
    label_retrieval,
    pair_correlations,
    pair_cosines,
    pair_spearman,
)


def with_cosines(cosines: list[float], length: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (e1, v_i) with cos(e1, v_i) = cosines[i]; v_i has the given length."""
    a = np.tile([1.0, 0.0], (len(cosines), 1))
    b = np.array([[c, math.sqrt(1 - c * c)] for c in cosines]) * length
    return a, b


def test_pair_correlations_by_hand():
    a, b = with_cosines([1.0, 0.5, 0.0, -0.5])
    np.testing.assert_allclose(pair_cosines(a, b), [1.0, 0.5, 0.0, -0.5], atol=1e-12)
    m = pair_correlations(a, b, [5, 3, 1, 2])
    # ranks 4,3,2,1 vs 4,3,1,2: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert m["spearman"] == pytest.approx(0.8)
    # deviations .75,.25,-.25,-.75 and 2.25,.25,-1.75,-.75: 2.75 / sqrt(1.25 * 8.75)
    assert m["pearson"] == pytest.approx(2.75 / math.sqrt(1.25 * 8.75))
    assert m["n"] == 4
    assert pair_spearman(a, b, [5, 3, 1, 2]) == m["spearman"]


def test_pair_correlations_zero_row_constant_gold_and_errors():
    a, b = with_cosines([1.0, 0.5, 0.0])
    b[0] = 0.0  # a zero embedding has cosine 0 with anything, not NaN
    np.testing.assert_allclose(pair_cosines(a, b), [0.0, 0.5, 0.0], atol=1e-12)
    assert math.isnan(pair_correlations(a, b, [2, 2, 2])["spearman"])
    with pytest.raises(ValueError, match="3 pairs but 2 gold"):
        pair_correlations(a, b, [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        pair_correlations(a[:1], b[:1], [1])
    with pytest.raises(ValueError, match="same"):
        pair_cosines(a, b[:2])


def on_circle(degrees: list[float]) -> np.ndarray:
    rad = np.deg2rad(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1) * 2.5  # not unit: cosine normalises


def test_label_retrieval_by_hand():
    # index: 0     1     2     3     4     5
    angles = [0, 10, 30, 90, 180, 95]
    labels = ["A", "B", "A", "B", "C", "B"]  # the single C cannot be found: skipped
    # first same-label rank per query: 0 -> 2 (1 is B), 1 -> 3 (0, 2 are A), 2 -> 2, 3 -> 1, 5 -> 1
    m = label_retrieval(on_circle(angles), labels, k=(1, 10))
    assert m["mrr@10"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 2 + 1 + 1) / 5)
    assert m["recall@1"] == pytest.approx(2 / 5) and m["recall@10"] == 1.0
    assert (m["n_queries"], m["n_skipped"]) == (5, 1)
    cut = label_retrieval(on_circle(angles), labels, k=(2,))
    assert cut == {"mrr@2": pytest.approx(3 / 5), "recall@2": 0.8, "n_queries": 5, "n_skipped": 1}


def test_label_retrieval_ties_rank_lower_index_first_and_self_never_counts():
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # query 0 (A): 1 (B) and 2 (A) tie at cos 0 -> 1 first, so its mate is at rank 2 (rank 1
    # if ties went the other way or if 0 could retrieve itself); query 2 (A): 1 (B, cos 1),
    # then 0 (A) at rank 2; query 1 (B) has no mate and is skipped
    m = label_retrieval(emb, ["A", "B", "A"], k=(1, 10))
    assert m == {"mrr@10": 0.5, "recall@1": 0.0, "recall@10": 1.0, "n_queries": 2, "n_skipped": 1}
    assert label_retrieval(emb, ["A", "B", "C"])["n_queries"] == 0  # nothing to find


def brute_force(emb: np.ndarray, labels: list, ks: tuple[int, ...]) -> dict:
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    top, reciprocal, hits = max(ks), [], {k: [] for k in ks}
    for i in range(len(emb)):
        others = [j for j in range(len(emb)) if j != i]
        if not any(labels[j] == labels[i] for j in others):
            continue
        ranked = sorted(others, key=lambda j: (-float(unit[i] @ unit[j]), j))
        rank = next(r for r, j in enumerate(ranked, start=1) if labels[j] == labels[i])
        reciprocal.append(1 / rank if rank <= top else 0.0)
        for k in ks:
            hits[k].append(rank <= k)
    out = {f"mrr@{top}": np.mean(reciprocal)}
    out.update({f"recall@{k}": np.mean(hits[k]) for k in ks})
    return out


def test_label_retrieval_matches_brute_force_on_random_data(monkeypatch):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 5))
    labels = [f"l{x}" for x in rng.integers(0, 12, size=60)] + ["alone"]
    emb = np.vstack([emb, rng.normal(size=(1, 5))])
    monkeypatch.setattr("polyhead.embedding_metrics._CHUNK", 7)  # several query blocks
    got = label_retrieval(emb, labels, k=(1, 3, 10))
    expected = brute_force(emb, labels, (1, 3, 10))
    assert got["n_queries"] + got["n_skipped"] == 61 and got["n_skipped"] >= 1
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    assert 0 < got["recall@1"] < got["recall@10"] < 1  # a mixed case, not all-or-nothing


def test_label_retrieval_errors():
    with pytest.raises(ValueError, match="3 embeddings but 2 labels"):
        label_retrieval(np.eye(3), ["a", "b"])
    with pytest.raises(ValueError, match="positive"):
        label_retrieval(np.eye(3), ["a", "a", "b"], k=(0,))
    with pytest.raises(ValueError, match=r"\(N, H\)"):
        label_retrieval(np.ones(3), ["a", "a", "b"])


@pytest.mark.slow
def test_sts_spearman_equals_sentence_transformers_evaluator(shared_data):
    """Our number is the one sentence-transformers reports, on real pairs and the real model."""
    st = pytest.importorskip("sentence_transformers")
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator,
    )

    from polyhead.data.pairs import read_pairs
    from polyhead.model.backbone import default_model_path

    pairs = read_pairs(shared_data / "stsb_en" / "stsb-en-dev.csv")[:150]
    model = st.SentenceTransformer(str(default_model_path()), device="cpu")
    first, second = [p.text for p in pairs], [p.text_pair for p in pairs]
    ours = pair_correlations(model.encode(first), model.encode(second), [p.score for p in pairs])
    theirs = EmbeddingSimilarityEvaluator(first, second, [p.score / 5 for p in pairs])(model)
    assert ours["spearman"] == pytest.approx(theirs["spearman_cosine"], abs=1e-6)
    assert ours["pearson"] == pytest.approx(theirs["pearson_cosine"], abs=1e-5)
