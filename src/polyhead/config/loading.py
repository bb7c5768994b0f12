"""Reading a run configuration: YAML + dotted overrides, validated into RunConfig.

Errors name the dotted field and what would be right, e.g.
`config field 'plan.strategy': must be one of frozen, heads, ...`.
Relative data paths are resolved against the config file's folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from polyhead.config.sections import RunConfig
from polyhead.errors import ConfigError


def set_dotted(raw: dict, dotted: str, value) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(dotted, f"'{part}' is not a section")
    node[parts[-1]] = value


def parse_overrides(pairs: list[str]) -> list[tuple[str, object]]:
    """`key.sub=value` pairs; values parse as YAML (numbers, lists, booleans)."""
    out = []
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(pair, "overrides look like key.sub=value")
        key, value = pair.split("=", 1)
        out.append((key.strip(), _yaml_value(key.strip(), value)))
    return out


def _yaml_value(key: str, value: str):
    """A plain YAML value (number, string, list, mapping, boolean); tags that construct
    Python objects are refused by safe_load, never constructed."""
    if not value:
        return None
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(key, f"got {value!r}; not a plain YAML value ({problem})") from None


def _resolve_paths(raw: dict, base: Path) -> None:
    """Make data paths relative to the config file absolute (if they exist there)."""
    for task in (raw.get("tasks") or {}).values():  # an embedding task's `data: FILE`
        if isinstance(task, dict) and isinstance(task.get("data"), str):
            task["data"] = {"train": task["data"]}
    sources = [raw.get("data")] + [
        t.get("data") for t in (raw.get("tasks") or {}).values() if isinstance(t, dict)
    ]
    trainer = raw.get("trainer")
    watch = trainer.get("watch_embedding") if isinstance(trainer, dict) else None
    if isinstance(watch, str) and not Path(watch).is_absolute():
        trainer["watch_embedding"] = _absolute(base / watch)
    for src in sources:
        if not isinstance(src, dict):
            continue
        for key in ("path", "train", "dev", "test"):
            if isinstance(src.get(key), str) and not Path(src[key]).is_absolute():
                src[key] = _absolute(base / src[key])
        hf = src.get("hf")  # a folder or file next to the config; else a Hub dataset name
        if isinstance(hf, str) and not Path(hf).is_absolute() and (base / hf).exists():
            src["hf"] = _absolute(base / hf)
    model = raw.get("model")
    if isinstance(model, dict) and isinstance(model.get("backbone"), str):
        candidate = base / model["backbone"]
        if model["backbone"].startswith(".") and candidate.exists():
            model["backbone"] = str(candidate.resolve())


def _absolute(path: Path) -> str:
    """The resolved path; a symlink loop cannot be resolved and stays as written (absolute),
    for the reader to refuse by name."""
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(path)


def load_config(path, overrides: list[str] | None = None) -> RunConfig:
    return validate_config(read_raw_config(path, overrides))


def read_raw_config(path, overrides: list[str] | None = None) -> dict:
    """A YAML config as a dict, with `key.sub=value` overrides applied and data paths made
    absolute; not validated yet (polyhead.train adds data given in Python first)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("CONFIG", f"{path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError("CONFIG", f"{path}{line}: invalid YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError("CONFIG", f"{path}: expected a mapping at the top level")
    for key, value in parse_overrides(overrides or []):
        set_dotted(raw, key, value)
    _resolve_paths(raw, path.parent)
    return raw


def validate_config(raw: dict) -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        original = (err.get("ctx") or {}).get("error")
        if isinstance(original, ConfigError):
            raise original from None
        field = ".".join(str(p) for p in err["loc"]) or "CONFIG"
        msg = err["msg"]
        if err["type"] == "literal_error":
            msg = f"got {err.get('input')!r}; {msg}"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        raise ConfigError(field, msg) from None
