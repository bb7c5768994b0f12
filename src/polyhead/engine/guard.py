"""Guard for frozen heads: when a head is frozen but the backbone under it trains, the head's
task can silently degrade. Three callbacks, each asked for in the config:

- `DriftGuard` (any `plan.frozen_heads` or `trainer.preserve`): scores the dev set once before
  the first step (`on_fit_start`), then reports each watched task's main metric (accuracy for
  sentence tasks, entity F1 for token tasks) against that start value every epoch
  (history.jsonl `drift`) and at the end (metrics.json `drift: {task: {start, best, final,
  drop}}`: `best` is the value in the saved model, `final` the value at the last epoch,
  `drop` = start - best in points, i.e. metric x 100). With `trainer.max_drop` (points), an
  epoch whose watched task falls more than that below its start stops training and is never
  saved: the artifact is the best epoch that stayed within the limit, or, if none did, the
  model as it was before training (saved at the start for this purpose).
- `Distillation` (`trainer.preserve: [task]`): adds `preserve_weight * KL(start || now)` on
  that task's logits, computed on the task's own training inputs (the batches of its data
  source), so its predictions stay close to the model's at the start. For a token task the
  KL is over the word-start positions the task labels.
  Memory: the start model's logits are computed once per training example and kept (n x L
  floats for a sentence task, words x L for a token task; MASSIVE's 11.5k utterances x 60
  intents is 2.8 MB) rather than keeping a frozen copy of the model (a second backbone in
  memory and a second forward pass per step). They are also written to
  `RUN/guard/start_logits.safetensors`, so a resumed run distils toward the true start.
  To model "new data that does not label the frozen task", set that task's `loss_weight: 0`:
  its batches then teach only through the distillation term.
(`trainer.log_grad_cosine` adds polyhead.engine.cosine.GradCosine, which watches how the
tasks pull on the shared weights.)

Guards run before the history and best-artifact callbacks, so each epoch's record and the
save decision see their verdict.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from polyhead.data.align import IGNORE_INDEX
from polyhead.data.pairs import read_pairs
from polyhead.data.rows import batches_in_order
from polyhead.engine.cosine import GradCosine
from polyhead.engine.embedding_eval import WatchPairs
from polyhead.engine.embedding_guard import EmbeddingDistillation
from polyhead.engine.evaluation import score
from polyhead.evaluate import MAIN_METRIC
from polyhead.model.embedding_task import PRESERVE_EMBEDDING

log = logging.getLogger("polyhead")
TEACHER_FILE = Path("guard") / "start_logits.safetensors"


def build_guards(cfg, run_dir: Path, best_cb) -> list[pl.Callback]:
    """The guard callbacks `cfg` asks for; none for a run without frozen or preserved tasks."""
    guards: list[pl.Callback] = []
    t = cfg.trainer
    probes = {}
    if t.watch_embedding:  # the embedding's drift: Spearman on a pairs file (issue 16)
        probes[PRESERVE_EMBEDDING] = WatchPairs(read_pairs(t.watch_embedding), t.eval_batch_size)
    if cfg.watched_tasks() or probes:
        guards.append(DriftGuard(cfg.watched_tasks(), t.max_drop, best_cb, run_dir, probes))
    preserved = [p for p in t.preserve if p != PRESERVE_EMBEDDING]
    if preserved:
        guards.append(Distillation(preserved, t.preserve_weight, run_dir))
    if PRESERVE_EMBEDDING in t.preserve:
        guards.append(EmbeddingDistillation(t.preserve_embedding_weight, run_dir))
    if cfg.trainer.log_grad_cosine and len(cfg.tasks) > 1:
        guards.append(GradCosine(cfg.trainer.batch_size))
    return guards


def guard_metrics(guards: list[pl.Callback], best_epoch: int | None) -> dict:
    """What the guards add to metrics.json."""
    drift = next((g for g in guards if isinstance(g, DriftGuard)), None)
    return {} if drift is None else drift.summary(best_epoch)


def source_batches(datamodule, source: int, split: str, size: int):
    """Batches of one source's encoded rows, in row order."""
    return batches_in_order(datamodule.rows(split)[source], size, datamodule.pad_id)


