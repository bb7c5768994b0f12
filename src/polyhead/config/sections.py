"""The run configuration's sections, validated on construction (polyhead.config.loading
reads them from YAML)."""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from polyhead.config.base import Strict as _Strict
from polyhead.config.plan import PlanConfig, StrategyName
from polyhead.data.context import check_document_context
from polyhead.data.sources import DataSource
from polyhead.data.words import detect_words_mode, split_off_punctuation, word_counts
from polyhead.errors import ConfigError
from polyhead.model.embedding_task import (
    PRESERVE_EMBEDDING,
    EmbeddingSettings,
    check_embedding_tasks,
)
from polyhead.model.spec import (
    TASK_NAME,
    LayerSelection,
    ModelSettings,
    ModelSpec,
    TaskSettings,
    TaskSpec,
)

log = logging.getLogger("polyhead")

# Experiment trackers, as Lightning loggers (polyhead.engine.trackers builds them).
LoggerName = Literal["csv", "tensorboard", "mlflow", "wandb"]
# The optional ones: the module to find and what to install.
TRACKER_PACKAGES = {"mlflow": "mlflow", "wandb": "wandb"}


class TaskConfig(TaskSettings, EmbeddingSettings):
    """`tasks.<name>`: the head's settings (polyhead.model.spec.TaskSettings) plus where its
    data comes from and how it is weighted in training and model selection. `kind:
    embedding` is a loss on the pooled embedding with no head (polyhead.model.embedding_task:
    `loss`, `scale`, `pairs_from`, `score_scale`); its `data` is a pairs file."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: Literal["sentence", "token", "multilabel", "regression", "pair", "embedding"]
    data: DataSource | None = None
    metric_weight: float = Field(1.0, ge=0.0, description="weight in the combined score")
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="balanced: loss weight n / (labels * count) per label (non-CRF)"
    )

    @model_validator(mode="before")
    @classmethod
    def _pairs_file(cls, value):
        """An embedding task's `data: FILE` is its training pairs file."""
        if isinstance(value, dict) and isinstance(value.get("data"), str):
            value = {**value, "data": {"train": value["data"]}}
        return value

    @model_validator(mode="after")
    def _weights(self) -> TaskConfig:
        if self.crf and self.class_weights != "none":
            raise ValueError("class_weights cannot combine with crf (the CRF loss is per path)")
        return self

    # ---- embedding tasks (issue 16) --------------------------------------------------------
    @model_validator(mode="after")
    def _embedding_fields(self) -> TaskConfig:
        # by value, not by fields set: a dumped config (model_dump) sets them all to None
        embedding_only = [f for f in ("loss", "pairs_from") if getattr(self, f) is not None]
        if self.kind != "embedding" and embedding_only:
            raise ValueError(f"{embedding_only} apply to kind: embedding only")
        if self.kind == "embedding":
            if self.hidden_size or self.class_weights != "none":
                raise ValueError("an embedding task has no head: no hidden_size, class_weights")
            if (self.data is None) == (self.pairs_from is None):
                raise ValueError("an embedding task needs data (a pairs file) or pairs_from")
        return self


