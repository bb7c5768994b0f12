"""Freezing strategies. Each is one small function `(groups, cfg, n_layers) -> {group: epoch}`
giving the first epoch (0-based) at which a group trains; a group it leaves out, or maps to
None, never trains. `STRATEGY_FUNCTIONS` maps the `plan.strategy` names to these functions, so a
new strategy is one function and one entry.

Rules that hold for every strategy (the pooler never trains, `plan.frozen_heads` stay
frozen, nothing starts after the last epoch) are applied once, in `build_plan`.
"""

from __future__ import annotations

from collections.abc import Callable

from polyhead.config import STRATEGIES, PlanConfig
from polyhead.errors import ConfigError
from polyhead.model.backbone import LayerGroup

StartEpochs = dict[str, int | None]
Strategy = Callable[[list[LayerGroup], PlanConfig, int], StartEpochs]


def head_names(groups: list[LayerGroup]) -> list[str]:
    return [g.name for g in groups if g.kind == "head"]


def top_down(groups: list[LayerGroup]) -> list[LayerGroup]:
    """Embeddings and blocks, highest block first (the pooler is not part of the encoder)."""
    encoder = [g for g in groups if g.kind in ("embeddings", "layer")]
    return sorted(encoder, key=lambda g: -g.depth)


def resolve_group(name: str, groups: list[LayerGroup], field: str) -> str:
    """A group name as listed, or a head's task name (`intent` for `head:intent`)."""
    names = [g.name for g in groups]
    for candidate in (name, f"head:{name}"):
        if candidate in names:
            return candidate
    raise ConfigError(field, f"unknown group {name!r}; groups are {', '.join(names)}")


def frozen(groups, cfg, n) -> StartEpochs:
    return {}


def heads(groups, cfg, n) -> StartEpochs:
    return dict.fromkeys(head_names(groups), 0)


def full(groups, cfg, n) -> StartEpochs:
    return dict.fromkeys(head_names(groups) + [g.name for g in top_down(groups)], 0)


def freeze_head(groups, cfg, n) -> StartEpochs:
    # The heads in plan.frozen_heads (PlanConfig requires one) are held frozen by build_plan,
    # as for every strategy.
    return full(groups, cfg, n)


def top_k(groups, cfg, n) -> StartEpochs:
    if cfg.k > n:  # PlanConfig requires k for top-k; the layer count comes with the model
        msg = f"must be at most {n} (the backbone has {n} layers), got {cfg.k}"
        raise ConfigError("plan.k", msg)
    # layer_i has depth i + 1, so the top k blocks are those with depth > n - k.
    top = [g.name for g in groups if g.kind == "layer" and g.depth > n - cfg.k]
    return dict.fromkeys(head_names(groups) + top, 0)


def gradual(groups, cfg, n) -> StartEpochs:
    """Heads from epoch 0; then `unfreeze_step` groups per step, top-down, down to the floor."""
    if cfg.unfreeze_floor > n:
        msg = f"must be at most {n} (0 is embeddings, {n} is layer_{n - 1})"
        raise ConfigError("plan.unfreeze_floor", f"{msg}, got {cfg.unfreeze_floor}")
    order = [g.name for g in top_down(groups) if g.depth >= cfg.unfreeze_floor]
    n_steps = -(-len(order) // cfg.unfreeze_step)  # ceil
    at = unfreeze_epochs(cfg, n_steps)
    starts: StartEpochs = dict.fromkeys(head_names(groups), 0)
    for i, name in enumerate(order):
        step = i // cfg.unfreeze_step
        starts[name] = at[step] if step < len(at) else None  # unfreeze_at ran out
    return starts


def unfreeze_epochs(cfg: PlanConfig, n_steps: int) -> list[int]:
    """The epoch of each unfreeze step: explicit `unfreeze_at`, else every `unfreeze_every`."""
    if not cfg.unfreeze_at:
        return [cfg.unfreeze_every * (j + 1) for j in range(n_steps)]
    at = list(cfg.unfreeze_at)
    if at != sorted(set(at)) or at[0] < 1:
        raise ConfigError(
            "plan.unfreeze_at",
            f"must be increasing epochs >= 1 (epoch 0 trains the heads only), got {at}",
        )
    return at


def custom(groups, cfg, n) -> StartEpochs:
    held = {resolve_group(name, groups, "plan.frozen_groups") for name in cfg.frozen_groups}
    return {name: 0 for name in full(groups, cfg, n) if name not in held}


def lora(groups, cfg, n) -> StartEpochs:
    """Backbone weights frozen; the LoRA adapters (`lora:layer_i`) and the heads train.
    `build_plan` adds the adapters to the model first (polyhead.model.lora)."""
    adapters = [g.name for g in groups if g.kind == "adapter"]
    if not adapters:
        raise ConfigError("plan.strategy", "lora: the model has no LoRA adapters")
    return dict.fromkeys(head_names(groups) + adapters, 0)


def below_floor(g: LayerGroup, cfg: PlanConfig) -> str:
    return "below plan.unfreeze_floor" if (g.depth or 0) < cfg.unfreeze_floor else ""


def held_by_custom(g: LayerGroup, cfg: PlanConfig) -> str:
    return "in plan.frozen_groups" if g.kind != "pooler" else ""


def base_weight(g: LayerGroup, cfg: PlanConfig) -> str:
    return "base weights (LoRA trains adapters)" if g.kind in ("layer", "embeddings") else ""


# Why a strategy leaves a group frozen, for the printed plan (strategies without an entry
# need none: which groups they freeze is what their name says).
FROZEN_NOTES: dict[str, Callable[[LayerGroup, PlanConfig], str]] = {
    "gradual": below_floor,
    "custom": held_by_custom,
    "lora": base_weight,
}

STRATEGY_FUNCTIONS: dict[str, Strategy] = {
    "frozen": frozen,
    "heads": heads,
    "freeze-head": freeze_head,
    "top-k": top_k,
    "full": full,
    "gradual": gradual,
    "custom": custom,
    "lora": lora,
}

# The names are declared once, in polyhead.config; this table must have one function each.
if set(STRATEGY_FUNCTIONS) != set(STRATEGIES):
    raise ImportError(f"strategy tables disagree: {set(STRATEGY_FUNCTIONS) ^ set(STRATEGIES)}")
