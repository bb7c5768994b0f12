"""Hub ids: a model in the HF cache loads offline, through polyhead.load and the CLI; pushing
uploads the artifact folder with huggingface_hub (its client faked: no network here)."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import constants

import polyhead
from polyhead.cli import main
from tests.data.test_frames import INTENTS, TAGS

REV = "0123456789abcdef0123456789abcdef01234567"
TEXTS = ["play some jazz by miles davis", "wake me up at seven", "is it raining in paris"]


@pytest.fixture
def hf_cache(tmp_path, monkeypatch, trained) -> Path:
    """The trained artifact as the HF cache holds a downloaded `org/name`, and offline mode."""
    hub = tmp_path / "hf_home" / "hub"
    repo = hub / "models--org--name"
    shutil.copytree(trained.model_dir, repo / "snapshots" / REV)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)
    monkeypatch.setenv("HF_HOME", str(hub.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub read both when it was imported: set them where it looks now
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return repo


def run_cli(monkeypatch, capsys, *args: str, stdin: str | None = None):
    monkeypatch.setattr(sys, "argv", ["polyhead", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_hub_id_from_the_hf_cache_offline_predicts_like_the_folder(hf_cache, trained):
    from_cache = polyhead.load("org/name")
    assert from_cache.path == hf_cache / "snapshots" / REV
    assert from_cache.predict(TEXTS) == polyhead.load(trained.model_dir).predict(TEXTS)
    assert polyhead.load("org/name", revision=REV).predict(TEXTS[:1]) == from_cache.predict(
        TEXTS[:1]
    )


def test_hub_id_not_cached_offline_is_one_line(hf_cache):
    with pytest.raises(polyhead.PolyheadError) as e:
        polyhead.load("org/other")
    assert str(e.value).startswith("org/other: not in the Hugging Face cache and HF_HUB_OFFLINE")
    assert "config field" not in str(e.value) and "\n" not in str(e.value)


def test_revision_of_a_local_folder_is_refused(trained):
    with pytest.raises(polyhead.PolyheadError, match="revision applies to Hub ids only"):
        polyhead.load(trained.model_dir, revision="main")


def test_cli_predict_and_evaluate_take_a_hub_id(hf_cache, trained, monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "predict", "org/name", stdin="\n".join(TEXTS))
    assert code == 0
    got = [json.loads(line) for line in out.splitlines()]
    assert got == polyhead.load(trained.model_dir).predict(TEXTS)
    data = Path(__file__).parents[2] / "src" / "polyhead" / "demo_data" / "test.jsonl"
    code, out, err = run_cli(
        monkeypatch, capsys, "evaluate", "org/name", "--data", str(data), "--json"
    )
    assert code == 0, err
    assert json.loads(out) == polyhead.load(trained.model_dir).evaluate(str(data))


class FakeHub:
    """Records what polyhead asks of huggingface_hub.HfApi."""

    calls: list[tuple[str, dict]] = []

    def __init__(self, token=None):
        self.calls.append(("init", {"token": token}))

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs):
        files = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
        self.calls.append(("upload_folder", {**kwargs, "files": files}))
        return f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHub.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    return FakeHub.calls


def uploads(calls) -> list[dict]:
    return [kw for name, kw in calls if name == "upload_folder"]


def test_push_uploads_the_model_folder(trained, fake_hub):
    url = polyhead.push_to_hub(trained.model_dir, "org/name", private=True)
    assert url == "https://huggingface.co/org/name/commit/abc"
    (upload,) = uploads(fake_hub)
    assert upload["repo_id"] == "org/name" and upload["folder_path"] == str(trained.model_dir)
    assert upload["commit_message"] == "polyhead model (intent, slots)"
    assert ("create_repo", {"repo_id": "org/name", "private": True, "exist_ok": True}) in fake_hub


def test_model_push_to_hub_uploads_its_folder_or_a_saved_copy(trained, fake_hub):
    trained.model.push_to_hub("org/name")
    polyhead.Model(trained.model.module).push_to_hub("org/copy")  # not from a folder
    first, second = uploads(fake_hub)
    assert first["folder_path"] == str(trained.model_dir)
    assert second["repo_id"] == "org/copy" and second["folder_path"] != str(trained.model_dir)
    assert {"polyhead.json", "heads.safetensors", "backbone"} <= set(second["files"])


def test_cli_push_with_a_branch(trained, fake_hub, monkeypatch, capsys):
    args = ["push", str(trained.model_dir), "org/name", "--revision", "dev", "-m", "first"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "pushed" in err and "org/name" in err
    assert ("create_branch", {"repo_id": "org/name", "branch": "dev", "exist_ok": True}) in fake_hub
    (upload,) = uploads(fake_hub)
    assert (upload["revision"], upload["commit_message"]) == ("dev", "first")


def test_push_refuses_a_damaged_or_foreign_folder(trained, fake_hub, tmp_path, monkeypatch, capsys):
    damaged = tmp_path / "model"
    shutil.copytree(trained.model_dir, damaged)
    heads = damaged / "heads.safetensors"
    heads.write_bytes(heads.read_bytes()[:-1] + b"\x00")
    code, _, err = run_cli(monkeypatch, capsys, "push", str(damaged), "org/name")
    assert code == 2 and "heads.safetensors: checksum differs" in err
    code, _, err = run_cli(monkeypatch, capsys, "push", str(tmp_path), "org/name")
    assert code == 2 and err.strip().endswith(
        "not a polyhead model (no polyhead.json); push RUN/model"
    )
    assert uploads(fake_hub) == []


def test_cli_plan_reads_hf_data_and_names_a_mistyped_column(
    tiny_bert, intent_slots, tmp_path, monkeypatch, capsys
):
    import yaml

    from tests.api.conftest import api_config

    intent_slots.save_to_disk(str(tmp_path / "intents"))
    config = api_config(tiny_bert)
    config["data"] = {"hf": "intents"}  # next to the config file
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    code, out, err = run_cli(monkeypatch, capsys, "plan", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["strategy"] == "heads"
    args = ["plan", str(path), "--set", "data.columns.label=intnet"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'intents'}: no column 'intnet' (data.columns.label); it has: "
        f"tokens (list[string]), ner_tags (list[ClassLabel: {len(TAGS)} names]), "
        f"intent (ClassLabel: {len(INTENTS)} names)"
    ]
