"""Embedding tasks: a loss on the pooled (normalised) embedding itself, with no head.

`EmbeddingSettings` are the fields a config's `tasks.<name>` has when `kind: embedding`
(declared here, next to the code that reads them). `pair_loss` encodes a pairs batch (all
sides stacked as one (k * B, T) batch, see polyhead.data.pair_rows) through
`model.features(batch)["embedding"]` and applies the task's loss from polyhead.model.losses.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from polyhead.errors import ConfigError
from polyhead.model.losses import cosent_loss, cosine_similarity_loss, in_batch_negatives_loss

EmbeddingLoss = Literal["mnrl", "cosent", "cosine"]
# `trainer.preserve: [embedding]`: the pooled embedding, not a task.
PRESERVE_EMBEDDING = "embedding"
# The loss a task gets when it names none, by what its data holds. Scored pairs: cosine, not
# CoSENT: on STS-B train, all-MiniLM-L6-v2 gains 2.6 dev points with the cosine loss and
# loses about one with CoSENT at every lr / epoch count tried, under sentence-transformers' own
# trainer too (BENCHMARKS.md, "Embeddings", (a)).
DEFAULT_LOSS = {"triples": "mnrl", "scored": "cosine", "labels": "cosine"}


class EmbeddingSettings(BaseModel):
    """`tasks.<name>` fields of an embedding task (ignored by sentence and token tasks)."""

    model_config = ConfigDict(extra="forbid")

    loss: EmbeddingLoss | None = Field(
        None,
        description="mnrl: in-batch negatives on (anchor, positive[, negative]); cosent / "
        "cosine: scored pairs. Default: mnrl for triples, cosine for scored pairs and for "
        "pairs_from (SetFit's default)",
    )
    scale: float = Field(20.0, gt=0.0, description="mnrl / cosent: 1 / temperature")
    pairs_from: str | None = Field(
        None, description="a sentence task: SetFit-style pairs from its labels, each epoch"
    )
    score_scale: float | None = Field(
        None,
        gt=0.0,
        description="cosine loss: gold scores are divided by it (STS 0..5: 5); null: the "
        "largest |score| of the training pairs when above 1, else 1",
    )

    def resolved_loss(self, data_kind: str) -> str:
        """The loss this task trains with, given its data: triples, scored or labels."""
        return self.loss or DEFAULT_LOSS[data_kind]


def check_embedding_tasks(tasks: dict, sampling: str, preserve: list[str]) -> None:
    """The run-level rules for embedding tasks (a config's `tasks`, `trainer.sampling` and
    `trainer.preserve`), checked once when the config is built."""
    embedding = {n: t for n, t in tasks.items() if t.kind == "embedding"}
    for name, task in embedding.items():
        source = tasks.get(task.pairs_from) if task.pairs_from else None
        if task.pairs_from and (source is None or source.kind != "sentence"):
            raise ConfigError(
                f"tasks.{name}.pairs_from",
                f"{task.pairs_from!r} is not a sentence task of this config",
            )
    if any(t.loss_weight > 0 for t in embedding.values()) and sampling == "mixed":
        raise ConfigError(
            "trainer.sampling",
            "mixed puts rows of every source in one batch; an embedding task's pairs "
            "batches need their own: use proportional, temperature or round_robin",
        )
    if PRESERVE_EMBEDDING in preserve and PRESERVE_EMBEDDING in tasks:
        raise ConfigError(
            "trainer.preserve",
            f"'{PRESERVE_EMBEDDING}' means the pooled embedding; rename the task of that name",
        )


def is_pair_batch(batch: dict) -> bool:
    return "pair_sides" in batch


def side_embeddings(model, batch: dict) -> list[torch.Tensor]:
    """The k sides of a pairs batch -> k embeddings (B, H), from one forward pass."""
    k = int(batch["pair_sides"])
    emb = model.features(batch)["embedding"]  # (k * B, H)
    return list(emb.chunk(k, dim=0))  # k x (B, H)


def pair_loss(
    model, batch: dict, loss: str, scale: float, score_scale: float = 1.0
) -> torch.Tensor:
    """The task's loss on one pairs batch (unweighted); gold scores are divided by
    `score_scale` (only the cosine loss reads their scale)."""
    sides = side_embeddings(model, batch)
    if loss == "mnrl":
        negative = sides[2] if len(sides) > 2 else None
        return in_batch_negatives_loss(sides[0], sides[1], negative, scale=scale)
    scores = batch["score"].float() / score_scale  # (B,)
    if loss == "cosent":
        return cosent_loss(sides[0], sides[1], scores, scale=scale)
    return cosine_similarity_loss(sides[0], sides[1], scores)
