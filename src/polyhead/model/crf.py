"""A linear-chain CRF over word-level tags, with Viterbi decoding restricted to valid BIO.

Hand-written (about 100 lines) rather than taken from PyPI: `pytorch-crf` (last release 0.7.2,
2019) has no transition constraints and requires every sequence to have at least one
position, while a row here may have no word at all (an empty text, or a row whose source does
not label this task). As in AllenNLP's `ConditionalRandomField`, the likelihood is computed
over all paths and only decoding is constrained, so training never meets an infinite loss on
noisy gold tags, and prediction never emits `I-X` without a preceding `B-X`/`I-X`.

Token labels sit on first subwords only (-100 elsewhere), so the CRF runs over the compact
sequence of first-subword positions of each row: `compact()` gathers them into (B, W) with a
mask, W = the most words in any row of the batch.
"""

from __future__ import annotations

import torch
from torch import nn

NEG = -1e4  # "impossible" score: finite, so masked rows stay NaN-free in logsumexp


def bio_allowed(labels: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(L, L) allowed[i, j] for tag i -> tag j, and (L,) allowed first tags.

    `I-X` may only follow `B-X` or `I-X`, and may not start a sequence; labels that are not
    BIO (`O`, `B-X`, `I-X`) are left unconstrained.
    """
    n = len(labels)
    allowed = torch.ones(n, n, dtype=torch.bool)
    start = torch.ones(n, dtype=torch.bool)
    for j, tag in enumerate(labels):
        prefix, _, kind = tag.partition("-")
        if prefix != "I" or not kind:
            continue
        start[j] = False
        for i, prev in enumerate(labels):
            allowed[i, j] = prev in (f"B-{kind}", f"I-{kind}")
    return allowed, start


def compact(values: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather the `keep` positions of each row to the front, in order.

    values (B, T, ...) and keep (B, T) bool -> (B, W, ...) and mask (B, W) bool.
    """
    lengths = keep.sum(1)  # (B,)
    width = max(1, int(lengths.max())) if keep.numel() else 1
    # A stable sort of "not kept" puts kept positions first, in their original order.
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :width]  # (B, W)
    index = order.reshape(*order.shape, *([1] * (values.dim() - 2))).expand(
        -1, -1, *values.shape[2:]
    )
    gathered = values.gather(1, index)  # (B, W, ...)
    mask = torch.arange(width, device=keep.device)[None, :] < lengths[:, None]  # (B, W)
    return gathered, mask


class CRF(nn.Module):
    """Transition scores between tags, plus start and end scores; learned with the head."""

    def __init__(self, labels: list[str]):
        super().__init__()
        n = len(labels)
        self.transitions = nn.Parameter(torch.zeros(n, n))  # [from, to]
        self.start = nn.Parameter(torch.zeros(n))
        self.end = nn.Parameter(torch.zeros(n))
        allowed, start_ok = bio_allowed(labels)
        # Derived from the labels, so not saved: rebuilt identically on load.
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("start_allowed", start_ok, persistent=False)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of the batch's tag paths per word (pytorch-crf's
        `token_mean`): on the scale of the token cross-entropy it replaces. A per-sentence
        mean is ~words x larger, and in a multi-task model it then dominated the shared
        gradient norm, so clipping starved the other tasks (MASSIVE: intent accuracy fell
        0.83 -> 0.71 with `crf: true`, BENCHMARKS.md).

        emissions (B, W, L), tags (B, W) (any value where mask is False), mask (B, W) bool.
        """
        emissions = emissions.float()
        rows = mask.any(1)  # (B,)
        tags = tags.clamp(min=0) * mask  # (B, W): masked positions point at tag 0, unused
        nll = self._log_partition(emissions, mask) - self._path_score(emissions, tags, mask)
        return nll[rows].sum() / mask.sum().clamp(min=1)

    def _path_score(self, emissions, tags, mask) -> torch.Tensor:
        m = mask.float()  # (B, W)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, W)
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, W-1)
        score = self.start[tags[:, 0]] + (emit * m).sum(1) + (trans * m[:, 1:]).sum(1)
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0).unsqueeze(1)).squeeze(1)  # (B,)
        return score + self.end[last]

    def _log_partition(self, emissions, mask) -> torch.Tensor:
        alpha = self.start + emissions[:, 0]  # (B, L)
        for t in range(1, emissions.shape[1]):
            step = alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1)  # (B,L,L)
            alpha = torch.where(mask[:, t : t + 1], step.logsumexp(1), alpha)
        return (alpha + self.end).logsumexp(1)  # (B,)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Best valid tag ids per row (length = the row's mask count): constrained Viterbi."""
        emissions = emissions.float()
        trans = self.transitions.float().masked_fill(~self.allowed, NEG)  # (L, L)
        score = self.start.float().masked_fill(~self.start_allowed, NEG) + emissions[:, 0]
        back = []
        for t in range(1, emissions.shape[1]):
            step = score.unsqueeze(2) + trans  # (B, L, L): [b, from, to]
            best, arg = step.max(1)  # (B, L)
            score = torch.where(mask[:, t : t + 1], best + emissions[:, t], score)
            back.append(arg)
        score = score + self.end.float()
        lengths = mask.sum(1).tolist()
        out = []
        for b, n in enumerate(lengths):
            if n == 0:
                out.append([])
                continue
            path = [int(score[b].argmax())]
            for t in range(n - 1, 0, -1):
                path.append(int(back[t - 1][b, path[-1]]))
            out.append(path[::-1])
        return out

    def decode_words(self, emissions: torch.Tensor) -> list[int]:
        """One row's (n_words, L) emissions -> tag ids (used by the Predictor)."""
        if emissions.shape[0] == 0:
            return []
        emissions = emissions.to(self.transitions.device)
        mask = torch.ones(1, emissions.shape[0], dtype=torch.bool, device=emissions.device)
        return self.decode(emissions.unsqueeze(0), mask)[0]