class ModelConfig(ModelSettings):
    """`model:`: the model's settings (polyhead.model.spec.ModelSettings) plus what only
    training needs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    reinit_top: int = Field(
        0,
        ge=0,
        description="re-initialise the top n backbone layers before training: often helps "
        "small datasets, whose top pretrained layers are specialised to pretraining",
    )


class TrainerConfig(_Strict):
    epochs: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"  # engine.auto_epochs
    auto_steps: int = Field(600, ge=1, description="epochs: auto -> about this many steps")
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(128, ge=1)
    seed: int = Field(42, ge=0, le=2**32 - 1, description="numpy's range: 0 to 2**32 - 1")
    precision: str = "auto"
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"  # Lightning's: ddp, fsdp, deepspeed, ... (README: several GPUs)
    num_nodes: int = Field(1, ge=1)
    on_nonfinite: Literal["stop", "skip", "off"] = "stop"  # NaN/inf loss (engine.faults)
    gradient_clip: float | None = Field(1.0, gt=0.0)
    patience: int | None = Field(3, ge=1)
    min_delta: float = Field(0.0, ge=0.0)
    num_workers: Annotated[int, Field(ge=0)] | Literal["auto"] = "auto"  # auto: CUDA only
    log_every_n_steps: int = Field(20, ge=1)
    progress: bool = True
    # Task sampling across data sources (polyhead.data.sampling documents the epoch).
    sampling: Literal["proportional", "temperature", "round_robin", "mixed"] = "proportional"
    temperature: float = Field(2.0, gt=0.0, description="sampling: temperature, p ~ n**(1/T)")
    bucketing: bool = Field(True, description="batches of similar length (data.bucketing)")
    compile: bool | Literal["auto"] = Field("auto", description="engine.compiled; auto: CUDA")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"  # CUDA graphs
    # Guard for frozen heads (polyhead.engine.guard).
    preserve: list[str] = Field(default_factory=list, description="tasks to distil toward start")
    preserve_weight: float = Field(1.0, ge=0.0)
    max_drop: float | None = Field(None, ge=0.0, description="points below start that stop a run")
    log_grad_cosine: bool = False
    # Embedding guard (engine.embedding_guard, issue 16): `preserve: [embedding]` distils the
    # pooled embedding toward the start's; `watch_embedding`: a pairs file's Spearman per epoch.
    watch_embedding: str | None = Field(None, description="pairs file the embedding is scored on")
    # 2 kept STS-B within 1 point on all of MASSIVE, 3 epochs (issue 16, BENCHMARKS)
    preserve_embedding_weight: float = Field(2.0, ge=0.0, description="preserve: [embedding]")
    loggers: list[LoggerName] = Field(default_factory=lambda: ["csv", "tensorboard"])
    tracking_uri: str | None = Field(
        None, description="mlflow: default $MLFLOW_TRACKING_URI, else MLflow's own default"
    )
    experiment: str = Field("polyhead", min_length=1, description="mlflow / wandb project name")

    @model_validator(mode="after")
    def _trackers_installed(self) -> TrainerConfig:
        if len(set(self.loggers)) < len(self.loggers):
            raise ConfigError("trainer.loggers", f"{self.loggers} names a logger twice")
        for name in self.loggers:
            package = TRACKER_PACKAGES.get(name)
            if package and importlib.util.find_spec(package) is None:
                raise ConfigError(
                    "trainer.loggers", f"{name} is not installed: pip install {package}"
                )
        return self


class CompareConfig(_Strict):
    """Defaults for `polyhead compare` (the command line overrides them)."""

    strategies: list[StrategyName] = Field(
        default_factory=lambda: ["heads", "top-k", "gradual", "full"]
    )
    seeds: int = Field(3, ge=1)
    settings: dict[str, dict[str, object]] = Field(
        default_factory=dict, description="strategy -> {dotted.field: value} for its runs"
    )


class ParamRange(_Strict):
    """One dimension of `tune.space`: a range (`low`/`high`, `log`, `step`) or `choices`.
    Whether a range is sampled as integers follows the config field it sets."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0.0)
    choices: list[bool | int | float | str] | None = None

    def problem(self) -> str | None:
        """Why this is no range to sample from, or None."""
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                return "give choices or low/high, not both"
            return None if self.choices else "choices is empty"
        if self.low is None or self.high is None:
            return "needs low and high, or choices"
        if not self.low < self.high:
            return f"empty range: low ({self.low:g}) must be below high ({self.high:g})"
        if self.log and (self.low <= 0 or self.step):
            return "log ranges need low > 0 and no step"
        return None


class TuneConfig(_Strict):
    """`polyhead tune`: `space` maps a dotted config field to a range, merged over the
    strategy's default space (polyhead.tune.space); a field mapped to null is not tuned."""

    space: dict[str, ParamRange | None] = Field(default_factory=dict)
    pruner: Literal["median", "none"] = "median"
    prune_after: int = Field(1, ge=0, description="epochs a trial runs before it can be pruned")
    prune_startup: int = Field(3, ge=0, description="trials that finish before any is pruned")
    startup_trials: int = Field(10, ge=1, description="random trials before TPE models the space")

    @model_validator(mode="after")
    def _ranges(self) -> TuneConfig:
        for name, dim in self.space.items():
            problem = dim.problem() if dim is not None else None
            if problem:
                raise ConfigError(f"tune.space.{name}", problem)
        return self


class ClassifierConfig(_Strict):
    """The external linear classifier `strategy: frozen` fits per task on frozen features."""

    estimator: Literal["logistic", "linear_svc", "ridge", "sgd"] = "logistic"
    C: float = Field(1.0, gt=0.0, description="inverse regularisation strength")
    class_weight: Literal["none", "balanced"] = "none"
    max_iter: int = Field(1000, ge=1)
    standardize: bool = Field(True, description="unit-variance features (folded into weights)")


class CacheConfig(_Strict):
    """Backbone outputs stored on disk while the backbone (or its lower part) is frozen."""

    enabled: bool = True
    dir: str | None = Field(None, description="default: $POLYHEAD_CACHE or ~/.cache/polyhead")
    dtype: Literal["float16", "float32"] = "float16"
    boundary: bool = Field(True, description="gradual/top-k: cache the frozen/trainable boundary")


class FeaturesConfig(_Strict):
    layers: LayerSelection = Field(default_factory=LayerSelection)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)