def on_device(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


class DriftGuard(pl.Callback):
    """`probes`: other watched values, name -> callable(model) -> value in [0, 1] (the
    embedding's Spearman on `trainer.watch_embedding`), measured at the same moments."""

    def __init__(
        self, tasks: list[str], max_drop: float | None, best_cb, run_dir: Path, probes=None
    ):
        self.tasks, self.max_drop, self.run_dir = list(tasks), max_drop, Path(run_dir)
        self.probes = dict(probes or {})
        self.names = self.tasks + list(self.probes)
        self.start: dict[str, float] | None = None
        self.by_epoch: dict[int, dict[str, float]] = {}
        self.stopped_at: int | None = None
        self._allowed = True
        self.best_cb = best_cb
        best_cb.vetoes.append(lambda: self._allowed)  # the best artifact is an allowed epoch

    # ---- before training -----------------------------------------------------------------
    def on_fit_start(self, trainer, pl_module) -> None:
        if self.start is not None:  # restored from a checkpoint: the true start is kept
            return
        metrics = self._dev_metrics(trainer, pl_module) if self.tasks else {}
        self.start = self._values(metrics, pl_module)
        log.info("drift guard, dev before training: %s", self._fmt(self.start))
        if self.max_drop is not None and trainer.is_global_zero:
            # The fallback if no epoch stays within max_drop: the model as it was.
            pl_module.model.save(self.run_dir / "model", extra=self.best_cb.extra_fn())

    def _dev_metrics(self, trainer, pl_module) -> dict:
        dm = trainer.datamodule
        size = dm.cfg.trainer.eval_batch_size
        batches = (
            on_device(b, pl_module.device)
            for src in dm.sources
            if src.splits["dev"]
            for b in source_batches(dm, src.index, "dev", size)
        )
        return score(
            pl_module.model,
            batches,
            pl_module.sources,
            pl_module.kinds,
            pl_module.label_sets,
            "dev",
        )

    def _values(self, metrics: dict, pl_module) -> dict[str, float]:
        """Each watched task's main metric in `metrics`, and each probe's value now."""
        kinds = pl_module.kinds
        values = {t: float(metrics[t][MAIN_METRIC[kinds[t]]]) for t in self.tasks}
        return values | {name: float(p(pl_module.model)) for name, p in self.probes.items()}

    # ---- every epoch ---------------------------------------------------------------------
    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self.start is None:
            return
        now = self._values(pl_module.last_metrics, pl_module)
        epoch = trainer.current_epoch
        self.by_epoch[epoch] = now
        drops = {t: 100.0 * (self.start[t] - now[t]) for t in self.names}
        pl_module.history_extras["drift"] = {
            t: {"start": self.start[t], "current": now[t], "drop": drops[t]} for t in self.names
        }
        over = {t: d for t, d in drops.items() if self.max_drop is not None and d > self.max_drop}
        self._allowed = not over
        if over:
            self.stopped_at = epoch
            trainer.should_stop = True
            log.warning(
                "epoch %d: %s fell more than max_drop=%g points below the start; stopping, "
                "keeping the best epoch within the limit",
                epoch,
                ", ".join(f"{t} by {d:.2f}" for t, d in over.items()),
                self.max_drop,
            )

    def summary(self, best_epoch: int | None) -> dict:
        if self.start is None:
            return {}
        best = self.by_epoch.get(best_epoch, self.start) if best_epoch is not None else self.start
        last = self.by_epoch[max(self.by_epoch)] if self.by_epoch else self.start
        drift = {
            t: {
                "start": self.start[t],
                "best": best[t],
                "final": last[t],
                "drop": 100.0 * (self.start[t] - best[t]),
            }
            for t in self.names
        }
        out = {"drift": drift}
        if self.max_drop is not None:
            out["max_drop_stopped_at_epoch"] = self.stopped_at
        return out

    @staticmethod
    def _fmt(values: dict[str, float]) -> str:
        return ", ".join(f"{t} {v:.4f}" for t, v in values.items())

    def state_dict(self) -> dict:
        return {
            "start": self.start,
            "by_epoch": {str(k): v for k, v in self.by_epoch.items()},
            "stopped_at": self.stopped_at,
        }

    def load_state_dict(self, state: dict) -> None:
        self.start = state.get("start")
        self.by_epoch = {int(k): v for k, v in (state.get("by_epoch") or {}).items()}
        self.stopped_at = state.get("stopped_at")


class Distillation(pl.Callback):
    """KL toward the start model's logits for the preserved tasks, on their own inputs."""

    def __init__(self, tasks: list[str], weight: float, run_dir: Path):
        self.tasks, self.weight, self.path = list(tasks), weight, Path(run_dir) / TEACHER_FILE
        # task -> (flat (P, L) start logits, offsets (n + 1,)): row i owns flat[off[i]:off[i+1]]
        self.teacher: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.source: dict[str, int] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        dm = trainer.datamodule
        self.source = {t: next(s.index for s in dm.sources if t in s.tasks) for t in self.tasks}
        if self.path.exists():  # a resumed run: the logits of the true start
            saved = load_file(str(self.path))
            self.teacher = {t: (saved[f"{t}.logits"], saved[f"{t}.offsets"]) for t in self.tasks}
        else:
            self.teacher = {t: self._start_logits(dm, pl_module, t) for t in self.tasks}
            if trainer.is_global_zero:
                self._save()
        self.teacher = {t: (f.to(pl_module.device), o) for t, (f, o) in self.teacher.items()}
        pl_module.loss_terms.append(self.loss)

    @torch.no_grad()
    def _start_logits(self, dm, pl_module, task: str) -> tuple[torch.Tensor, torch.Tensor]:
        model = pl_module.model
        was_training = model.training
        model.eval()
        chunks, counts = [], []
        for batch in source_batches(dm, self.source[task], "train", dm.cfg.trainer.eval_batch_size):
            batch = on_device(batch, pl_module.device)
            logits = model(batch).logits[task].float()
            for row, n in self._positions(batch, logits, task):
                chunks.append(row.cpu())
                counts.append(n)
        model.train(was_training)
        offsets = torch.tensor([0] + counts).cumsum(0)
        return torch.cat(chunks), offsets

    @staticmethod
    def _positions(batch: dict, logits: torch.Tensor, task: str):
        """Per row: (positions x L) logits the KL compares, and how many positions."""
        if logits.dim() == 2:  # sentence task: (B, L), one position per row
            for row in logits:
                yield row[None], 1
            return
        keep = batch[f"labels.{task}"] != IGNORE_INDEX  # (B, T) word starts the task labels
        for row, mask in zip(logits, keep, strict=True):
            yield row[mask], int(mask.sum())

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for t, (flat, offsets) in self.teacher.items():
            tensors[f"{t}.logits"] = flat.contiguous()
            tensors[f"{t}.offsets"] = offsets.contiguous()
        save_file(tensors, str(self.path))

    def loss(self, batch: dict, out) -> dict[str, torch.Tensor]:
        """{"preserve_<task>": weighted KL} for each preserved task with rows in this batch."""
        terms = {}
        for task in self.tasks:
            rows = (batch["source"] == self.source[task]).nonzero().flatten()
            if rows.numel() == 0:
                continue
            flat, offsets = self.teacher[task]
            sub = {k: v[rows] for k, v in batch.items() if k.startswith("labels.")}
            student = torch.cat([r for r, _ in self._positions(sub, out.logits[task][rows], task)])
            idx = batch["row"][rows].cpu()
            teacher = torch.cat([flat[offsets[i] : offsets[i + 1]] for i in idx.tolist()])
            if teacher.shape != student.shape:
                raise RuntimeError(
                    f"preserve {task}: {tuple(teacher.shape)} start logits for "
                    f"{tuple(student.shape)} now; the training rows changed since the start"
                )
            kl = F.kl_div(
                F.log_softmax(student.float(), -1),
                F.log_softmax(teacher, -1),
                log_target=True,
                reduction="batchmean",
            )
            terms[f"preserve_{task}"] = self.weight * kl
        return terms
