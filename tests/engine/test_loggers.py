"""`trainer.loggers`: each tracker gets the per-epoch metrics, the config, the plan and the
artifact path; a tracker that is not installed is one config error naming the install."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest

from polyhead.config import validate_config
from polyhead.engine.trackers import ARTIFACT_TAG, RUN_DIR_TAG
from polyhead.engine.train import train
from polyhead.errors import ConfigError
from polyhead.model.artifact import is_artifact
from tests.engine.conftest import raw_config, run_config

SMALL = {"train": 16, "eval": 8}  # two steps an epoch: the trackers are under test, not training


def _history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def test_mlflow_sqlite_store_holds_every_epoch_the_config_plan_and_artifact(
    bert4, tmp_path, monkeypatch
):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)  # MLflow's artifact store defaults to the working directory
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cfg = run_config(
        bert4,
        **SMALL,
        trainer={
            "epochs": 2,
            "loggers": ["mlflow"],
            "tracking_uri": uri,
            "experiment": "demo-exp",
        },
    )
    run_dir = tmp_path / "run"
    train(cfg, run_dir)

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("demo-exp")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    scores = client.get_metric_history(run.info.run_id, "val/score")
    assert [m.value for m in scores] == pytest.approx(
        [h["metrics"]["score"] for h in _history(run_dir)]
    )
    assert len(scores) == 2  # one per epoch (no early stopping in these runs)
    assert len(client.get_metric_history(run.info.run_id, "val/intent/accuracy")) == 2
    params = run.data.params
    assert params["plan/strategy"] == "full" and params["trainer/epochs"] == "2"
    assert params["model/backbone"] == str(bert4)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"plan.txt", "plan.json"}
    assert run.data.tags[ARTIFACT_TAG] == str((run_dir / "model").resolve())
    assert run.data.tags[RUN_DIR_TAG] == str(run_dir.resolve())
    assert is_artifact(run.data.tags[ARTIFACT_TAG])
    # The default loggers are not on unless listed.
    assert not (run_dir / "logs").exists()


def test_default_loggers_write_csv_and_tensorboard_under_the_run(bert4, tmp_path):
    run_dir = tmp_path / "run"
    train(run_config(bert4, **SMALL, trainer={"epochs": 1}), run_dir)
    assert "val/score" in (run_dir / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert list((run_dir / "logs" / "tb").glob("events.out.tfevents.*"))
    assert (run_dir / "logs" / "hparams.yaml").read_text().count("strategy: full") == 1


class WandbSnapshot(pl.Callback):
    """What the W&B run holds at fit end (after polyhead's records, before the run closes):
    offline runs keep it in a binary log that only W&B's own service reads back."""

    def on_fit_end(self, trainer, pl_module) -> None:
        run = trainer.loggers[0].experiment
        self.summary, self.config = dict(run.summary), run.config.as_dict()


def test_wandb_offline_run_has_the_metrics_config_plan_and_artifact(bert4, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")  # never online in tests
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir, snapshot = tmp_path / "run", WandbSnapshot()
    cfg = run_config(bert4, **SMALL, trainer={"epochs": 2, "loggers": ["wandb"]})
    train(cfg, run_dir, extra_callbacks=[snapshot])

    assert snapshot.summary["val/score"] == pytest.approx(_history(run_dir)[-1]["metrics"]["score"])
    assert snapshot.summary[ARTIFACT_TAG] == str((run_dir / "model").resolve())
    assert snapshot.config["trainer"]["loggers"] == ["wandb"]
    assert snapshot.config["training_plan"]["strategy"] == "full"
    assert [g["name"] for g in snapshot.config["training_plan"]["groups"]][:2] == [
        "head:intent",
        "head:slots",
    ]
    (log,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    assert log.stat().st_size > 0
    assert wandb.run is None  # closed: the next run in this process starts its own


@pytest.mark.parametrize("package", ["mlflow", "wandb"])
def test_a_tracker_that_is_not_installed_is_one_line_naming_the_install(
    bert4, monkeypatch, package
):
    monkeypatch.setitem(sys.modules, package, None)  # importlib finds no such module
    with pytest.raises(ConfigError) as err:
        validate_config(raw_config(bert4, trainer={"loggers": ["csv", package]}))
    message = str(err.value)
    assert "trainer.loggers" in message and f"pip install {package}" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "loggers, expected",
    [(["csv", "csv"], "twice"), (["neptune"], "csv"), ("mlflow", "valid list")],
)
def test_bad_logger_lists_name_the_field(bert4, loggers, expected):
    with pytest.raises(ConfigError, match=r"trainer\.loggers") as err:
        validate_config(raw_config(bert4, trainer={"loggers": loggers}))
    assert expected in str(err.value)


def test_no_loggers_writes_no_logs(bert4, tmp_path):
    run_dir = tmp_path / "run"
    cfg = run_config(bert4, **SMALL, trainer={"epochs": 1, "loggers": []})
    result = train(cfg, run_dir)
    assert not (run_dir / "logs").exists()
    assert result.metrics["dev"]["score"] == pytest.approx(_history(run_dir)[0]["metrics"]["score"])
