"""The training plan: which named groups train in which epoch, at which learning rate.

Why not Lightning's `BaseFinetuning`: it adds parameter groups to the optimizer as it
unfreezes them, so the optimizer of a resumed run has a different shape from the one that
was saved and its state no longer loads. Here every group that will ever train is in the
optimizer from the first step; a group still frozen has `requires_grad=False`, so its grads
stay None and AdamW skips it (no update, no weight decay). When it starts is driven by a
per-group LR multiplier (0 before its start epoch, then its own warmup). The freeze state
is a pure function of the epoch, so a resumed run rebuilds it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from polyhead.plan.schedule import GroupSchedule


@dataclass
class PlannedGroup:
    name: str
    kind: str  # "embeddings" | "layer" | "pooler" | "head" | "adapter" (LoRA)
    depth: int | None  # embeddings 0, layer_i i + 1; pooler and heads None
    params: list[str]  # full parameter names, as in model.named_parameters()
    n_params: int
    lr: float  # planned peak LR; 0.0 for a group that never trains
    start_epoch: int | None  # first epoch (0-based) it trains; None = never
    module_names: list[str]  # outermost modules holding exactly these parameters
    note: str = ""
    no_decay: list[str] = field(default_factory=list)  # the params that get no weight decay

    def trains_at(self, epoch: int) -> bool:
        return self.start_epoch is not None and self.start_epoch <= epoch


@dataclass
class Phase:
    """Consecutive epochs with the same trainable groups."""

    start_epoch: int
    end_epoch: int  # inclusive
    trainable: list[str]

    @property
    def label(self) -> str:
        if self.start_epoch == self.end_epoch:
            return f"epoch {self.start_epoch}"
        return f"epochs {self.start_epoch}-{self.end_epoch}"


@dataclass
class TrainingPlan:
    """Groups in display order: heads, blocks top-down, embeddings, pooler."""

    strategy: str
    epochs: int
    groups: list[PlannedGroup]
    weight_decay: float
    warmup_ratio: float
    schedule: str
    # Losses on the pooled output with no group of their own (embedding tasks), one line each.
    losses: list[str] = field(default_factory=list)
    _by_name: dict[str, PlannedGroup] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name = {g.name: g for g in self.groups}

    def group(self, name: str) -> PlannedGroup:
        if name not in self._by_name:
            raise KeyError(f"no group {name!r}; groups are {', '.join(self._by_name)}")
        return self._by_name[name]

    @property
    def trains_anything(self) -> bool:
        return any(g.start_epoch is not None for g in self.groups)

    @property
    def ever_trained(self) -> list[PlannedGroup]:
        return [g for g in self.groups if g.start_epoch is not None]

    @property
    def ever_trained_params(self) -> set[str]:
        """Names of the parameters some epoch trains; every other one keeps its start value."""
        return {p for g in self.ever_trained for p in g.params}

    @property
    def trains_backbone(self) -> bool:
        return any(p.startswith("backbone.") for p in self.ever_trained_params)

    # ---- freezing ------------------------------------------------------------------------
    def trainable(self, epoch: int) -> list[str]:
        return [g.name for g in self.groups if g.trains_at(epoch)]

    def phases(self) -> list[Phase]:
        phases: list[Phase] = []
        for epoch in range(self.epochs):
            names = self.trainable(epoch)
            if phases and phases[-1].trainable == names:
                phases[-1].end_epoch = epoch
            else:
                phases.append(Phase(epoch, epoch, names))
        return phases

    def apply(self, model: nn.Module, epoch: int) -> list[str]:
        """Set requires_grad exactly as planned for `epoch` (parameters outside every group
        are frozen too); return the groups that train now but did not in `epoch - 1`."""
        on = {p for g in self.groups if g.trains_at(epoch) for p in g.params}
        for name, param in model.named_parameters():
            param.requires_grad_(name in on)
        before = set(self.trainable(epoch - 1))
        return [name for name in self.trainable(epoch) if name not in before]

    def set_frozen_eval(self, model: nn.Module, epoch: int) -> None:
        """Training groups in train mode, frozen groups' modules in eval mode, so dropout
        acts exactly where weights learn.

        The whole model goes to train mode first: Lightning 2.6 restores the mode a module
        had when `fit` began, and a backbone loaded with `from_pretrained` is in eval mode,
        so without this the backbone's dropout never acted."""
        model.train()
        for g in self.groups:
            if not g.trains_at(epoch):
                for module_name in g.module_names:
                    model.get_submodule(module_name).eval()

    # ---- schedule ------------------------------------------------------------------------
    def schedule_of(self, group_name: str, steps_per_epoch: int) -> GroupSchedule:
        start = self.group(group_name).start_epoch
        return GroupSchedule.for_group(
            start, self.epochs, steps_per_epoch, self.warmup_ratio, self.schedule
        )

    def lr_at(self, group_name: str, step: int, steps_per_epoch: int) -> float:
        return self.group(group_name).lr * self.schedule_of(group_name, steps_per_epoch)(step)
