"""BackboneCache: backbone outputs for the training loop, from the on-disk cache, while the
backbone or its lower part is frozen.

Per epoch the plan says which backbone groups train; from that follows a *boundary*:

- nothing in the backbone trains (`frozen`, `heads`, the heads-only epochs of `gradual`,
  `top-k` with k = 0): boundary = N, the final features (pooled vectors and, when a token task
  exists, per-token states) are read from the cache and only the heads run;
- blocks from `layer_b` up train, everything below is frozen (`top-k`, later epochs of
  `gradual`, `custom`): the input of block b is read from the cache and only blocks b..N-1
  run. When the boundary moves down, the new one is computed once from the embeddings;
- the embeddings or layer_0 train (`full`, ...): no cache, the full pass runs.

Dropout: frozen layers run in eval mode whether cached or not (the plan keeps frozen groups in
eval mode), so cached states equal what the uncached run computes; dropout acts in the
trainable part only. Cache keys are computed from the weights before any training step: the
layers below a boundary never train, so those weights are still the ones hashed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from polyhead.features.extract import (
    boundary_mismatch,
    boundary_support,
    fill_boundary,
    fill_features,
    token_offsets,
    upper_features,
)
from polyhead.features.keys import (
    backbone_fingerprint,
    data_files,
    data_fingerprint,
    entry_key,
    rows_fingerprint,
    tokenizer_fingerprint,
)
from polyhead.features.store import FeatureStore, cache_root
from polyhead.model.backbone import block_list

log = logging.getLogger("polyhead")


def backbone_boundary(plan, epoch: int, n_layers: int) -> int | None:
    """N when no backbone weight trains at `epoch`; b when blocks >= b may train and all below
    are frozen (b >= 1); None when the embeddings, layer_0 or an unplaced group train."""
    depths = [
        g.depth if g.kind in ("embeddings", "layer") else None
        for g in plan.groups
        if g.trains_at(epoch) and any(p.startswith("backbone.") for p in g.params)
    ]
    if not depths:
        return n_layers
    if None in depths or min(depths) < 2:
        return None
    return min(depths) - 1  # layer_i has depth i + 1; its input is hidden_states[i]


def plan_uses_cache(plan, n_layers: int) -> bool:
    return any(backbone_boundary(plan, e, n_layers) is not None for e in range(plan.epochs))


class BackboneCache:
    """`features(model, batch, split, epoch)` -> the features dict, or None for a full pass."""

    def __init__(self, model, plan, data, cfg, store: FeatureStore | None = None):
        c = cfg.features.cache
        self.plan, self.data = plan, data
        self.store = store or FeatureStore(cache_root(c.dir) if c.enabled else None)
        self.dtype, self.boundary_on = c.dtype, c.boundary
        self.n_layers = len(block_list(model.backbone)[1])
        self.pad_id = data.tokenizer.pad_token_id or 0
        self.batch_size = cfg.trainer.eval_batch_size
        self.with_tokens = any(t.kind == "token" for t in model.spec.tasks)
        self.build_seconds = 0.0
        self._entries: dict[tuple, dict[str, np.ndarray]] = {}
        self._boundary_off: dict[int, str | None] = {}
        self.fixed = self._fixed_parts(model)

    def _fixed_parts(self, model) -> dict:
        import transformers

        if hasattr(model.backbone, "peft_config"):
            self._boundary_off = dict.fromkeys(range(self.n_layers), "backbone has adapters")
        return {
            "backbone": backbone_fingerprint(model.backbone),
            "family": getattr(model.backbone.config, "model_type", "?"),
            "tokenizer": tokenizer_fingerprint(model.tokenizer),
            "max_length": model.spec.max_length,
            "dtype": self.dtype,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }

    # ---- which part of the backbone runs -------------------------------------------------
    def boundary(self, model, epoch: int) -> int | None:
        b = backbone_boundary(self.plan, epoch, self.n_layers)
        if b is None or b == self.n_layers:
            return b
        if not self.boundary_on:
            return None
        if b not in self._boundary_off:
            reason = boundary_support(model, b) or boundary_mismatch(
                model, self._probe_rows(), b, self.pad_id
            )
            if reason:
                log.info("boundary cache at layer_%d off: %s; running the full backbone", b, reason)
            self._boundary_off[b] = reason
        return None if self._boundary_off[b] else b

    def _probe_rows(self) -> list[dict]:
        return next(rows for rows in self.data.rows("train") if rows)

    # ---- features for a batch ------------------------------------------------------------
    def features(self, model, batch, split: str, epoch: int) -> dict | None:
        b = self.boundary(model, epoch)
        if b is None:
            return None
        where = list(zip(batch["source"].tolist(), batch["row"].tolist(), strict=True))
        entries = {s: self.entry(model, b, split, s) for s, _ in where}
        width = batch["input_ids"].shape[1]
        device = batch["input_ids"].device
        if b < self.n_layers:
            states = _padded_tokens(entries, where, width).to(device)  # (B, T, H)
            return upper_features(model, batch, b, states)
        pooled = np.stack([entries[s]["pooled"][i] for s, i in where]).astype(np.float32)
        pooled = torch.from_numpy(pooled).to(device)  # (B, F)
        tokens = _padded_tokens(entries, where, width).to(device) if self.with_tokens else None
        return {
            "token_embeddings": tokens,
            "attention_mask": batch["attention_mask"],
            "pooled": pooled,
            "embedding": model.pooling.finish(pooled),
        }

    def prepare(self, model, split: str, epoch: int) -> None:
        """Open (or build) every entry `split` needs at `epoch`, before its first batch."""
        b = self.boundary(model, epoch)
        if b is None:
            return
        for source, rows in enumerate(self.data.rows(split)):
            if rows:
                self.entry(model, b, split, source)

    # ---- entries -------------------------------------------------------------------------
    def entry(self, model, boundary: int, split: str, source: int) -> dict[str, np.ndarray]:
        """The cached arrays for one data source's split, built on first use."""
        key = (boundary, split, source)
        if key not in self._entries:
            start = time.perf_counter()
            self._entries[key] = self._get(model, boundary, split, source)
            self.build_seconds += time.perf_counter() - start
        return self._entries[key]

    def key_parts(self, model, boundary: int, split: str, source: int) -> dict:
        """Everything the cached arrays of one source's split depend on."""
        src = self.data.sources[source]
        rows = self.data.rows(split)[source]
        final = boundary == self.n_layers
        parts = {
            **self.fixed,
            "kind": "features" if final else "boundary",
            "split": split,
            "data": data_fingerprint(src.config, split),
            "rows": rows_fingerprint(rows),
            "n_rows": len(rows),
        }
        if final:
            parts.update(
                layers=model.spec.layers.model_dump(),
                pooling=model.spec.pooling,
                tokens=self.with_tokens,
            )
        else:
            parts["boundary"] = boundary
        return parts

    def _get(self, model, boundary: int, split: str, source: int) -> dict[str, np.ndarray]:
        src = self.data.sources[source]
        rows = self.data.rows(split)[source]
        final = boundary == self.n_layers
        parts = self.key_parts(model, boundary, split, source)
        specs = self._specs(model, rows, final)
        what = "features" if final else f"input of layer_{boundary}"
        describe = {
            "backbone": Path(model.spec.backbone).name,
            "data": ", ".join(p.name for p in data_files(src.config, split)) or "-",
            "split": split,
            "examples": len(rows),
            "what": what + ("" if not final else f" ({_layers_text(model)})"),
            "dtype": self.dtype,
        }

        def build(arrays):
            log.info("feature cache: computing %s for %d %s examples", what, len(rows), split)
            if final:
                fill_features(model, rows, arrays, self.pad_id, self.batch_size)
            else:
                fill_boundary(model, rows, arrays, boundary, self.pad_id, self.batch_size)

        return self.store.get(entry_key(parts), parts["kind"], describe, specs, build, parts)

    def _specs(self, model, rows, final: bool) -> dict:
        n_tokens = int(token_offsets(rows)[-1])
        n = len(rows)
        token_specs = {"offsets": ((n + 1,), "int64")}
        if final:
            specs = {"pooled": ((n, model.hidden_size), self.dtype)}
            if self.with_tokens:
                specs.update(token_specs, tokens=((n_tokens, model.hidden_size), self.dtype))
            return specs
        config = model.backbone.config
        hidden = getattr(config, "hidden_size", None) or config.dim  # DistilBERT says `dim`
        return {**token_specs, "tokens": ((n_tokens, hidden), self.dtype)}


def _layers_text(model) -> str:
    sel = model.spec.layers
    return "last layer" if sel.last_n == 1 else f"last {sel.last_n} layers, {sel.combine}"


def _padded_tokens(entries, where, width: int) -> torch.Tensor:
    """(B, T, F) float32: each row's cached token states, zero-padded to the batch width."""
    first = entries[where[0][0]]["tokens"]
    out = np.zeros((len(where), width, first.shape[1]), dtype=np.float32)
    for j, (s, i) in enumerate(where):
        tokens, offsets = entries[s]["tokens"], entries[s]["offsets"]
        out[j, : offsets[i + 1] - offsets[i]] = tokens[offsets[i] : offsets[i + 1]]
    return torch.from_numpy(out)


def backbone_cache(model, plan, data, cfg) -> BackboneCache | None:
    """The feature source for a training run, or None when no epoch could use the cache."""
    if not cfg.features.cache.enabled:
        return None
    try:
        n_layers = len(block_list(model.backbone)[1])
    except ValueError as e:
        log.info("feature cache off: %s", e)
        return None
    if not plan_uses_cache(plan, n_layers):
        return None
    return BackboneCache(model, plan, data, cfg)
