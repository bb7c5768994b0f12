"""Gradient cosine between tasks (`trainer.log_grad_cosine`): at each validation, the cosine
between the gradients of each pair of tasks' (unweighted) losses on the trainable backbone
parameters, from one fixed probe batch per task in eval mode; > 0 the tasks pull the shared
weights the same way, < 0 they pull against each other. Logged to history.jsonl as
`grad_cosine`."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from polyhead.data.rows import batches_in_order


class GradCosine(pl.Callback):
    """Cosine between task gradients on the trainable backbone, once per validation."""

    def __init__(self, probe_size: int):
        self.probe_size = probe_size

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        # Validation runs under inference mode; the probe needs autograd for a moment.
        with torch.inference_mode(False), torch.enable_grad():
            cosines = self.cosines(trainer.datamodule, pl_module)
        if cosines:
            pl_module.history_extras["grad_cosine"] = cosines

    def cosines(self, dm, pl_module) -> dict[str, float]:
        model = pl_module.model
        shared = [
            p for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad
        ]
        if not shared:
            return {}  # the backbone is frozen this epoch: nothing is shared
        grads = {}
        for src in dm.sources:
            probe = next(batches_in_order(dm.rows("train")[src.index], self.probe_size, dm.pad_id))
            probe = {k: v.to(pl_module.device) for k, v in probe.items()}
            for task in src.tasks:
                grad = self._grad(model, probe, task, shared)
                if grad is not None:
                    grads[task] = grad
        names = sorted(grads)
        out = {}
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                out[f"{a}|{b}"] = self._cosine(grads[a], grads[b])
        return out

    @staticmethod
    def _grad(model, batch, task: str, shared) -> list[torch.Tensor] | None:
        was_training = model.training
        model.eval()  # no dropout: the same probe gives the same gradient for the same weights
        loss = model(batch).losses.get(task)  # None: the probe rows do not label the task
        grads = None if loss is None else torch.autograd.grad(loss, shared, allow_unused=True)
        model.train(was_training)
        if grads is None:
            return None
        return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, shared, strict=True)]

    @staticmethod
    def _cosine(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
        # Summed per parameter rather than over one concatenated vector: no copy of all grads.
        dot = sum((x.double() * y.double()).sum() for x, y in zip(a, b, strict=True))
        na = sum((x.double() ** 2).sum() for x in a).sqrt()
        nb = sum((y.double() ** 2).sum() for y in b).sqrt()
        return float(dot / (na * nb).clamp_min(1e-30))
