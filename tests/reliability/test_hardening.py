"""Issue 13, as a hostile user meets it: no foreign code runs, no path of the training machine
leaks, no silent wrong answer. Each test names the issue's item; each failed on the code before
the fix (06dfb13) and passes now."""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from polyhead.cli.app import error_line
from tests.conftest import make_tiny_backbone
from tests.reliability.cli_tools import (
    assert_one_line,
    flip_byte,
    meta,
    rehash,
    run_cli,
    save_tiny_artifact,
    strict_json,
    texts_file,
    write_meta,
)
from tests.reliability.conftest import raw_config

# ---- 1. a backbone folder's own code never runs without model.trust_remote_code ------------

PLANTED_CONFIG = {
    "model_type": "planted",
    "auto_map": {"AutoConfig": "planted.PlantedConfig", "AutoModel": "planted.PlantedModel"},
}


def plant_code(folder: Path, marker: Path) -> None:
    """A config.json transformers cannot read without running planted.py (which would create
    `marker`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(PLANTED_CONFIG))
    (folder / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\n")


@pytest.fixture()
def hf_modules(tmp_path, monkeypatch):
    """Where transformers would copy a folder's code before importing it: kept in tmp_path."""
    import transformers.dynamic_module_utils as dmu

    monkeypatch.setattr(dmu, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"), raising=False)


def stdin_of(kind: str):
    if kind == "y":
        return io.StringIO("y\n" * 10)  # a user who answers yes to transformers' question
    closed = io.StringIO()
    closed.close()
    return closed


@pytest.mark.parametrize("stdin", ["closed", "y"])
@pytest.mark.parametrize("command", ["train", "plan", "predict", "export", "serve"])
def test_1_custom_code_is_refused_by_every_command(
    rel_bert, tmp_path, monkeypatch, capsys, hf_modules, command, stdin
):
    marker = tmp_path / "pwned"
    if command in ("train", "plan"):
        plant_code(tmp_path / "remote", marker)
        cfg = tmp_path / "run.yaml"
        cfg.write_text(yaml.safe_dump(raw_config(tmp_path / "remote")))
        args = [command, cfg] + (["--out", tmp_path / "run"] if command == "train" else [])
        config_json = tmp_path / "remote" / "config.json"
    else:
        artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
        plant_code(artifact / "backbone", marker)
        rehash(artifact)
        config_json = artifact / "backbone" / "config.json"
        args = {
            "predict": ["predict", artifact, texts_file(tmp_path)],
            "export": ["export", artifact, "--format", "hf", "--out", tmp_path / "exp"],
            "serve": ["serve", artifact, "--port", "1"],
        }[command]
    if command == "serve":  # the server's loader; uvicorn never starts
        import uvicorn

        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("server started"))
    code, _, err = run_cli(monkeypatch, capsys, *args, stdin=stdin_of(stdin))
    assert not marker.exists(), "the folder's code ran"
    assert_one_line(code, err, str(config_json), "trust_remote_code")


def test_1_every_transformers_load_states_trust_remote_code():
    """Passing the setting explicitly is what keeps transformers from asking on stdin."""
    import polyhead

    root = Path(polyhead.__file__).parent
    missing = []
    for file in root.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            auto = isinstance(owner, ast.Name) and owner.id.startswith("Auto")
            stated = "trust_remote_code" in {k.arg for k in node.keywords}
            if node.func.attr == "from_pretrained" and auto and not stated:
                missing.append(f"{file.relative_to(root)}:{node.lineno}")
    assert not missing, missing


# ---- 2. task names are identifiers; the artifact's JSON never chooses code -----------------


def test_2_task_name_with_a_path_is_refused_in_the_config(tmp_path, rel_bert, monkeypatch, capsys):
    raw = raw_config(rel_bert)
    raw["tasks"]["../x"] = raw["tasks"].pop("intent")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    code, _, err = run_cli(monkeypatch, capsys, "plan", cfg)
    assert_one_line(code, err, "tasks.../x", "identifiers")


def test_2_task_name_with_a_path_is_refused_on_load(tmp_path, rel_bert, monkeypatch, capsys):
    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    data = meta(artifact)
    data["spec"]["tasks"][0]["name"] = "../x"
    write_meta(artifact, data)
    code, _, err = run_cli(monkeypatch, capsys, "predict", artifact, texts_file(tmp_path))
    assert_one_line(code, err, str(artifact / "polyhead.json"), "'../x'")


