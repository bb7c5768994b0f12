"""What a MultiTaskModel is made of: the backbone, pooling and the named task heads."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polyhead.data.words import MODES as WORDS_MODES

TaskKind = Literal["sentence", "token", "multilabel", "regression", "pair"]
# What a `pair` task's head predicts: two texts in, one of these sentence-level outputs.
PairHead = Literal["sentence", "multilabel", "regression"]
PoolingMode = Literal["mean", "cls", "max"]


# Task names become safetensors keys, file names and URL paths: identifiers only.
TASK_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"


class TaskSettings(BaseModel):
    """A head's settings, declared once: a config's `tasks.<name>` and the saved TaskSpec
    both inherit them (and their checks)."""

    model_config = ConfigDict(extra="forbid")

    kind: TaskKind
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    hidden_size: int | None = Field(None, gt=0, description="optional hidden layer (sentence)")
    loss_weight: float = Field(1.0, ge=0.0)
    crf: bool = Field(False, description="token: CRF layer, Viterbi decoding of valid BIO")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="sentence heads")
    head: PairHead | None = Field(None, description="pair: the head on the pair (sentence)")
    regression_loss: Literal["mse", "huber"] = Field("mse", description="regression heads")

    @model_validator(mode="after")
    def _levers(self):
        if self.crf and self.kind != "token":
            raise ValueError("crf applies to token tasks only")
        if self.label_smoothing and self.head_kind != "sentence":
            raise ValueError("label_smoothing applies to sentence tasks only")
        if self.head is not None and self.kind != "pair":
            raise ValueError("head applies to pair tasks only (the head on the two texts)")
        return self

    @property
    def head_kind(self) -> str:
        """What the head predicts: the kind itself, or for `pair` its `head` (sentence)."""
        return (self.head or "sentence") if self.kind == "pair" else self.kind


class TaskSpec(TaskSettings):
    """One named head. `labels` are the label names in id order (from the training data)."""

    name: str = Field(pattern=TASK_NAME)
    labels: list[str] = Field(default_factory=list)
    class_weights: list[float] | None = Field(None, description="loss weight per label id")


class LayerSelection(BaseModel):
    """Which hidden layers make the features: the last `last_n`, averaged or concatenated
    (the BERT paper's best frozen-feature NER result concatenates the last four).

    Shorthands: `last`, `last4_mean`, `last4_concat` (any n).
    """

    model_config = ConfigDict(extra="forbid")

    last_n: int = Field(1, ge=1)
    combine: Literal["mean", "concat"] = "mean"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        if not isinstance(value, str):
            return value
        m = re.fullmatch(r"last(\d*)(?:_(mean|concat))?", value.strip())
        if not m or (m.group(1) and not m.group(2)):
            raise ValueError(f"got {value!r}; use last, last<n>_mean, last<n>_concat or a mapping")
        return {"last_n": int(m.group(1) or 1), "combine": m.group(2) or "mean"}

    def width(self, hidden: int) -> int:
        """Feature size for a backbone of `hidden` units."""
        return hidden * self.last_n if self.combine == "concat" else hidden


class ModelSettings(BaseModel):
    """The model-level settings, declared once: `model:` in a config and the saved ModelSpec
    both inherit them."""

    model_config = ConfigDict(extra="forbid")

    backbone: str = "minilm"
    pooling: PoolingMode = "mean"
    normalize: bool = True
    max_length: int = Field(128, gt=2, le=4096)
    hidden_dropout: float | None = Field(None, ge=0.0, lt=1.0)
    attention_dropout: float | None = Field(None, ge=0.0, lt=1.0)
    trust_remote_code: bool = False
    words: Literal[("auto", *WORDS_MODES)] = Field(
        "auto",
        description="how raw text becomes words at prediction (polyhead.data.words); auto: "
        "the mode that splits text the way the training words were split",
    )


class ModelSpec(ModelSettings):
    """What a MultiTaskModel is: model settings, the feature layers and the task heads."""

    # Resolved at training (never auto). Artifacts saved before these fields split on
    # whitespace and trimmed nothing, which is what the defaults do.
    words: Literal[WORDS_MODES] = "whitespace"
    split_off: str = Field(
        "", description="punctuation the training words split off: no entity ends in it"
    )
    tasks: list[TaskSpec] = Field(default_factory=list)
    # Model-level so prediction computes the features the heads were trained on.
    layers: LayerSelection = Field(default_factory=LayerSelection)

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
