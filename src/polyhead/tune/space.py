"""The search space: dotted config fields -> ranges, sampled by an Optuna trial.

The default space depends on the strategy (what it trains) and on the tasks (a CRF for token
heads, label smoothing for sentence heads); `tune.space` in the config overrides it field by
field, and `tasks.*.<field>` stands for every task. With `plan.strategy` in the space, the
strategy is sampled first and the rest of the space is that strategy's (a conditional space,
which TPE samples per strategy).
"""

from __future__ import annotations

import types
import typing

import optuna
from pydantic import BaseModel
from transformers import AutoConfig

from polyhead.config import ParamRange, RunConfig, TaskConfig, set_dotted, validate_config
from polyhead.engine.auto_epochs import AUTO_MIN
from polyhead.errors import ConfigError
from polyhead.model.backbone import resolve_backbone

Space = dict[str, ParamRange]

# Strategies that train backbone weights (layer decay and a backbone learning rate matter).
BACKBONE_STRATEGIES = ("full", "gradual", "top-k", "freeze-head", "custom")


def _range(low: float, high: float, log: bool = False) -> ParamRange:
    return ParamRange(low=low, high=high, log=log)


def default_space(cfg: RunConfig, strategy: str, n_layers: int) -> Space:
    """The fields worth tuning for `strategy` on these tasks, with ranges that hold the usual
    good values for a pretrained encoder."""
    if strategy == "frozen":  # no gradient steps: only the external classifier is fitted
        return {"features.classifier.C": _range(1e-2, 1e2, log=True)}
    # Heads and adapters move fewer weights per step: they profit from more epochs. `auto`
    # resolves only once the data is read: its floor, and up to 4x it (10 epochs helped the
    # defaults at 2,000 utterances).
    more = 3 if strategy in ("heads", "lora") else 2
    epochs = cfg.trainer.epochs
    if epochs == "auto":
        epochs, more = AUTO_MIN, 4
    space: Space = {
        "plan.head_lr": _range(1e-4, 1e-2, log=True),
        "trainer.epochs": _range(max(1, epochs - 1), max(epochs + 1, more * epochs)),
        "plan.warmup_ratio": _range(0.0, 0.2),
    }
    if strategy in BACKBONE_STRATEGIES:
        space["plan.backbone_lr"] = _range(1e-5, 3e-4, log=True)
        space["plan.layer_decay"] = _range(0.6, 1.0)
    if strategy == "top-k":
        space["plan.k"] = _range(1, n_layers) if n_layers > 1 else ParamRange(choices=[1])
    if strategy == "lora":
        space["plan.lora_lr"] = _range(1e-4, 3e-3, log=True)
        space["plan.lora.r"] = ParamRange(choices=[4, 8, 16, 32])
    for name, task in cfg.tasks.items():
        space[f"tasks.{name}.dropout"] = _range(0.0, 0.3)
        if task.kind == "token" and task.class_weights == "none":
            space[f"tasks.{name}.crf"] = ParamRange(choices=[False, True])
        if task.kind == "sentence":
            space[f"tasks.{name}.label_smoothing"] = _range(0.0, 0.2)
    return space


def user_space(cfg: RunConfig) -> dict[str, ParamRange | None]:
    """`tune.space` with `tasks.*.<field>` written out for every task."""
    out: dict[str, ParamRange | None] = {}
    for name, dim in cfg.tune.space.items():
        if name.startswith("tasks.*."):
            for task in cfg.tasks:
                out[f"tasks.{task}.{name[len('tasks.*.') :]}"] = dim
        else:
            out[name] = dim
    return out


def merged_space(cfg: RunConfig, strategy: str, n_layers: int) -> Space:
    """The default space for `strategy` with the config's own entries over it (null: drop)."""
    space: dict[str, ParamRange | None] = dict(default_space(cfg, strategy, n_layers))
    space.update(user_space(cfg))
    space.pop("plan.strategy", None)  # sampled first, by `suggest`
    return {name: dim for name, dim in space.items() if dim is not None}


def layer_count(cfg: RunConfig) -> int:
    """Transformer blocks in the backbone (top-k's `k` ranges up to it), from its config."""
    source = resolve_backbone(cfg.model.backbone)
    conf = AutoConfig.from_pretrained(source, trust_remote_code=cfg.model.trust_remote_code)
    return int(getattr(conf, "num_hidden_layers", None) or getattr(conf, "n_layers", 1))


