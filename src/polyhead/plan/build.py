"""build_plan: the model's layer groups + PlanConfig + epochs -> TrainingPlan.

Learning rates: heads get `head_lr`; block i of N gets `backbone_lr * layer_decay**(N-1-i)`
and the embeddings one step below the lowest block, `backbone_lr * layer_decay**N`. With
depth = i + 1 for blocks and 0 for embeddings both are `backbone_lr * layer_decay**(N - depth)`.
"""

from __future__ import annotations

from torch import nn

from polyhead.config import PlanConfig
from polyhead.errors import ConfigError
from polyhead.model.backbone import LayerGroup
from polyhead.model.lora import add_adapters
from polyhead.plan.optim import no_decay_names
from polyhead.plan.plan import PlannedGroup, TrainingPlan
from polyhead.plan.strategies import (
    FROZEN_NOTES,
    STRATEGY_FUNCTIONS,
    StartEpochs,
    resolve_group,
)


def build_plan(model: nn.Module, cfg: PlanConfig, epochs: int) -> TrainingPlan:
    """Strategy `lora` first adds LoRA adapters to the model (once; see polyhead.model.lora),
    so that their groups, parameters and optimizer entries exist when the plan is built."""
    if epochs < 1:
        raise ConfigError("trainer.epochs", f"must be at least 1, got {epochs}")
    if cfg.strategy == "lora":
        add_adapters(model, cfg.lora)
    groups = model.layer_groups()
    n_layers = sum(1 for g in groups if g.kind == "layer")
    starts = STRATEGY_FUNCTIONS[cfg.strategy](groups, cfg, n_layers)
    heads = [g for g in groups if g.kind == "head"]
    held = {resolve_group(h, heads, "plan.frozen_heads") for h in cfg.frozen_heads}
    params = dict(model.named_parameters())
    modules = module_param_sets(model)
    planned = []
    for g in display_order(groups):
        start, note = start_and_note(g, starts, held, epochs)
        if start is None and not note and cfg.strategy in FROZEN_NOTES:
            note = FROZEN_NOTES[cfg.strategy](g, cfg)
        planned.append(
            PlannedGroup(
                name=g.name,
                kind=g.kind,
                depth=g.depth,
                params=list(g.params),
                n_params=sum(params[p].numel() for p in g.params),
                lr=0.0 if start is None else peak_lr(g, cfg, n_layers),
                start_epoch=start,
                module_names=covering_modules(modules, set(g.params)),
                note=note,
                no_decay=no_decay_names(g.params, params),
            )
        )
    return TrainingPlan(
        cfg.strategy, epochs, planned, cfg.weight_decay, cfg.warmup_ratio, cfg.schedule
    )


def display_order(groups: list[LayerGroup]) -> list[LayerGroup]:
    """Top of the network first: heads, LoRA adapters and blocks top-down, embeddings, then
    the pooler."""
    rank = {"head": 0, "adapter": 1, "layer": 2, "embeddings": 3, "pooler": 4}
    return sorted(groups, key=lambda g: (rank[g.kind], -(g.depth or 0)))  # sort is stable


def start_and_note(
    g: LayerGroup, starts: StartEpochs, held: set[str], epochs: int
) -> tuple[int | None, str]:
    """The rules every strategy shares, each with the note that explains a frozen group."""
    if g.kind == "pooler":
        return None, "unused by polyhead pooling"
    if g.name in held:
        return None, "in plan.frozen_heads"
    start = starts.get(g.name)
    if start is not None and start >= epochs:
        return None, f"would unfreeze at epoch {start}, after the last epoch ({epochs - 1})"
    return start, ""


def peak_lr(g: LayerGroup, cfg: PlanConfig, n_layers: int) -> float:
    if g.kind == "head":
        return cfg.head_lr
    if g.kind == "adapter":  # one LR for every adapter: no layer decay
        return cfg.lora_lr or cfg.backbone_lr
    return cfg.backbone_lr * cfg.layer_decay ** (n_layers - g.depth)


def module_param_sets(model: nn.Module) -> dict[str, frozenset[str]]:
    """Every submodule (not the root) -> the full names of all parameters under it."""
    return {
        name: frozenset(f"{name}.{p}" for p, _ in module.named_parameters())
        for name, module in model.named_modules()
        if name
    }


def covering_modules(modules: dict[str, frozenset[str]], params: set[str]) -> list[str]:
    """The outermost modules whose parameters all belong to `params`: switching these to
    eval mode turns off dropout in the group and nowhere else."""
    inside = {name for name, owned in modules.items() if owned and owned <= params}
    # A module's ancestors hold supersets of its parameters, so checking the parent suffices.
    return [name for name in inside if name.rpartition(".")[0] not in inside]
