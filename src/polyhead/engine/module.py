"""The LightningModule: Lightning owns the loop, precision, devices and checkpoints; this
module owns the multi-task step, the per-group optimizer from the plan, and validation."""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning.pytorch as pl
import torch

from polyhead.engine import faults
from polyhead.engine.embedding_eval import PairCollector
from polyhead.engine.evaluation import PredictionCollector
from polyhead.engine.resume import fresh_schedules
from polyhead.errors import PolyheadError
from polyhead.features.keys import tensors_fingerprint
from polyhead.model.embedding_task import is_pair_batch, pair_loss, side_embeddings
from polyhead.model.kinds import output_heads, set_thresholds
from polyhead.model.multitask import MultiTaskOutput
from polyhead.plan import param_groups, scheduler

# A training-loss term a callback contributes: (batch, output) -> {log name: weighted term}.
LossTerm = Callable[[dict, object], dict[str, torch.Tensor]]


class PolyheadModule(pl.LightningModule):
    def __init__(self, model, plan, cfg, datamodule_info, pair_sources=()):
        super().__init__()
        self.model, self.plan, self.cfg = model, plan, cfg
        self.sources, self.kinds, self.label_sets = datamodule_info
        self.pair_sources = {p.index: p for p in pair_sources}  # embedding tasks, by source
        self.weights = {name: t.metric_weight for name, t in cfg.tasks.items()}
        self._collector: PredictionCollector | None = None
        self._pairs: PairCollector | None = None
        self.test_split = "test"  # which split Lightning's test loop evaluates
        self.last_metrics: dict = {}
        # pre-clipping total norm per step, kept on the device (read on demand: `grad_norms`)
        self._grad_norms: list[torch.Tensor] = []
        self.skipped_nonfinite = 0  # batches dropped under trainer.on_nonfinite=skip
        self.nonfinite = faults.NonfiniteWatch()  # trainer.on_nonfinite=stop
        # polyhead.features.BackboneCache: cached backbone outputs while (part of) it is frozen
        self.feature_source = None
        self._fixed_hash: str | None = None  # of the weights no epoch trains (checkpoints)
        self._steps_per_epoch = 1  # set by configure_optimizers
        self._extended = False  # resumed with another trainer.epochs (--allow-changes)
        # Hooks other callbacks fill: extra loss terms (the guard's distillation), and fields
        # for this epoch's history.jsonl record (drift, grad cosine).
        self.loss_terms: list[LossTerm] = []
        self.history_extras: dict = {}

    def _forward(self, batch, split: str):
        source = self.feature_source
        feats = source.features(self.model, batch, split, self.current_epoch) if source else None
        if feats is None:
            return self.model(batch)
        return self.model.output_from_features(feats, batch)

    def _prepare_cache(self, split: str) -> None:
        """This epoch's cache entries, before the first batch. Under DDP rank 0 builds and
        publishes them while the others wait, then they open them: no rank recomputes one."""
        if self.feature_source is None:
            return
        rank_zero = self.global_rank == 0
        if not rank_zero:
            self.trainer.strategy.barrier("polyhead-feature-cache")
        self.feature_source.prepare(self.model, split, self.current_epoch)
        if rank_zero:
            self.trainer.strategy.barrier("polyhead-feature-cache")

    def on_train_epoch_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "set_epoch"):
            dm.set_epoch(self.current_epoch)  # pairs made from labels: this epoch's
        self._prepare_cache("train")

    # ---- training ------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        out = self._pair_output(batch) if is_pair_batch(batch) else self._forward(batch, "train")
        if out.loss is None:
            return None  # no task labelled in this batch
        if not out.loss.requires_grad:  # gradual: a pairs batch while the backbone is frozen
            return faults.skip_loss(self)
        self._add_loss_terms(batch, out)
        if self.cfg.trainer.on_nonfinite == "skip" and faults.nonfinite_skip(self, out):
            return faults.skip_loss(self)
        if self.cfg.trainer.on_nonfinite == "stop":  # recorded on the device, read now and then
            self.nonfinite.record(self, out)
            if self._logging_step() or batch_idx + 1 >= self.trainer.num_training_batches:
                self.nonfinite.check(self)
        # Only on logging steps: a logged value is read on the host (a GPU sync) by the
        # progress bar and the loggers, and the loggers write only these steps anyway.
        if self._logging_step():
            size = batch["index"].shape[0]  # rows (a pairs batch stacks its sides in input_ids)
            self.log("train/loss", out.loss, prog_bar=True, batch_size=size)
            for task, loss in out.losses.items():
                self.log(f"train/{task}_loss", loss, batch_size=size)
        return out.loss

    def _pair_output(self, batch) -> MultiTaskOutput:
        """An embedding task's pairs batch: its weighted loss on the pooled embedding (the
        full backbone runs: cached features hold sentence rows only)."""
        ps = self.pair_sources[int(batch["source"][0])]
        loss = pair_loss(self.model, batch, ps.loss, ps.scale, ps.score_scale)
        return MultiTaskOutput(None, {}, ps.weight * loss, {ps.task: loss})

    def _logging_step(self) -> bool:
        """Steps whose values the loggers write (every `log_every_n_steps`). Each `self.log`
        costs ~1 ms; with the backbone cached a whole step costs ~15 ms, so logging every
        step's per-task values only to overwrite them was a tenth of a cached epoch."""
        return (self.global_step + 1) % max(1, self.trainer.log_every_n_steps) == 0

    def _add_loss_terms(self, batch, out) -> None:
        """Extra terms callbacks register in `loss_terms` (e.g. the guard's distillation)."""
        for term in self.loss_terms:
            for name, value in term(batch, out).items():
                out.loss = out.loss + value
                if self._logging_step():
                    self.log(f"train/{name}", value, batch_size=batch["index"].shape[0])

    def on_before_optimizer_step(self, optimizer) -> None:
        if faults.drop_skipped_grads(self):
            return
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if grads:
            # fused per-tensor norms over the optimised tensors only: a Python loop over every
            # model parameter cost ~1.4 ms a step, a tenth of a step with cached features. The
            # norm stays a device tensor: reading it (float) every step would wait for the GPU.
            norms = torch._foreach_norm(grads)
            norm = torch.linalg.vector_norm(torch.stack([n.float() for n in norms])).detach()
            self._grad_norms.append(norm)
            if self._logging_step():
                self.log("train/grad_norm", norm, batch_size=1)

    @property
    def grad_norms(self) -> list[float]:
        """The pre-clipping gradient norm of every step so far (one host read, here)."""
        return torch.stack(self._grad_norms).tolist() if self._grad_norms else []

    def configure_optimizers(self):
        groups = param_groups(self.plan, self.model)
        if not groups:
            raise PolyheadError(
                f"strategy '{self.plan.strategy}' trains no parameter; nothing to optimise"
            )
        kernel = _adamw_kernel(groups, str(self.trainer.precision))
        optimizer = torch.optim.AdamW(groups, lr=groups[0]["lr"], **kernel)
        steps = max(1, math.ceil(self.trainer.estimated_stepping_batches / self.cfg.trainer.epochs))
        self._steps_per_epoch = steps
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler(self.plan, optimizer, steps),
                "interval": "step",
            },
        }

    # ---- checkpoints ---------------------------------------------------------------------
    def fixed_keys(self) -> list[str]:
        """State-dict keys of the parameters no epoch of the plan trains (a frozen backbone,
        the lower layers under top-k, a frozen head): they equal what the model was built
        from, so a checkpoint need not carry them."""
        if self.plan is None:
            return []
        trained = self.plan.ever_trained_params
        return [f"model.{n}" for n, _ in self.model.named_parameters() if n not in trained]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The epoch count the LR schedule was built for (a resume with another one extends).
        checkpoint["polyhead_epochs"] = self.plan.epochs
        # Rewriting ~90 MB of frozen MiniLM weights each epoch dominated a cached epoch
        # (issue 4). They are left out, with a hash that resume checks against the rebuild.
        state, keys = checkpoint["state_dict"], self.fixed_keys()
        if not keys or not all(k in state for k in keys):  # sharded strategies: keep all
            return
        if self._fixed_hash is None:  # they never change, so hash once per process
            self._fixed_hash = tensors_fingerprint((k, state[k]) for k in keys)
        for k in keys:
            del state[k]
        checkpoint["polyhead_fixed"] = {"keys": keys, "sha256": self._fixed_hash}

    def on_train_start(self) -> None:
        if self._extended:
            self._fresh_schedule()

    def _fresh_schedule(self) -> None:
        """The checkpoint's schedule ends (at LR 0) where the old epoch count did: give every
        group a fresh one over the steps now left, and the LR it prescribes for this step."""
        sched, step = self.lr_schedulers(), self.global_step
        sched.lr_lambdas = fresh_schedules(self.plan, self._steps_per_epoch, step)
        groups = sched.optimizer.param_groups
        for group, base, fn in zip(groups, sched.base_lrs, sched.lr_lambdas, strict=True):
            group["lr"] = base * fn(step)
        sched._last_lr = [g["lr"] for g in groups]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._extended = checkpoint.get("polyhead_epochs", self.plan.epochs) != self.plan.epochs
        fixed = checkpoint.get("polyhead_fixed")
        if not fixed:
            return
        own = self.state_dict()
        missing = [k for k in fixed["keys"] if k not in own]
        if missing or tensors_fingerprint((k, own[k]) for k in fixed["keys"]) != fixed["sha256"]:
            raise PolyheadError(
                f"{self.trainer.ckpt_path or 'checkpoint'}: its frozen weights are rebuilt "
                "from model.backbone, but the "
                "weights there now differ from the ones the run started from "
                f"({'missing ' + missing[0] if missing else 'hash mismatch'}); "
                "resume with the same model.backbone"
            )
        checkpoint["state_dict"].update({k: own[k] for k in fixed["keys"]})

    # ---- validation / test -----------------------------------------------------------------
    def _start(self, split: str) -> None:
        self._collector = PredictionCollector(
            self.sources,
            self.kinds,
            self.label_sets,
            split,
            self.model.crf_heads(),
            output_heads(self.model),
        )
        if split == "dev":  # multilabel thresholds are chosen on dev, each validation
            self._collector.thresholds = {}
        self._pairs = PairCollector(self.pair_sources.values(), split)

    def _metrics(self) -> dict:
        if self.trainer.world_size > 1:  # DDP: every process scores all examples, once each
            self._collector.gather()
            self._pairs.gather()
        pairs = self._pairs
        return self._collector.metrics(self.weights, pairs.metrics(), pairs.main_metrics())

    def _step(self, batch) -> None:
        if is_pair_batch(batch):
            self._pairs.add(batch, side_embeddings(self.model, batch))
            return
        out = self._forward(batch, self._collector.split)
        self._collector.add(batch, out.logits, out.embedding)
        if out.loss is not None:
            self.log(
                "val/loss",
                out.loss,
                batch_size=batch["input_ids"].shape[0],
                # one key per source (val/loss/dataloader_idx_i): Lightning refuses one key
                # logged from several dataloaders; a single source keeps plain val/loss
            )

    def on_validation_epoch_start(self) -> None:
        self._prepare_cache("dev")
        self._start("dev")

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self._step(batch)

    def on_validation_epoch_end(self) -> None:
        metrics = self._metrics()
        set_thresholds(self.model, self._collector.thresholds or {})  # saved with the heads
        self.last_metrics = metrics
        # For this epoch's history line; here, not at epoch start: Lightning skips
        # on_train_epoch_start when it resumes mid-epoch.
        data = self.trainer.datamodule
        if self.trainer.state.fn == "fit" and hasattr(data, "padding_ratio"):  # padded / real
            self.history_extras["padding_ratio"] = round(data.padding_ratio(self.current_epoch), 4)
        self.log_dict(flatten(metrics, "val"), batch_size=1)

    def on_test_epoch_start(self) -> None:
        self._start(self.test_split)

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self._step(batch)

    def on_test_epoch_end(self) -> None:
        self.last_metrics = self._metrics()


def _adamw_kernel(groups: list[dict], precision: str) -> dict:
    """Fused AdamW (one kernel for all tensors) when every parameter is on CUDA or on the
    CPU, as HF Trainer's default: on the CPU the foreach form held ~45 MB more (MiniLM) and
    stepped slower (issue 14's scale benchmark). Not under mixed precision: Lightning then
    refuses gradient clipping with an optimizer that unscales in its step (fused). Foreach
    (a few batched ops instead of a Python loop per tensor) otherwise."""
    devices = {p.device.type for g in groups for p in g["params"]}
    if devices in ({"cuda"}, {"cpu"}) and "mixed" not in precision:
        return {"fused": True}
    return {"foreach": True}


def flatten(metrics: dict, prefix: str) -> dict[str, float]:
    """{"intent": {"accuracy": .9}} -> {"val/intent/accuracy": .9}; only scalar numbers."""
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, int | float):
                    flat[f"{prefix}/{key}/{sub}"] = float(v)
        elif isinstance(value, int | float):
            flat[f"{prefix}/{key}"] = float(value)
    return flat