@pytest.fixture()
def planted_module(tmp_path, monkeypatch):
    """`polyhead.planted`, importable (from tmp_path); importing it creates the marker."""
    import polyhead

    (tmp_path / "pkg").mkdir()
    marker = tmp_path / "imported"
    (tmp_path / "pkg" / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.setattr(polyhead, "__path__", [*polyhead.__path__, str(tmp_path / "pkg")])
    monkeypatch.delitem(sys.modules, "polyhead.planted", raising=False)
    return marker


def test_2_unknown_part_kind_is_refused_not_imported(tmp_path, rel_bert, planted_module):
    from polyhead.model import MultiTaskModel

    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    write_meta(artifact, {**meta(artifact), "parts": ["heads", "polyhead.planted"]})
    with pytest.raises(Exception) as info:
        MultiTaskModel.load(artifact)
    assert not planted_module.exists()
    line, code = error_line(info.value)
    assert code == 2 and "polyhead.json" in line and "'polyhead.planted'" in line


def test_2_no_module_named_in_the_json_is_imported(tmp_path, rel_bert, planted_module):
    from polyhead.model import MultiTaskModel

    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    data = meta(artifact)
    data["extra"] = {**data.get("extra", {}), "extension_modules": ["polyhead.planted"]}
    write_meta(artifact, data)
    MultiTaskModel.load(artifact)
    assert not planted_module.exists()


# ---- 3. no absolute path of the training machine in what an artifact or the server shows ---


def test_3_no_training_machine_path_and_adapters_load_elsewhere(tmp_path):
    from peft import PeftModel
    from transformers import AutoModel

    from polyhead.config import PlanConfig
    from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
    from polyhead.plan import build_plan

    machine_a = tmp_path / "machine-a"
    backbone = make_tiny_backbone(machine_a / "encoder", "bert", layers=2)
    task = TaskSpec(name="intent", kind="sentence", labels=["a", "b"])
    model = MultiTaskModel(ModelSpec(backbone=str(backbone), max_length=16, tasks=[task]))
    build_plan(model, PlanConfig(strategy="lora"), epochs=1)  # adds the adapters
    model.save(machine_a / "model")
    for name in ("polyhead.json", "adapter/adapter_config.json"):
        text = (machine_a / "model" / name).read_text()
        assert str(tmp_path) not in text and sys.prefix not in text, name
    moved = shutil.copytree(machine_a / "model", tmp_path / "machine-b" / "model")
    shutil.rmtree(machine_a)
    adapter = json.loads((moved / "adapter" / "adapter_config.json").read_text())
    assert not Path(adapter["base_model_name_or_path"]).is_absolute()
    peft = PeftModel.from_pretrained(
        AutoModel.from_pretrained(moved / "backbone"), moved / "adapter"
    )
    assert any("lora_A" in n for n, _ in peft.named_parameters())
    assert MultiTaskModel.load(moved).spec.backbone == "encoder"


def test_3_metadata_shows_no_path(tmp_path, rel_bert):
    from polyhead.export.runtime import load_predictor
    from polyhead.serve.app import describe
    from polyhead.serve.settings import ServeSettings

    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    shown = describe(load_predictor(str(artifact)), str(artifact), "torch", ServeSettings())
    text = json.dumps(shown)
    assert str(tmp_path) not in text and str(rel_bert) not in text, shown
    assert shown["backbone"] == rel_bert.name


# ---- 4. no tokenizer files: refused, not trained on [UNK] ----------------------------------

TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def test_4_backbone_without_tokenizer_files(tmp_path, rel_bert, monkeypatch, capsys):
    folder = shutil.copytree(rel_bert, tmp_path / "no-tokenizer")
    for name in TOKENIZER_FILES:
        (folder / name).unlink(missing_ok=True)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(raw_config(folder)))
    code, _, err = run_cli(monkeypatch, capsys, "plan", cfg)
    assert_one_line(code, err, str(folder), "no tokenizer files", "vocab.txt")


def test_4_artifact_without_tokenizer_files(tmp_path, rel_bert, monkeypatch, capsys):
    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    for name in TOKENIZER_FILES:
        (artifact / "backbone" / name).unlink(missing_ok=True)
    rehash(artifact)  # the files are gone from the record too: only the tokenizer check is left
    code, _, err = run_cli(monkeypatch, capsys, "predict", artifact, texts_file(tmp_path))
    assert_one_line(code, err, str(artifact / "backbone"), "tokenizer.json")


# ---- 7. a checksum per file; --no-verify; a newer format is refused ------------------------


