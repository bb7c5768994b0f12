"""Computing what the cache stores: final features, or hidden states at a frozen boundary.

Running part of an HF encoder. Every family has its own attention-mask format (BERT's
extended mask, DeBERTa's relative positions, MPNet's position bias) and builds it inside
`backbone.forward`. Rather than re-implementing that per family, the backbone runs as usual
with its list of blocks swapped for a slice of it, and (for the upper part) its embeddings
module returning the cached states: the family's own forward then builds the masks, so one
mechanism serves all five families. `boundary_mismatch` checks once, on real rows, that
lower + upper reproduce the full pass; a family where they do not (e.g. DeBERTa-v2 models
with a convolution after the first block) falls back to the full pass with that reason.

Frozen layers always run in eval mode here, matching training, where frozen groups are kept
in eval mode so dropout acts only where weights learn.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from polyhead.data.rows import model_inputs
from polyhead.model.backbone import block_list


def token_offsets(rows: list[dict]) -> np.ndarray:
    """(N + 1,) start of each row's tokens in the flattened token array."""
    lengths = np.array([len(r["input_ids"]) for r in rows], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)])


def _length_sorted(rows: list[dict], batch_size: int):
    order = np.argsort([-len(r["input_ids"]) for r in rows], kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _collate(rows, idx, pad_id: int, device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in model_inputs(rows, idx, pad_id).items()}


def _store_tokens(arrays, offsets, idx, states: torch.Tensor) -> None:
    """Row i's unpadded states (L_i, F) into tokens[offsets[i]:offsets[i + 1]]."""
    states = states.float().cpu().numpy()  # (B, T, F)
    for j, i in enumerate(idx):
        n = offsets[i + 1] - offsets[i]
        arrays["tokens"][offsets[i] : offsets[i + 1]] = states[j, :n]


@contextmanager
def eval_mode(model):
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


@torch.inference_mode()
def fill_features(model, rows, arrays, pad_id: int, batch_size: int = 128) -> None:
    """`pooled` (N, F) and, when asked for, `tokens` (S, F) at `offsets`: the model's features."""
    device = next(model.parameters()).device
    offsets = token_offsets(rows)
    if "offsets" in arrays:
        arrays["offsets"][:] = offsets
    with eval_mode(model):
        for idx in _length_sorted(rows, batch_size):
            feats = model.features(_collate(rows, idx, pad_id, device))
            arrays["pooled"][idx] = feats["pooled"].float().cpu().numpy()  # (B, F)
            if "tokens" in arrays:
                _store_tokens(arrays, offsets, idx, feats["token_embeddings"])


@contextmanager
def only_layers(backbone, start: int, stop: int, states: torch.Tensor | None = None):
    """Within the block, `backbone(...)` runs blocks[start:stop] only; with `states`, its
    embeddings module returns them instead of embedding the input ids."""
    name, blocks = block_list(backbone)
    parent_name, _, attr = name.rpartition(".")
    parent = backbone.get_submodule(parent_name) if parent_name else backbone
    embeddings = backbone.embeddings if states is not None else None
    setattr(parent, attr, blocks[start:stop])
    if embeddings is not None:
        embeddings.forward = lambda *args, **kwargs: states
    try:
        yield
    finally:
        setattr(parent, attr, blocks)
        if embeddings is not None:
            del embeddings.forward  # back to the class's forward


@torch.inference_mode()
def fill_boundary(model, rows, arrays, boundary: int, pad_id: int, batch_size: int = 128):
    """`tokens` (S, H): the input of block `boundary` (= hidden_states[boundary]) per token."""
    device = next(model.parameters()).device
    offsets = token_offsets(rows)
    arrays["offsets"][:] = offsets
    backbone = model.backbone
    with eval_mode(model), only_layers(backbone, 0, boundary):
        for idx in _length_sorted(rows, batch_size):
            batch = _collate(rows, idx, pad_id, device)
            states = backbone(**model.backbone_inputs(batch)).last_hidden_state  # (B, T, H)
            _store_tokens(arrays, offsets, idx, states)


def upper_features(model, batch, boundary: int, states: torch.Tensor) -> dict:
    """The features dict from cached boundary states (B, T, H): only blocks >= boundary run."""
    n = len(block_list(model.backbone)[1])
    with only_layers(model.backbone, boundary, n, states):
        return model.features(batch)


def boundary_support(model, boundary: int) -> str | None:
    """Why boundary caching cannot run at `boundary`, or None; structural checks only."""
    if not hasattr(model.backbone, "embeddings"):
        return f"{type(model.backbone).__name__} has no `embeddings` module to stand in for"
    try:
        n = len(block_list(model.backbone)[1])
    except ValueError as e:
        return str(e)
    last_n = model.spec.layers.last_n
    if last_n > n - boundary + 1:
        return f"the feature layers (last {last_n}) reach below the boundary at layer {boundary}"
    return None


@torch.inference_mode()
def boundary_mismatch(model, rows, boundary: int, pad_id: int) -> str | None:
    """Run lower and upper parts separately on a few real rows and compare with the full
    pass; a reason string if they differ (or fail), else None."""
    device = next(model.parameters()).device
    backbone = model.backbone
    with eval_mode(model):
        batch = _collate(rows, list(range(min(8, len(rows)))), pad_id, device)
        inputs = model.backbone_inputs(batch)
        mask = batch["attention_mask"].bool()  # (B, T): compare real tokens only
        try:
            full = backbone(**inputs, output_hidden_states=True)
            reference = model.features(batch)["token_embeddings"]
            with only_layers(backbone, 0, boundary):
                lower = backbone(**inputs).last_hidden_state
            upper = upper_features(model, batch, boundary, lower)["token_embeddings"]
            err_lower = float((lower - full.hidden_states[boundary])[mask].abs().max())
            err_upper = float((upper - reference)[mask].abs().max())
        except Exception as e:  # noqa: BLE001 - any failure means: use the full pass
            return f"running the layers separately failed ({type(e).__name__}: {e})"
    tol = 1e-4 * (1.0 + float(reference[mask].abs().max()))
    if max(err_lower, err_upper) > tol:
        family = getattr(backbone.config, "model_type", "?")
        return (
            f"{family}: layers run separately differ from the full pass "
            f"(max |diff| {max(err_lower, err_upper):.2e} > {tol:.1e})"
        )
    return None
