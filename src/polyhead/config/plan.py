"""`plan:`: the training strategy and its learning rates (polyhead.plan builds the parameter
groups from it)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from polyhead.config.base import Strict
from polyhead.errors import ConfigError

# The training strategies (polyhead.plan.strategies has one function for each name).
StrategyName = Literal[
    "frozen", "heads", "freeze-head", "top-k", "full", "gradual", "custom", "lora"
]
STRATEGIES: tuple[str, ...] = get_args(StrategyName)


class LoraSettings(Strict):
    """PEFT LoRA adapters for `strategy: lora`; target_modules None: the family's default."""

    r: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0.0)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | None = None


class PlanConfig(Strict):
    strategy: StrategyName = "full"
    # tuned on MASSIVE, checked on BANKING77 and WNUT-17 (BENCHMARKS.md "Tuning"; issue 18)
    head_lr: float = Field(8e-3, gt=0.0)
    backbone_lr: float = Field(2e-4, gt=0.0)
    layer_decay: float = Field(0.85, gt=0.0, le=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    warmup_ratio: float = Field(0.2, ge=0.0, lt=1.0)
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    k: int | None = Field(None, ge=0, description="top-k: number of top layers that train")
    frozen_heads: list[str] = Field(default_factory=list)
    frozen_groups: list[str] = Field(default_factory=list, description="custom strategy")
    unfreeze_every: int = Field(1, ge=1, description="gradual: epochs between unfreeze steps")
    unfreeze_at: list[int] = Field(default_factory=list, description="gradual: explicit epochs")
    unfreeze_step: int = Field(1, ge=1, description="gradual: groups unfrozen per step")
    unfreeze_floor: int = Field(0, ge=0, description="gradual: lowest depth (0=embeddings)")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    # adapters start at zero and train few weights: 10x backbone_lr (BENCHMARKS "Ninth session")
    lora_lr: float | None = Field(2e-3, gt=0.0, description="lora: adapter LR (null: backbone_lr)")

    @model_validator(mode="after")
    def _strategy_needs(self) -> PlanConfig:
        """The per-strategy rules, checked here only."""
        if self.strategy == "freeze-head" and not self.frozen_heads:
            raise ConfigError("plan.frozen_heads", "strategy freeze-head needs at least one head")
        if self.strategy == "top-k" and self.k is None:
            raise ConfigError("plan.k", "strategy top-k needs k (number of top layers to train)")
        return self