class RunConfig(_Strict):
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataSource | None = None
    tasks: dict[str, TaskConfig]
    plan: PlanConfig = Field(default_factory=PlanConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        if not self.tasks:
            raise ValueError("at least one task is needed")
        for name, task in self.tasks.items():
            if task.data is None and self.data is None and task.kind != "embedding":
                raise ConfigError(
                    f"tasks.{name}.data", "no data for this task and no top-level data"
                )
        unknown = [h for h in self.plan.frozen_heads if h not in self.head_tasks()]
        if unknown:
            raise ConfigError(
                "plan.frozen_heads",
                f"no head named {unknown}; heads are {sorted(self.head_tasks())}",
            )
        bad = [n for n in self.tasks if not re.fullmatch(TASK_NAME, n)]
        if bad:
            raise ConfigError(
                f"tasks.{bad[0]}",
                "task names are identifiers (letters, digits, '_' and '-', not first a digit)",
            )
        self._check_embedding()
        self._check_guard()
        self._words_of_sources()
        check_document_context(self.kinds(), self.task_sources())
        return self

    def _words_of_sources(self) -> None:
        """A source's JSONL text is split into the model's words unless it says otherwise,
        so training and prediction see the same words."""
        if self.model.words == "auto":
            return
        for src in [self.data, *(t.data for t in self.tasks.values())]:
            if src is not None and src.words is None:
                src.words = self.model.words

    def _check_guard(self) -> None:
        preserved = [t for t in self.trainer.preserve if t != PRESERVE_EMBEDDING]
        unknown = [t for t in preserved if t not in self.head_tasks()]
        if unknown:
            raise ConfigError(
                "trainer.preserve",
                f"no head named {unknown}; heads are {sorted(self.head_tasks())} "
                f"(or '{PRESERVE_EMBEDDING}': the pooled embedding)",
            )
        watched = self.watched_tasks() or self.trainer.watch_embedding
        if self.trainer.max_drop is not None and not watched:
            raise ConfigError(
                "trainer.max_drop",
                "needs something to watch: set plan.frozen_heads, preserve or watch_embedding",
            )

    def watched_tasks(self) -> list[str]:
        """Heads whose drift from their start value the guard reports (frozen or preserved);
        the embedding's drift is watched through `trainer.watch_embedding`."""
        names = self.plan.frozen_heads + self.trainer.preserve
        return [t for t in dict.fromkeys(names) if t != PRESERVE_EMBEDDING]

    def source(self, task: str) -> DataSource:
        return self.tasks[task].data or self.data  # type: ignore[return-value]

    def task_sources(self) -> dict[str, DataSource]:
        """The data source of every task with a head (embedding tasks read pairs)."""
        return {name: self.source(name) for name in self.head_tasks()}

    def kinds(self) -> dict[str, str]:
        """Every task with a head -> what it predicts (sentence, token, multilabel,
        regression; a `pair` task's `head`: its data pairs the texts)."""
        return {name: self.tasks[name].head_kind for name in self.head_tasks()}

    def pair_tasks(self) -> list[str]:
        return [name for name, t in self.tasks.items() if t.kind == "pair"]

    # ---- embedding tasks (issue 16) ------------------------------------------------------
    def head_tasks(self) -> list[str]:
        return [n for n, t in self.tasks.items() if t.kind != "embedding"]

    def embedding_tasks(self) -> list[str]:
        return [n for n, t in self.tasks.items() if t.kind == "embedding"]

    def active_embedding_tasks(self) -> list[str]:
        """Embedding tasks that train (loss_weight > 0)."""
        return [n for n in self.embedding_tasks() if self.tasks[n].loss_weight > 0]

    def _check_embedding(self) -> None:
        check_embedding_tasks(self.tasks, self.trainer.sampling, self.trainer.preserve)

    def to_spec(
        self,
        labels: dict[str, list[str]],
        class_weights: dict | None = None,
        train_words: Mapping[str, int] | Sequence[Sequence[str]] = (),
    ) -> ModelSpec:
        """The ModelSpec this config describes, given the label sets and the training words
        (word lists or counts): the model's settings copied whole; `words: auto` resolved."""
        task_fields = set(TaskSettings.model_fields)
        tasks = [
            TaskSpec(
                name=name,
                labels=list(labels[name]),
                class_weights=(class_weights or {}).get(name),
                **self.tasks[name].model_dump(include=task_fields),
            )
            for name in self.head_tasks()  # an embedding task has no head to save
        ]
        model = self.model.model_dump(include=set(ModelSettings.model_fields))
        if not isinstance(train_words, Mapping):
            train_words = word_counts(train_words)
        if model["words"] == "auto":
            model["words"] = detect_words_mode(train_words)
            log.info("model.words: auto -> %s (from the training words)", model["words"])
        model["split_off"] = "".join(sorted(split_off_punctuation(train_words)))
        return ModelSpec(**model, tasks=tasks, layers=self.features.layers)
