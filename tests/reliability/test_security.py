"""Loading never runs code from a file: artifacts are read as safetensors + JSON only (a
planted pickle is refused, not unpickled), checkpoints load with weights_only, custom model
code runs only with trust_remote_code, and no server request names a path."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import yaml

from polyhead.cli.app import error_line
from polyhead.errors import ConfigError, PolyheadError
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.model.artifact import save_artifact


class Planted:
    """Unpickling this creates the marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def plant(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(Planted(marker)))


@pytest.fixture()
def artifact(rel_bert, tmp_path) -> Path:
    task = TaskSpec(name="intent", kind="sentence", labels=["a", "b"])
    model = MultiTaskModel(ModelSpec(backbone=str(rel_bert), max_length=16, tasks=[task]))
    return save_artifact(model, tmp_path / "artifact")


def test_backbone_pickle_is_refused_not_unpickled(artifact, tmp_path):
    marker = tmp_path / "pwned"
    (artifact / "backbone" / "model.safetensors").unlink()
    plant(artifact / "backbone" / "pytorch_model.bin", marker)
    with pytest.raises(PolyheadError, match="model.safetensors") as info:
        MultiTaskModel.load(artifact)
    assert not marker.exists()
    assert error_line(info.value) is not None, "a missing weights file must be one line"


def test_heads_pickle_is_refused_not_unpickled(artifact, tmp_path):
    marker = tmp_path / "pwned"
    (artifact / "heads.safetensors").unlink()
    plant(artifact / "heads.bin", marker)
    with pytest.raises(PolyheadError, match="heads.safetensors") as info:
        MultiTaskModel.load(artifact)
    assert not marker.exists()
    assert error_line(info.value) is not None


def test_a_pickle_next_to_the_safetensors_is_ignored(artifact, tmp_path):
    marker = tmp_path / "pwned"
    plant(artifact / "backbone" / "pytorch_model.bin", marker)
    plant(artifact / "heads.pt", marker)
    MultiTaskModel.load(artifact)
    assert not marker.exists()


def test_resume_never_unpickles_a_planted_checkpoint(rel_bert, tmp_path):
    from polyhead.engine.train import train
    from tests.reliability.conftest import config

    marker, run_dir = tmp_path / "pwned", tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"payload": Planted(marker)}, run_dir / "checkpoints" / "last.ckpt")
    cfg = config(rel_bert, epochs=1)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump()))  # the run's own
    with pytest.raises(pickle.UnpicklingError):
        train(cfg, run_dir, resume=True)
    assert not marker.exists()


def test_custom_model_code_runs_only_with_trust_remote_code(tmp_path):
    from polyhead.model.backbone import load_backbone

    marker, folder = tmp_path / "pwned", tmp_path / "remote"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "planted",
                "auto_map": {"AutoConfig": "planted.C", "AutoModel": "planted.M"},
            }
        )
    )
    (folder / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with pytest.raises(ConfigError, match="model.trust_remote_code") as info:
        load_backbone(str(folder))
    assert not marker.exists()
    assert "\n" not in str(info.value) and "config.json" in str(info.value)


def test_a_backbone_folder_with_pickled_weights_only_is_refused(rel_bert, tmp_path):
    from polyhead.model.backbone import load_backbone

    marker, folder = tmp_path / "pwned", tmp_path / "bin-only"
    folder.mkdir()
    for f in rel_bert.iterdir():
        if f.name != "model.safetensors":
            (folder / f.name).write_bytes(f.read_bytes())
    plant(folder / "pytorch_model.bin", marker)
    with pytest.raises(ConfigError, match="model.backbone.*safetensors only") as info:
        load_backbone(str(folder))
    assert not marker.exists()
    assert "\n" not in str(info.value)


def test_an_unknown_hub_name_offline_is_one_line(monkeypatch):
    from polyhead.model.backbone import load_backbone

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="model.backbone.*no-such-org/no-such-model") as info:
        load_backbone("no-such-org/no-such-model")
    assert "\n" not in str(info.value)


def test_server_requests_carry_texts_not_paths():
    """The server loads its model once, from the command line; request bodies are texts and
    flags only, and anything else (a `model` or `path` field) is rejected."""
    from pydantic import ValidationError

    from polyhead.serve.app import EmbedRequest, PredictRequest

    assert set(PredictRequest.model_fields) == {"texts", "embeddings"}
    assert set(EmbedRequest.model_fields) == {"texts"}
    for request in (PredictRequest, EmbedRequest):
        with pytest.raises(ValidationError):
            request.model_validate({"texts": ["hi"], "model": "/etc/passwd"})
