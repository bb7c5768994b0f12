"""What a MultiTaskModel is made of: the backbone, pooling and the named task heads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TaskKind = Literal["sentence", "token"]
PoolingMode = Literal["mean", "cls", "max"]


class TaskSpec(BaseModel):
    """One named head. `labels` are the label names in id order (from the training data)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: TaskKind
    labels: list[str] = Field(default_factory=list)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    hidden_size: int | None = Field(None, gt=0, description="optional hidden layer (sentence)")
    loss_weight: float = Field(1.0, ge=0.0)


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backbone: str = "minilm"
    pooling: PoolingMode = "mean"
    normalize: bool = True
    max_length: int = Field(128, gt=2)
    tasks: list[TaskSpec] = Field(default_factory=list)
    hidden_dropout: float | None = Field(None, ge=0.0, lt=1.0)
    attention_dropout: float | None = Field(None, ge=0.0, lt=1.0)
    trust_remote_code: bool = False

    @field_validator("tasks")
    @classmethod
    def _unique_names(cls, tasks: list[TaskSpec]) -> list[TaskSpec]:
        names = [t.name for t in tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"task names must be unique, repeated: {dupes}")
        return tasks

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"no task named {name!r}; tasks are {[t.name for t in self.tasks]}")
