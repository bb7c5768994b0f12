"""Embedding losses: same values as sentence-transformers on the same embeddings, and each
one trains a tiny encoder (its value falls over a few optimiser steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from polyhead.model.losses import (
    cosent_loss,
    cosine_similarity_loss,
    embedding_distillation,
    in_batch_negatives_loss,
    pairs_from_labels,
)

st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")


def unit(*shape, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


# --- same values as sentence-transformers --------------------------------------------------


@pytest.mark.parametrize("negatives", [0, 1, 3])
@pytest.mark.parametrize("scale", [20.0, 1.0])
def test_in_batch_negatives_equals_multiple_negatives_ranking_loss(negatives, scale):
    anchor, positive = unit(8, 16, seed=1), unit(8, 16, seed=2)
    columns = [unit(8, 16, seed=3 + i) for i in range(negatives)]
    reference = st_losses.MultipleNegativesRankingLoss(model=None, scale=scale)
    expected = reference.compute_loss_from_embeddings([anchor, positive, *columns], None)
    negative = None
    if negatives == 1:
        negative = columns[0]  # (B, H)
    elif negatives > 1:
        negative = torch.stack(columns, dim=1)  # (B, K, H)
    got = in_batch_negatives_loss(anchor, positive, negative, scale=scale)
    assert got.item() == pytest.approx(expected.item(), abs=1e-5)
    assert got.item() > 0.1  # random vectors: far from a solved batch, so the check has teeth


def test_cosent_equals_sentence_transformers_with_ties():
    a, b = unit(12, 16, seed=5), unit(12, 16, seed=6)
    scores = torch.tensor([0.0, 1.0, 1.0, 2.5, 5.0, 3.0, 3.0, 0.0, 4.2, 1.0, 2.0, 5.0])
    for scale in (20.0, 5.0):
        expected = st_losses.CoSENTLoss(model=None, scale=scale).compute_loss_from_embeddings(
            [a, b], scores
        )
        got = cosent_loss(a, b, scores, scale=scale)
        assert got.item() == pytest.approx(expected.item(), abs=1e-5)


def test_cosent_by_hand_and_zero_when_all_scores_tie():
    a = unit(4, 8, seed=7)
    assert cosent_loss(a, unit(4, 8, seed=8), torch.ones(4)).item() == 0.0
    e1, e2 = torch.eye(2)
    a, b = torch.stack([e1, e1]), torch.stack([e1, 0.5 * e1 + 0.75**0.5 * e2])  # cos 1, 0.5
    right = cosent_loss(a, b, torch.tensor([1.0, 0.0])).item()  # log(1 + e^(20 (0.5 - 1)))
    wrong = cosent_loss(a, b, torch.tensor([0.0, 1.0])).item()  # log(1 + e^(20 (1 - 0.5)))
    assert right == pytest.approx(np.log1p(np.exp(-10.0)), rel=1e-3)  # float32 cosine
    assert wrong == pytest.approx(np.log1p(np.exp(10.0)), rel=1e-5)


def test_cosine_similarity_loss_equals_sentence_transformers():
    a, b = unit(10, 16, seed=9), unit(10, 16, seed=10)
    scores = torch.linspace(0, 1, 10)
    expected = st_losses.CosineSimilarityLoss(model=None).compute_loss_from_embeddings(
        [a, b], scores
    )
    assert cosine_similarity_loss(a, b, scores).item() == pytest.approx(expected.item(), abs=1e-6)


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_distillation_equals_sentence_transformers_embed_distill_loss(kind):
    now, start = unit(6, 16, seed=11), unit(6, 16, seed=12)
    reference = st_losses.EmbedDistillLoss(model=None, distance_metric=kind)
    expected = reference.compute_loss_from_embeddings([now], [start])
    got = embedding_distillation(now, start, weight=2.0, kind=kind)
    assert got.item() == pytest.approx(2.0 * expected.item(), abs=1e-6)
    assert expected.item() > 0.05  # random rows are far apart
    assert embedding_distillation(start, start, kind=kind).item() == pytest.approx(0, abs=1e-6)


def test_distillation_mse_on_unit_rows_is_cosine_over_width():
    now, start = unit(6, 16, seed=11), unit(6, 16, seed=12)
    mse = embedding_distillation(now, start, kind="mse").item()
    cosine = embedding_distillation(now, start, kind="cosine").item()
    assert mse == pytest.approx(2 * cosine / 16, rel=1e-5)  # |u - v|^2 = 2 - 2 cos


def test_distillation_weight_zero_is_exactly_zero_even_with_nan_inputs():
    now = torch.full((3, 4), float("nan"), requires_grad=True)
    zero = embedding_distillation(now, torch.zeros(3, 4), weight=0.0)
    assert zero.item() == 0.0 and zero.dtype == torch.float32
    assert (zero + now.sum() * 0).requires_grad  # adds to a training loss without breaking it


def test_loss_shape_errors():
    with pytest.raises(ValueError, match="anchor"):
        in_batch_negatives_loss(unit(4, 8), unit(3, 8))
    with pytest.raises(ValueError, match="3 scores"):
        cosent_loss(unit(4, 8), unit(4, 8), torch.ones(3))
    with pytest.raises(ValueError, match="kind"):
        embedding_distillation(unit(2, 8), unit(2, 8), kind="l1")


# --- SetFit-style pairs ---------------------------------------------------------------------


def test_pairs_from_labels_balanced_seeded_and_correct():
    labels = ["a", "a", "b", "b", "b", "c", None]  # c occurs once, None is unlabelled
    pairs, targets = pairs_from_labels(labels, rng=0, num_iterations=3)
    # a: 2 anchors, b: 3 anchors, c: none -> 5 anchors x 3 iterations x (1 pos + 1 neg)
    assert pairs.shape == (30, 2) and targets.tolist().count(1.0) == 15
    for (i, j), t in zip(pairs.tolist(), targets.tolist(), strict=True):
        assert i != j and labels[i] is not None and labels[j] is not None
        assert (labels[i] == labels[j]) == (t == 1.0)
    again, _ = pairs_from_labels(labels, rng=np.random.default_rng(0), num_iterations=3)
    other, _ = pairs_from_labels(labels, rng=1, num_iterations=3)
    assert np.array_equal(pairs, again) and not np.array_equal(pairs, other)
    assert 5 in pairs[:, 1]  # the single "c" still serves as someone's negative


def test_pairs_from_labels_refuses_what_cannot_make_pairs():
    with pytest.raises(ValueError, match="at least 2"):
        pairs_from_labels(["a", "a", None], rng=0)
    with pytest.raises(ValueError, match="seen twice"):
        pairs_from_labels(["a", "b", "c"], rng=0)


# --- each loss trains a tiny encoder ---------------------------------------------------------

# Toy corpus: each sentence is 3 word ids; sentences of one topic share a 4-word vocabulary.
TOPICS, PER_TOPIC, VOCAB = 4, 6, 16


def toy_sentences(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    topic = torch.arange(TOPICS).repeat_interleave(PER_TOPIC)  # (N,)
    words = topic[:, None] * 4 + torch.randint(0, 4, (len(topic), 3), generator=g)  # (N, 3)
    return words, topic


def tiny_encoder(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.EmbeddingBag(VOCAB, 8, mode="mean"), nn.Linear(8, 8))


def train(loss_of, steps: int = 30, seed: int = 0) -> list[float]:
    model = tiny_encoder(seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    history = []
    for _ in range(steps):
        loss = loss_of(lambda ids: F.normalize(model(ids), dim=-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    return history


def assert_falls(history: list[float]) -> None:
    start, end = np.mean(history[:3]), np.mean(history[-3:])
    assert end < 0.7 * start, history


def test_in_batch_negatives_trains():
    words, topic = toy_sentences()
    anchor, positive = words[::PER_TOPIC], words[1::PER_TOPIC]  # one pair per topic
    negative = words[2::PER_TOPIC].roll(1, dims=0)  # hard negative: another topic
    assert_falls(
        train(lambda enc: in_batch_negatives_loss(enc(anchor), enc(positive), enc(negative)))
    )


def scored_pairs():
    words, topic = toy_sentences()
    pairs, targets = pairs_from_labels(topic.tolist(), rng=0)
    i, j = torch.from_numpy(pairs).T
    return words[i], words[j], torch.from_numpy(targets)


def test_cosent_trains_on_setfit_pairs():
    a, b, score = scored_pairs()
    assert_falls(train(lambda enc: cosent_loss(enc(a), enc(b), score)))


def test_cosine_similarity_loss_trains_on_setfit_pairs():
    a, b, score = scored_pairs()
    assert_falls(train(lambda enc: cosine_similarity_loss(enc(a), enc(b), score)))


def test_distillation_pulls_a_moved_encoder_back_to_the_start_embeddings():
    words, _ = toy_sentences()
    with torch.no_grad():
        start = F.normalize(tiny_encoder(seed=0)(words), dim=-1)
    history = train(lambda enc: embedding_distillation(enc(words), start), seed=1)
    assert_falls(history)
    assert history[-1] < 0.05
