"""MultiTaskModel: one backbone, one pooling, many named heads, one forward pass."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn

from polyhead.data.align import IGNORE_INDEX
from polyhead.errors import ConfigError, PolyheadError
from polyhead.model import lora
from polyhead.model.artifact import META_FILE, check_files, read_meta, save_artifact
from polyhead.model.backbone import (
    LayerGroup,
    backbone_layer_groups,
    load_backbone,
    position_limit,
)
from polyhead.model.crf import compact
from polyhead.model.heads import HeadsPart, load_heads
from polyhead.model.kinds import build_task_head
from polyhead.model.parts import load_parts
from polyhead.model.pooling import Pooling
from polyhead.model.spec import ModelSpec

log = logging.getLogger("polyhead")


@dataclass
class MultiTaskOutput:
    embedding: torch.Tensor  # (B, H), normalised when the spec says so
    logits: dict[str, torch.Tensor]  # sentence: (B, L); token: (B, T, L)
    loss: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


def combine_layers(hidden_states, last_n: int, combine: str) -> torch.Tensor:
    """The last `last_n` of (N + 1) x (B, T, H) hidden states -> (B, T, H) mean or (B, T, n*H)."""
    chosen = hidden_states[-last_n:]
    return torch.cat(chosen, dim=-1) if combine == "concat" else torch.stack(chosen).mean(0)


def _check_layers(last_n: int, config) -> None:
    n = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None) or 0
    if last_n > n:
        raise ConfigError("features.layers", f"last_n must be at most {n} (the backbone's layers)")


class MultiTaskModel(nn.Module):
    """A backbone plus named heads. `spec` is the only description needed to rebuild it."""

    def __init__(self, spec: ModelSpec, backbone=None, tokenizer=None):
        super().__init__()
        if backbone is None:
            backbone, tokenizer = load_backbone(
                spec.backbone,
                hidden_dropout=spec.hidden_dropout,
                attention_dropout=spec.attention_dropout,
                trust_remote_code=spec.trust_remote_code,
            )
        limit = position_limit(backbone.config)
        if limit is not None and spec.max_length > limit:
            raise ConfigError(
                "model.max_length",
                f"{spec.max_length} is above the backbone's {limit} positions; use at most {limit}",
            )
        self.spec = spec
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.artifact_meta: dict = {}  # polyhead.json of the artifact this model was loaded from
        self.pooling = Pooling(spec.pooling, spec.normalize)
        hidden = backbone.config.hidden_size if hasattr(backbone.config, "hidden_size") else None
        hidden = hidden or backbone.config.dim
        _check_layers(spec.layers.last_n, backbone.config)
        hidden = spec.layers.width(hidden)  # the feature size heads and embeddings see
        self.hidden_size = hidden
        self.heads = nn.ModuleDict({t.name: build_task_head(t, hidden) for t in spec.tasks})
        # Set by the frozen-feature path: task -> callable(features) -> logits (not nn params).
        self.external_heads: dict[str, nn.Module] = {}

    # ---- forward -------------------------------------------------------------------------
    def backbone_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keys = ("input_ids", "attention_mask", "token_type_ids")
        return {k: batch[k] for k in keys if k in batch and self._accepts(k)}

    def _accepts(self, key: str) -> bool:
        # DistilBERT and some others take no token_type_ids.
        if key != "token_type_ids":
            return True
        return getattr(self.backbone.config, "type_vocab_size", 0) > 0 and (
            self.backbone.config.model_type not in ("distilbert", "roberta", "mpnet")
        )

    def features(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The features dict: token_embeddings (B, T, H), pooled (B, H), embedding (B, H);
        H is `hidden_size` (the backbone's, times n for `last<n>_concat` layers)."""
        n = self.spec.layers.last_n
        extra = {"output_hidden_states": True} if n > 1 else {}
        out = self.backbone(**self.backbone_inputs(batch), **extra)
        if n == 1:
            hidden = out.last_hidden_state
        else:
            hidden = combine_layers(out.hidden_states, n, self.spec.layers.combine)
        return self.features_from_hidden(hidden, batch["attention_mask"])

    def features_from_hidden(self, hidden: torch.Tensor, attention_mask: torch.Tensor):
        pooled = self.pooling.pool(hidden, attention_mask)  # (B, H)
        return {
            "token_embeddings": hidden,
            "attention_mask": attention_mask,
            "pooled": pooled,
            "embedding": self.pooling.finish(pooled),
        }

    def head_logits(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = {name: head(features) for name, head in self.heads.items()}
        for name, ext in self.external_heads.items():
            logits[name] = ext(features)
        return logits

    def forward(self, batch: dict[str, torch.Tensor]) -> MultiTaskOutput:
        """`batch` holds tokenizer outputs and optional `labels.<task>` tensors."""
        feats = self.features(batch)
        return self.output_from_features(feats, batch)

    def output_from_features(self, feats, batch) -> MultiTaskOutput:
        logits = self.head_logits(feats)
        losses = self.task_losses(logits, batch)
        total = None
        if losses:
            weights = {t.name: t.loss_weight for t in self.spec.tasks}
            total = sum(weights.get(n, 1.0) * loss for n, loss in losses.items())
        return MultiTaskOutput(feats["embedding"], logits, total, losses)

    def task_losses(self, logits, batch) -> dict[str, torch.Tensor]:
        """Loss only for tasks whose labels are in the batch and not all ignored."""
        losses = {}
        for name, lg in logits.items():
            labels = batch.get(f"labels.{name}")
            own_loss = getattr(self.heads[name], "loss", None) if name in self.heads else None
            if labels is not None and own_loss is not None:  # multilabel / regression heads
                loss = own_loss(lg, labels)  # None where no row labels the task
                if loss is not None:
                    losses[name] = loss
                continue
            if labels is None or not (labels != IGNORE_INDEX).any():
                continue
            losses[name] = self._task_loss(name, lg, labels)
        return losses

    def _task_loss(self, name: str, lg: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """CRF negative log-likelihood for CRF heads; else cross-entropy with the task's
        label smoothing and class weights."""
        crf = getattr(self.heads[name], "crf", None) if name in self.heads else None
        if crf is not None:
            emissions, mask = compact(lg, labels != IGNORE_INDEX)  # (B, W, L), (B, W)
            tags, _ = compact(labels, labels != IGNORE_INDEX)  # (B, W)
            return crf.nll(emissions, tags, mask)
        spec = next((t for t in self.spec.tasks if t.name == name), None)
        weight = None
        if spec is not None and spec.class_weights is not None:
            weight = torch.tensor(spec.class_weights, dtype=torch.float32, device=lg.device)
        return F.cross_entropy(
            lg.reshape(-1, lg.shape[-1]).float(),
            labels.reshape(-1),
            weight=weight,
            ignore_index=IGNORE_INDEX,
            label_smoothing=spec.label_smoothing if spec is not None else 0.0,
        )

    def crf_heads(self) -> dict:
        """task -> CRF, for the token heads that decode with Viterbi."""
        return {n: h.crf for n, h in self.heads.items() if getattr(h, "crf", None) is not None}

    # ---- structure -----------------------------------------------------------------------
    def layer_groups(self) -> list[LayerGroup]:
        """Backbone groups bottom-up (plus `lora:layer_i` adapter groups when the backbone has
        LoRA adapters), then one group per head (`head:<task>`)."""
        if lora.has_adapters(self.backbone):
            groups = lora.adapter_layer_groups(self.backbone)
        else:
            groups = backbone_layer_groups(self.backbone)
        for name, head in self.heads.items():
            params = [f"heads.{name}.{p}" for p, _ in head.named_parameters()]
            groups.append(LayerGroup(f"head:{name}", "head", params))
        return groups

    @property
    def num_layers(self) -> int:
        return sum(1 for g in self.layer_groups() if g.kind == "layer")

    # ---- LoRA adapters -------------------------------------------------------------------
    def merge_adapters(self) -> bool:
        """Fold LoRA adapters into the backbone weights (PEFT merge_and_unload); True if the
        backbone had adapters. Afterwards the backbone is a plain HF model again."""
        return lora.merge_adapters(self)

    def export_backbone(self):
        """The backbone the artifact writes as `backbone/` (without LoRA: the base weights)."""
        return lora.export_backbone(self.backbone)

    # ---- persistence ---------------------------------------------------------------------
    def save(self, path, extra: dict | None = None, reuse_backbone: Path | None = None) -> Path:
        return save_artifact(self, path, extra=extra, reuse_backbone=reuse_backbone)

    @classmethod
    def load(
        cls,
        path,
        device: str | None = None,
        trust_remote_code: bool = False,
        verify: bool = True,
    ) -> MultiTaskModel:
        """An artifact folder -> the model, in eval mode. `verify` checks each file's sha256."""
        path = Path(path)
        meta = read_meta(path)
        check_files(path, meta, verify)
        spec = _spec_from(meta, path)
        backbone, tokenizer = load_backbone(
            str(path / "backbone"), trust_remote_code=trust_remote_code
        )
        model = cls(spec, backbone=backbone, tokenizer=tokenizer)
        load_parts(model, path, meta)
        model.artifact_meta = meta
        model.eval()
        return model.to(device) if device else model

    def continue_from(self, artifact) -> list[str]:
        """Start training from a trained artifact (`model.backbone: RUN/model`): this model was
        built on its `backbone/`; add its LoRA adapters merged, and load every head whose task
        name, kind and labels match. Returns the tasks whose heads were loaded."""
        artifact = Path(artifact)
        meta = read_meta(artifact)
        lora.restore_adapters(self, artifact)
        lora.merge_adapters(self)
        saved = {t["name"]: t for t in meta["spec"]["tasks"]}
        same = [
            t.name
            for t in self.spec.tasks
            if t.name in saved
            and (saved[t.name]["kind"], saved[t.name]["labels"]) == (t.kind, t.labels)
        ]
        loaded = load_heads(self.heads, artifact / HeadsPart.FILE, only=same)
        fresh = [t.name for t in self.spec.tasks if t.name not in loaded]
        log.info(
            "starting from %s: heads %s loaded%s",
            artifact,
            loaded or "none",
            f"; {fresh} start fresh (new task, or other labels)" if fresh else "",
        )
        return loaded


def _spec_from(meta: dict, path: Path) -> ModelSpec:
    try:
        return ModelSpec.model_validate(meta["spec"])
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        got = f"got {err['input']!r}; " if not isinstance(err.get("input"), dict | list) else ""
        raise PolyheadError(f"{path / META_FILE}: spec.{where}: {got}{err['msg']}") from None
