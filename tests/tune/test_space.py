"""The search space: defaults per strategy, overrides from the config, conditional strategy,
and one-line errors for spaces that name no field or hold no value."""

from __future__ import annotations

import optuna
import pytest
import yaml

from polyhead.cli.app import main
from polyhead.config import validate_config
from polyhead.errors import ConfigError
from polyhead.tune.space import check_space, default_space, merged_space, suggest
from tests.tune.conftest import tune_raw


def test_default_space_follows_the_strategy_and_the_tasks(tune_cfg):
    cfg = tune_cfg()
    full = default_space(cfg, "full", n_layers=2)
    assert {"plan.backbone_lr", "plan.layer_decay", "plan.head_lr", "plan.warmup_ratio"} <= set(
        full
    )
    assert full["plan.head_lr"].log and full["plan.head_lr"].low == 1e-4
    # the token task may get a CRF, the sentence task label smoothing; not the other way
    assert full["tasks.slots.crf"].choices == [False, True]
    assert "tasks.intent.label_smoothing" in full and "tasks.slots.label_smoothing" not in full
    assert "tasks.intent.crf" not in full
    heads = default_space(cfg, "heads", n_layers=2)
    assert "plan.backbone_lr" not in heads and "plan.layer_decay" not in heads
    assert heads["trainer.epochs"].high > full["trainer.epochs"].high  # heads need more epochs
    assert default_space(cfg, "top-k", n_layers=6)["plan.k"].high == 6
    lora = default_space(cfg, "lora", n_layers=2)
    assert "plan.lora.r" in lora and "plan.lora_lr" in lora and "plan.backbone_lr" not in lora
    assert list(default_space(cfg, "frozen", n_layers=2)) == ["features.classifier.C"]


def test_config_space_overrides_adds_and_drops(tune_cfg):
    cfg = tune_cfg(
        {
            "plan.head_lr": {"low": "1e-3", "high": "2e-3", "log": True},  # YAML reads 1e-3 as text
            "plan.warmup_ratio": None,
            "tasks.*.dropout": {"low": 0.1, "high": 0.2},
            "plan.schedule": {"choices": ["linear", "cosine"]},
        }
    )
    space = merged_space(cfg, "full", n_layers=2)
    assert (space["plan.head_lr"].low, space["plan.head_lr"].high) == (1e-3, 2e-3)
    assert "plan.warmup_ratio" not in space
    assert space["tasks.intent.dropout"].low == space["tasks.slots.dropout"].low == 0.1
    assert space["plan.schedule"].choices == ["linear", "cosine"]
    check_space(cfg, n_layers=2)


def test_strategy_in_the_space_samples_that_strategys_fields(tune_cfg):
    cfg = tune_cfg({"plan.strategy": {"choices": ["heads", "lora"]}})
    check_space(cfg, n_layers=2)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(8):
        params = suggest(study.ask(), cfg, n_layers=2)
        seen.add(params["plan.strategy"])
        assert ("plan.lora.r" in params) == (params["plan.strategy"] == "lora")
        assert "plan.backbone_lr" not in params
    assert seen == {"heads", "lora"}


BAD_SPACES = [
    ({"plan.head_lrr": {"low": 1e-4, "high": 1e-2}}, "plan.head_lrr", "no such config field"),
    ({"tasks.nope.dropout": {"low": 0.0, "high": 0.1}}, "tasks.nope.dropout", "no task named"),
    ({"plan.lora": {"low": 1, "high": 2}}, "plan.lora", "is a section"),
    ({"plan.head_lr": {"low": 1e-2, "high": 1e-2}}, "plan.head_lr", "empty range"),
    ({"plan.head_lr": {"low": 1e-2, "high": 1e-4}}, "plan.head_lr", "empty range"),
    ({"tasks.slots.crf": {"choices": []}}, "tasks.slots.crf", "choices is empty"),
    ({"plan.head_lr": {"low": 0.0, "high": 1e-2, "log": True}}, "plan.head_lr", "low > 0"),
    ({"plan.head_lr": {"high": 1e-2}}, "plan.head_lr", "needs low and high"),
    ({"plan.head_lr": {"low": 1, "high": 2, "typo": 1}}, "plan.head_lr.typo", "unknown field"),
    ({"trainer.epochs": {"low": 1.5, "high": 4}}, "trainer.epochs", "must be integers"),
    ({"tasks.slots.crf": {"low": 0, "high": 1}}, "tasks.slots.crf", "give choices"),
    ({"plan.layer_decay": {"low": 0.5, "high": 1.5}}, "plan.layer_decay", "1.5 is not valid"),
    ({"tasks.intent.crf": {"choices": [True]}}, "tasks.intent.crf", "token tasks only"),
    ({"plan.strategy": {"choices": ["full", "fast"]}}, "plan.strategy", "'fast' is not valid"),
    ({"plan.k": {"low": 1, "high": 5}}, "plan.k", "at most 2"),
]


@pytest.mark.parametrize(("space", "field", "message"), BAD_SPACES)
def test_bad_space_is_one_line_naming_the_field(
    tiny_bert, tmp_path, capsys, monkeypatch, space, field, message
):
    raw = tune_raw(tiny_bert, space)
    raw["plan"].update(strategy="top-k", k=1)  # so that plan.k is in the space
    config = tmp_path / "tune.yaml"
    config.write_text(yaml.safe_dump(raw))
    argv = ["polyhead", "tune", str(config), "--trials", "2", "--out", str(tmp_path / "o")]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: config field 'tune.space.{field}'") and message in err, err
    assert not (tmp_path / "o").exists()  # refused before any trial or study


def test_space_errors_are_config_errors_from_the_library_too(tune_cfg):
    cfg = tune_cfg({"plan.head_lrr": {"low": 1e-4, "high": 1e-2}})
    with pytest.raises(ConfigError, match=r"^config field 'tune.space.plan.head_lrr'"):
        check_space(cfg, n_layers=2)


def test_bad_timeout_is_one_line(tiny_bert, tmp_path, capsys, monkeypatch):
    config = tmp_path / "tune.yaml"
    config.write_text(yaml.safe_dump(tune_raw(tiny_bert)))
    argv = ["polyhead", "tune", str(config), "--trials", "1", "--timeout", "2 hours"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "error: config field '--timeout': got '2 hours'; use e.g. 2h, 90m, 1h30m, 45s or seconds"
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("600", 600)]
)
def test_timeout_durations(text, seconds):
    from polyhead.cli.tune import parse_duration

    assert parse_duration(text) == seconds


def test_unset_tune_section_validates_as_before(tiny_bert):
    raw = tune_raw(tiny_bert)
    del raw["tune"]
    assert validate_config(raw).tune.space == {}


def test_auto_epochs_is_searched_as_numbers(tiny_bert):
    # `trainer.epochs: auto` (the default) resolves only with the data: the default range
    # spans its floor up to 4x it, and a range over this int-or-keyword field is accepted
    raw = tune_raw(tiny_bert, {"trainer.epochs": {"low": 1, "high": 2}})
    raw["trainer"]["epochs"] = "auto"
    cfg = validate_config(raw)
    check_space(cfg, n_layers=2)
    space = default_space(cfg, "full", n_layers=2)["trainer.epochs"]
    assert (space.low, space.high) == (2, 12)
    params = suggest(optuna.create_study().ask(), cfg, n_layers=2)
    assert params["trainer.epochs"] in (1, 2)
