"""Optimizer parameter groups from the plan: one per (planned group, decay | no_decay).

Which parameters get weight decay is decided from names and shapes when the plan is built
(`no_decay_names`) and stored in it, so the optimizer groups, the LR multipliers and the
printed plan all come from one list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from polyhead.plan.plan import TrainingPlan

# Normalisation weights across families: BERT/RoBERTa/DeBERTa/MPNet "LayerNorm",
# DistilBERT "sa_layer_norm"/"output_layer_norm", others "norm.weight" / "ln_f.weight" etc.
_NO_DECAY_MARKERS = ("LayerNorm", "layer_norm", "norm.")


def decays(name: str, param: nn.Parameter) -> bool:
    """Weight decay for matrices only: biases, norm weights and any 1-D tensor are exempt."""
    exempt = name.endswith("bias") or any(m in name for m in _NO_DECAY_MARKERS)
    return param.ndim >= 2 and not exempt


def no_decay_names(names: list[str], params: dict[str, nn.Parameter]) -> list[str]:
    return [n for n in names if not decays(n, params[n])]


@dataclass
class OptimizerGroupSpec:
    name: str  # "layer_3" or "layer_3.no_decay"
    group: str  # the planned group it belongs to
    params: list[str]
    weight_decay: float


def optimizer_group_specs(plan: TrainingPlan) -> list[OptimizerGroupSpec]:
    """Every group that will ever train, from the start; empty halves are left out."""
    specs = []
    for g in plan.ever_trained:
        exempt = set(g.no_decay)
        decay = [p for p in g.params if p not in exempt]
        if decay:
            specs.append(OptimizerGroupSpec(g.name, g.name, decay, plan.weight_decay))
        if g.no_decay:
            specs.append(OptimizerGroupSpec(f"{g.name}.no_decay", g.name, list(g.no_decay), 0.0))
    return specs


def param_groups(plan: TrainingPlan, model: nn.Module) -> list[dict]:
    """torch optimizer groups: params, lr, weight_decay, name, group."""
    params = dict(model.named_parameters())
    specs = optimizer_group_specs(plan)
    missing = [p for s in specs for p in s.params if p not in params]
    if missing:
        raise ValueError(f"the plan names parameters this model lacks, e.g. {missing[:3]}")
    return [
        {
            "params": [params[p] for p in s.params],
            "lr": plan.group(s.group).lr,
            "weight_decay": s.weight_decay,
            "name": s.name,
            "group": s.group,
        }
        for s in specs
    ]


def lr_lambdas(plan: TrainingPlan, steps_per_epoch: int) -> list[Callable[[int], float]]:
    """One multiplier per optimizer group, in `param_groups` order."""
    return [plan.schedule_of(s.group, steps_per_epoch) for s in optimizer_group_specs(plan)]


def scheduler(plan: TrainingPlan, optimizer, steps_per_epoch: int) -> LambdaLR:
    lambdas = lr_lambdas(plan, steps_per_epoch)
    if len(lambdas) != len(optimizer.param_groups):
        raise ValueError(
            f"optimizer has {len(optimizer.param_groups)} parameter groups, the plan "
            f"{len(lambdas)}: build the optimizer from param_groups(plan, model)"
        )
    return LambdaLR(optimizer, lambdas)