@pytest.mark.parametrize("file", ["heads.safetensors", "backbone/model.safetensors"])
def test_7_flipped_bytes_are_refused(tmp_path, rel_bert, monkeypatch, capsys, file):
    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    flip_byte(artifact / file)
    code, _, err = run_cli(monkeypatch, capsys, "predict", artifact, texts_file(tmp_path))
    assert_one_line(code, err, str(artifact / file), "checksum", "--no-verify")


@pytest.fixture()
def flipped(tmp_path, rel_bert) -> Path:
    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    flip_byte(artifact / "heads.safetensors")
    return artifact


def labelled_data(folder: Path) -> Path:
    rows = [
        {
            "tokens": ["wake", "me", "at", "five"],
            "tags": ["O", "O", "O", "B-time"],
            "label": "alarm",
        },
        {"tokens": ["play", "music"], "tags": ["O", "O"], "label": "music"},
    ]
    path = folder / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_7_no_verify_skips_the_checksum_for_each_command(flipped, tmp_path, monkeypatch, capsys):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    commands = [
        ["predict", flipped, texts_file(tmp_path)],
        ["evaluate", flipped, "--data", labelled_data(tmp_path), "--json"],
        ["export", flipped, "--format", "hf", "--out", tmp_path / "exp"],
        ["serve", flipped, "--port", "1"],
    ]
    for args in commands:
        code, _, err = run_cli(monkeypatch, capsys, *args)
        assert_one_line(code, err, "checksum")
        code, _, err = run_cli(monkeypatch, capsys, *args, "--no-verify")
        assert code == 0, (args, err)
    assert len(served) == 1


def test_7_verify_false_in_the_library(flipped):
    from polyhead.model import MultiTaskModel

    with pytest.raises(Exception, match="checksum"):
        MultiTaskModel.load(flipped)
    assert MultiTaskModel.load(flipped, verify=False).spec.tasks[0].name == "intent"


def test_7_a_newer_format_version_is_refused(tmp_path, rel_bert, monkeypatch, capsys):
    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    write_meta(artifact, {**meta(artifact), "format_version": 99})
    code, _, err = run_cli(monkeypatch, capsys, "predict", artifact, texts_file(tmp_path))
    assert_one_line(code, err, "polyhead.json", "format_version 99", "upgrade polyhead")


# ---- 16. artifact files get the usual modes (umask-respecting) -----------------------------


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_16_artifact_modes_follow_the_umask(tmp_path, rel_bert, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    finally:
        os.umask(old)
    modes = {
        p.relative_to(artifact).as_posix(): p.stat().st_mode & 0o777 for p in artifact.rglob("*")
    }
    assert artifact.stat().st_mode & 0o777 == dir_mode
    for rel, mode in modes.items():
        assert mode == (dir_mode if (artifact / rel).is_dir() else file_mode), (rel, oct(mode))


# ---- 5. evaluate on no examples: one line, exit 2 ------------------------------------------


@pytest.fixture()
def tiny_artifact(tmp_path, rel_bert) -> Path:
    return save_tiny_artifact(rel_bert, tmp_path / "model")


def test_5_evaluate_split_typo_and_missing_splits(tiny_artifact, tmp_path, monkeypatch, capsys):
    rows = [
        {"tokens": ["wake", "up"], "tags": ["O", "O"], "label": "alarm", "split": "test"},
        {"tokens": ["play", "it"], "tags": ["O", "O"], "label": "music", "split": "train"},
    ]
    with_splits = tmp_path / "splits.jsonl"
    with_splits.write_text("".join(json.dumps(r) + "\n" for r in rows))
    no_splits = labelled_data(tmp_path)
    code, _, err = run_cli(
        monkeypatch, capsys, "evaluate", tiny_artifact, "--data", with_splits, "--split", "tset"
    )
    assert_one_line(code, err, str(with_splits), "'tset'", "['test', 'train']")
    code, _, err = run_cli(
        monkeypatch, capsys, "evaluate", tiny_artifact, "--data", no_splits, "--split", "test"
    )
    assert_one_line(code, err, str(no_splits), "no split", "--split")
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "evaluate",
        tiny_artifact,
        "--data",
        with_splits,
        "--split",
        "test",
        "--json",
    )
    assert code == 0 and json.loads(out)["intent"]["n"] == 1


def test_5_evaluate_header_only_csv(tiny_artifact, tmp_path, monkeypatch, capsys):
    csv = tmp_path / "empty.csv"
    csv.write_text("text,label\n")
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", tiny_artifact, "--data", csv)
    assert_one_line(code, err, str(csv), "no examples")


# ---- 6. evaluate scores every task on the rows that label it -------------------------------


