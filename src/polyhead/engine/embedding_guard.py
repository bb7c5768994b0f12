"""`trainer.preserve: [embedding]`: keep the pooled embedding close to the start model's
while the heads train (issue 16).

`EmbeddingDistillation` adds `preserve_embedding_weight * mean(1 - cos(now, start))`
(polyhead.model.losses.embedding_distillation, kind cosine) on the training inputs of every
head source: each training sentence's embedding is pulled toward the embedding the model
gave it before the first step. Like the head guard's Distillation, the start embeddings are
computed once per training sentence (n x H floats: MASSIVE's 11.5k utterances x 384 is
18 MB) instead of keeping a frozen copy of the model, and written to
`RUN/guard/start_embeddings.safetensors` so a resumed run distils toward the true start.
Weight 0 adds an exact 0 (nothing is computed or stored). The embedding's drift itself is
measured by the DriftGuard's probe on `trainer.watch_embedding` (polyhead.engine.guard).
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from safetensors.torch import load_file, save_file

from polyhead.data.rows import batches_in_order
from polyhead.model.losses import embedding_distillation

START_FILE = Path("guard") / "start_embeddings.safetensors"


class EmbeddingDistillation(pl.Callback):
    """Distillation of the pooled embedding toward the start model's, on training rows."""

    def __init__(self, weight: float, run_dir: Path):
        self.weight, self.path = weight, Path(run_dir) / START_FILE
        self.start: dict[int, torch.Tensor] = {}  # head source -> (n, H) start embeddings

    def on_fit_start(self, trainer, pl_module) -> None:
        if self.weight == 0:
            return
        dm = trainer.datamodule
        if self.path.exists():  # a resumed run: the embeddings of the true start
            saved = load_file(str(self.path))
            self.start = {int(k): v for k, v in saved.items()}
        else:
            size = dm.cfg.trainer.eval_batch_size
            self.start = {
                s.index: self._embed(pl_module, dm.rows("train")[s.index], size, dm.pad_id)
                for s in dm.sources
            }
            if trainer.is_global_zero:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                save_file({str(k): v.contiguous() for k, v in self.start.items()}, str(self.path))
        self.start = {k: v.to(pl_module.device) for k, v in self.start.items()}
        pl_module.loss_terms.append(self.loss)

    @staticmethod
    @torch.no_grad()
    def _embed(pl_module, rows: list[dict], size: int, pad_id: int) -> torch.Tensor:
        model = pl_module.model
        was_training = model.training
        model.eval()
        chunks = []
        for batch in batches_in_order(rows, size, pad_id):
            batch = {k: v.to(pl_module.device) for k, v in batch.items()}
            chunks.append(model.features(batch)["embedding"].float().cpu())  # (B, H)
        model.train(was_training)
        return torch.cat(chunks)  # (n, H)

    def loss(self, batch: dict, out) -> dict[str, torch.Tensor]:
        """{"preserve_embedding": weighted term} for a batch of head-source rows."""
        source = int(batch["source"][0])
        if source not in self.start or out.embedding is None:
            return {}  # a pairs batch: the embedding task trains the embedding on purpose
        start = self.start[source][batch["index"]]  # (B, H)
        return {"preserve_embedding": embedding_distillation(out.embedding, start, self.weight)}
