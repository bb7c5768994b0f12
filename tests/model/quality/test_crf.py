"""CRF: constrained Viterbi emits valid BIO only, the loss learns, save -> load predicts the
same, and compact() gathers first-subword positions."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polyhead.data.align import first_subword_mask
from polyhead.model.crf import CRF, bio_allowed, compact

LABELS = ["O", "B-date", "I-date", "B-time", "I-time"]


def is_valid_bio(tags: list[str]) -> bool:
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev not in (f"B-{tag[2:]}", tag):
            return False
        prev = tag
    return True


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.integers(1, 7))
def test_viterbi_only_emits_valid_bio_for_any_scores(seed, width):
    gen = torch.Generator().manual_seed(seed)
    crf = CRF(LABELS)
    with torch.no_grad():  # adversarial scores: invalid transitions are often the best ones
        for p in (crf.transitions, crf.start, crf.end):
            p.copy_(torch.randn(p.shape, generator=gen) * 5)
    emissions = torch.randn(3, width, len(LABELS), generator=gen) * 5
    lengths = torch.randint(0, width + 1, (3,), generator=gen)
    mask = torch.arange(width)[None, :] < lengths[:, None]
    paths = crf.decode(emissions, mask)
    assert [len(p) for p in paths] == lengths.tolist()
    for path in paths:
        assert is_valid_bio([LABELS[i] for i in path])


def test_bio_allowed_constrains_i_tags_only():
    allowed, start = bio_allowed(LABELS)
    assert start.tolist() == [True, True, False, True, False]
    assert allowed[1, 2] and allowed[2, 2] and not allowed[0, 2] and not allowed[3, 2]
    assert allowed[:, [0, 1, 3]].all()


def test_crf_loss_decreases_and_learns_a_toy_problem():
    torch.manual_seed(0)
    # Gold: a B-date I-date span in every sentence; emissions are learned per position.
    tags = torch.tensor([[0, 1, 2, 0], [1, 2, 2, 0]])
    mask = torch.ones_like(tags, dtype=torch.bool)
    emissions = torch.zeros(2, 4, len(LABELS), requires_grad=True)
    crf = CRF(LABELS)
    opt = torch.optim.Adam([emissions, *crf.parameters()], lr=0.1)
    losses = []
    for _ in range(60):
        loss = crf.nll(emissions, tags, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert crf.decode(emissions.detach(), mask) == tags.tolist()


def test_nll_ignores_rows_without_words_and_padding():
    crf = CRF(LABELS)
    emissions = torch.randn(2, 3, len(LABELS))
    tags = torch.tensor([[1, 2, -100], [-100, -100, -100]])
    mask = tags != -100
    alone = crf.nll(emissions[:1, :2], tags[:1, :2], mask[:1, :2])
    assert torch.allclose(crf.nll(emissions, tags, mask), alone)


def test_nll_is_per_word_like_the_token_cross_entropy():
    """Rows of 1 and 3 words: the batch NLL is the sum of path NLLs over the 4 words, so a
    long sentence weighs by its words and the scale matches a per-token cross-entropy."""
    crf = CRF(LABELS)
    with torch.no_grad():
        crf.transitions.normal_()
    emissions = torch.randn(2, 3, len(LABELS))
    tags = torch.tensor([[1, -100, -100], [1, 2, 0]])
    mask = tags != -100
    one = crf.nll(emissions[:1, :1], tags[:1, :1], mask[:1, :1])  # path NLL / 1 word
    three = crf.nll(emissions[1:], tags[1:], mask[1:])  # path NLL / 3 words
    assert torch.allclose(crf.nll(emissions, tags, mask), (1 * one + 3 * three) / 4)
    # a single word with no transitions: the per-word NLL is exactly the cross-entropy
    # of the start + emission + end scores
    logits = crf.start + emissions[0, 0] + crf.end
    ce = torch.nn.functional.cross_entropy(logits[None], tags[0, :1])
    assert torch.allclose(one, ce, atol=1e-6)


def test_compact_gathers_first_subwords_in_order():
    word_ids = torch.tensor([[-1, 0, 0, 1, 2, 2, -1], [-1, 0, 1, -1, -1, -1, -1]])
    firsts = first_subword_mask(word_ids)
    assert firsts.tolist()[0] == [False, True, False, True, True, False, False]
    values = torch.arange(14).reshape(2, 7)
    gathered, mask = compact(values, firsts)
    assert gathered[mask].tolist() == [1, 3, 4, 8, 9]  # values beyond a row's words: masked
    assert mask.tolist() == [[True, True, True], [True, True, False]]