def test_6_partly_labelled_rows_score_each_task(tiny_artifact, tmp_path, monkeypatch, capsys):
    from polyhead.data import read_examples
    from polyhead.engine.evaluation import evaluate_examples
    from polyhead.model import MultiTaskModel

    rows = [
        {
            "tokens": ["wake", "me", "at", "five"],
            "tags": ["O", "O", "O", "B-time"],
            "label": "alarm",
        },
        {"tokens": ["play", "music"], "tags": ["O", "O"]},  # no intent label
        {"tokens": ["at", "six", "pm"], "label": "alarm"},  # no slot tags
        {"tokens": ["some", "jazz"], "tags": ["O", "O"], "label": "music"},
    ]
    path = tmp_path / "partial.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = run_cli(
        monkeypatch, capsys, "evaluate", tiny_artifact, "--data", path, "--json"
    )
    assert code == 0, err
    got = strict_json(out)
    assert (got["intent"]["n"], got["slots"]["n"]) == (3, 3)
    # each task's numbers are those of its labelled rows alone
    model = MultiTaskModel.load(tiny_artifact)
    examples = read_examples(path)
    intent_only = evaluate_examples(model, [ex for ex in examples if ex.label is not None])
    slots_only = evaluate_examples(model, [ex for ex in examples if ex.tags is not None])
    assert got["intent"]["accuracy"] == intent_only["intent"]["accuracy"]
    assert got["slots"]["f1"] == slots_only["slots"]["f1"]


# ---- 15. NaN never reaches JSON output -----------------------------------------------------


def test_15_evaluate_json_has_no_nan(tiny_artifact, tmp_path, monkeypatch, capsys):
    import polyhead.engine.evaluation as evaluation

    monkeypatch.setattr(
        evaluation, "evaluate_examples", lambda *a, **k: {"intent": {"accuracy": float("nan")}}
    )
    args = ["evaluate", tiny_artifact, "--data", labelled_data(tmp_path), "--json"]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert strict_json(out) == {"intent": {"accuracy": None}}


def test_15_predict_output_has_no_nan(tmp_path, rel_bert, monkeypatch, capsys):
    from safetensors.torch import load_file, save_file

    artifact = save_tiny_artifact(rel_bert, tmp_path / "model")
    state = load_file(artifact / "heads.safetensors")
    state = {k: v.fill_(float("nan")) if k.startswith("intent.") else v for k, v in state.items()}
    save_file(state, artifact / "heads.safetensors")
    rehash(artifact)
    args = ["predict", artifact, texts_file(tmp_path), "--embeddings"]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    items = [strict_json(line) for line in out.splitlines()]
    assert len(items) == 2 and items[0]["intent"]["score"] is None


# ---- 17. sentence-transformers export of a layer selection ---------------------------------


def test_17_sentence_transformers_export_refuses_a_layer_selection(
    tmp_path, rel_bert, monkeypatch, capsys
):
    from polyhead.model.spec import LayerSelection

    layers = LayerSelection.model_validate("last2_concat")
    artifact = save_tiny_artifact(rel_bert, tmp_path / "model", layers=layers)
    out = tmp_path / "st"
    args = ["export", artifact, "--format", "sentence-transformers", "--out", out]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert_one_line(code, err, "features.layers", "last2_concat")
    assert not out.exists()


# ---- 18. compare runs where `resource` does not exist (Windows) ----------------------------


def test_18_compare_imports_without_resource(monkeypatch):
    """compare's own modules, imported afresh where `resource` cannot be imported (the
    engine and its dependencies, psutil's POSIX part included, are loaded already)."""
    import importlib

    import polyhead.engine.train  # noqa: F401

    monkeypatch.setitem(sys.modules, "resource", None)
    for name in ("polyhead.compare.runner", "polyhead.compare.worker", "polyhead.cli.compare"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.import_module("polyhead.compare.runner")
    importlib.import_module("polyhead.compare.worker")


def test_18_peak_memory_sees_an_allocation():
    """The sampling thread sees a 200 MB block that is freed before the block ends."""
    import time

    from polyhead.compare.runner import PeakMemory

    with PeakMemory(interval=0.01) as peak:
        block = bytearray(200 * 2**20)
        block[::4096] = b"x" * len(block[::4096])  # touched: resident
        for _ in range(500):  # until the thread has sampled it (no time is asserted)
            if peak.mb - peak.start_mb >= 150:
                break
            time.sleep(0.01)
        del block
    assert peak.mb - peak.start_mb >= 150