def field_type(cfg: RunConfig, dotted: str) -> type:
    """The Python type of a dotted config field; ConfigError when the config has no such
    field (or names a section)."""
    model: type[BaseModel] = type(cfg)
    parts = dotted.split(".")
    i = 0
    while i < len(parts):
        name = parts[i]
        if model is type(cfg) and name == "tasks" and i + 1 < len(parts):
            if parts[i + 1] not in cfg.tasks:
                raise ConfigError(f"tune.space.{dotted}", f"no task named {parts[i + 1]!r}")
            model, i = TaskConfig, i + 2
            continue
        field = model.model_fields.get(name)
        if field is None:
            raise ConfigError(f"tune.space.{dotted}", "no such config field (check the spelling)")
        kind = _plain(field.annotation)
        last = i == len(parts) - 1
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if last:
                raise ConfigError(f"tune.space.{dotted}", "is a section, not a field")
            model = kind
        elif not last:
            raise ConfigError(f"tune.space.{dotted}", f"'{name}' is not a section")
        else:
            return kind
        i += 1
    raise ConfigError(f"tune.space.{dotted}", "is a section, not a field")


def _plain(annotation) -> type:
    """`int | None` -> int, and a number that also takes a keyword (`int | Literal["auto"]`,
    e.g. trainer.epochs) -> int: a range samples its numbers. Other unions and Literals stay
    (sampled from choices only)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation
    args = [
        typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
        for a in typing.get_args(annotation)
        if a is not type(None) and typing.get_origin(a) is not typing.Literal
    ]
    return args[0] if len(args) == 1 else annotation


def check_space(cfg: RunConfig, n_layers: int) -> None:
    """Every entry of the space (for each strategy it can sample) names a config field, and
    every value it can take is valid there; the one line names `tune.space.<field>`.
    Combinations of values are left to the trials."""
    strategies = [cfg.plan.strategy]
    choice = user_space(cfg).get("plan.strategy")
    if choice is not None:
        _check_entries(cfg, {"plan.strategy": choice}, n_layers)
        strategies = [str(s) for s in choice.choices]
    for strategy in strategies:
        _check_entries(cfg, merged_space(cfg, strategy, n_layers), n_layers)


def _check_entries(cfg: RunConfig, space: Space, n_layers: int) -> None:
    for name, dim in space.items():
        kind = field_type(cfg, name)
        where = f"tune.space.{name}"
        if dim.choices is None and kind not in (int, float):
            raise ConfigError(where, "this field is not a number: give choices")
        whole = dim.choices is not None or (dim.low == int(dim.low) and dim.high == int(dim.high))
        if kind is int and not whole:
            raise ConfigError(where, "an integer field: low and high must be integers")
        if name == "plan.k" and (dim.high if dim.choices is None else max(dim.choices)) > n_layers:
            raise ConfigError(where, f"at most {n_layers} (the backbone has {n_layers} layers)")
        values = dim.choices if dim.choices is not None else [dim.low, dim.high]
        for value in values:
            _check_value(cfg, name, int(value) if kind is int and dim.choices is None else value)


def _check_value(cfg: RunConfig, name: str, value) -> None:
    raw = cfg.model_dump()
    set_dotted(raw, name, value)
    try:
        validate_config(raw)
    except ConfigError as e:
        if name.startswith(e.field):  # about this field, not about another one it combines with
            msg = str(e).split(": ", 1)[1]
            raise ConfigError(f"tune.space.{name}", f"{value!r} is not valid: {msg}") from None


def suggest(trial: optuna.Trial, cfg: RunConfig, n_layers: int) -> dict[str, object]:
    """Sample one point: plan.strategy first when the space has it, then that strategy's
    space. Returns {dotted field: value}."""
    params: dict[str, object] = {}
    strategy = cfg.plan.strategy
    choice = user_space(cfg).get("plan.strategy")
    if choice is not None:
        strategy = trial.suggest_categorical("plan.strategy", choice.choices)
        params["plan.strategy"] = strategy
    for name, dim in merged_space(cfg, strategy, n_layers).items():
        params[name] = suggest_one(trial, name, dim, field_type(cfg, name))
    return params


def suggest_one(trial: optuna.Trial, name: str, dim: ParamRange, kind: type):
    if dim.choices is not None:
        return trial.suggest_categorical(name, dim.choices)
    if kind is int:
        step = int(dim.step or 1)
        return trial.suggest_int(name, int(dim.low), int(dim.high), step=step, log=dim.log)
    return trial.suggest_float(name, dim.low, dim.high, step=dim.step, log=dim.log)


def apply(cfg: RunConfig, params: dict[str, object]) -> RunConfig:
    """The config with the sampled values set (validated like any config)."""
    raw = cfg.model_dump()
    for name, value in params.items():
        set_dotted(raw, name, value)
    return validate_config(raw)
