"""Bad input, exhaustively: every malformed file or config gives one line that names the
file:line or the config field and what was expected, exit code 2, and no traceback
(`polyhead --debug` shows it).

Most cases call the library and pass the exception through the CLI's own `error_line`, the
function `polyhead`'s main() prints with; a representative handful run the real command.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from polyhead.cli.app import error_line
from polyhead.config import PlanConfig, load_config
from polyhead.data import read_examples
from tests.reliability import cli_tools
from tests.reliability.cli_tools import (
    meta,
    rehash,
    run_cli,
    save_tiny_artifact,
    texts_file,
    write_meta,
)
from tests.reliability.conftest import raw_config, write_config


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read(name: str, content, **kwargs):
    def run(tmp: Path):
        path = write(tmp / name, content)
        read_examples(path, **kwargs)

    return run


def with_config(**overrides):
    """load_config on a valid YAML file with dotted overrides (what --set does)."""

    def run(tmp: Path):
        path = tmp / "run.yaml"
        path.write_text(yaml.safe_dump(raw_config(tmp / "backbone")))
        load_config(path, [f"{k}={v}" for k, v in overrides.items()])

    return run


def plan_on_tiny_model(**plan):
    def run(tmp: Path, backbone: Path):
        from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
        from polyhead.plan import build_plan

        task = TaskSpec(name="intent", kind="sentence", labels=["a", "b"])
        model = MultiTaskModel(ModelSpec(backbone=str(backbone), tasks=[task]))
        build_plan(model, PlanConfig(**plan), epochs=3)

    return run


M = '{"utt": "wake me at five", "annot_utt": "wake me at [time : five", "intent": "alarm"}\n'

# (case, action, where, what was expected). `where` is the file name + ":line" or the field.
CASES = [
    ("conll: token/tag count", read("a.conll", "a\tO\nb\tO\tX\n"), "a.conll:2", "expected 2"),
    ("conll: tag outside BIO", read("a.conll", "a\tO\nb\tPER\n"), "a.conll:2", "B-<type>"),
    ("conll: non-UTF-8", read("a.conll", b"a\tO\n\n\xe9t\xe9\tO\n"), "a.conll:3", "UTF-8"),
    ("conll: empty file", read("a.conll", ""), "a.conll:1", "at least one example"),
    ("conll: only whitespace", read("a.conll", " \n\t\n"), "a.conll:1", "at least one"),
    (
        "conll: only -DOCSTART-",
        read("a.conll", "-DOCSTART- -X- O O\n\n"),
        "a.conll:1",
        "token lines",
    ),
    (
        "conll: tag column missing",
        read("a.conll", "a\tO\n", tag_column=4),
        "a.conll:1",
        "tag_column",
    ),
    (
        "conll: strict BIO orphan I-",
        read("a.conll", "a\tO\nb\tI-LOC\n", strict_bio=True),
        "a.conll:2",
        "expected B-LOC",
    ),
    ("jsonl: broken line", read("a.jsonl", '{"text": "a"}\n{"text": \n'), "a.jsonl:2", "JSON"),
    ("jsonl: missing fields", read("a.jsonl", '{"label": "x"}\n'), "a.jsonl:1", "'text'"),
    (
        "jsonl: wrong type",
        read("a.jsonl", '{"text": "a b", "label": {"x": 1}}\n'),
        "a.jsonl:1",
        "expected a string, a number, or a list",
    ),
    (
        "jsonl: tags/tokens count",
        read("a.jsonl", '{"tokens": ["a", "b"], "tags": ["O"]}\n'),
        "a.jsonl:1",
        "one tag per token",
    ),
    ("jsonl: not an object", read("a.jsonl", "[1, 2]\n"), "a.jsonl:1", "expected an object"),
    (
        "jsonl: entity out of range",
        read("a.jsonl", '{"text": "ab", "entities": [[0, 9, "X"]]}\n'),
        "a.jsonl:1",
        "end <= 2",
    ),
    ("massive: bracket never closed", read("m.jsonl", M), "m.jsonl:1", "never closed"),
    (
        "massive: missing intent",
        read("m.jsonl", '{"utt": "a", "annot_utt": "a"}\n', format="massive"),
        "m.jsonl:1",
        "'intent'",
    ),
    (
        "csv: no label column",
        read("a.csv", "text,topic\nhello,x\n"),
        "a.csv:1",
        "no label column",
    ),
    (
        "csv: quoted newline never closed",
        read("a.csv", 'text,label\n"hello\nworld,x\n'),
        "a.csv:2",
        "quoted fields closed",
    ),
    ("csv: short record", read("a.csv", "text,label\nhello\n"), "a.csv:2", "expected 2"),
    ("data path missing", lambda tmp: read_examples(tmp / "none.conll"), "none.conll", "no such"),
    ("unknown strategy", with_config(**{"plan.strategy": "fastest"}), "plan.strategy", "full"),
    ("negative LR", with_config(**{"plan.head_lr": -0.1}), "plan.head_lr", "greater than 0"),
    ("unknown head", with_config(**{"plan.frozen_heads": "[nope]"}), "frozen_heads", "intent"),
    ("misspelt field", with_config(**{"trainer.epoch": 3}), "trainer.epoch", "unknown field"),
    ("wrong type", with_config(**{"trainer.epochs": "many"}), "trainer.epochs", "integer"),
    ("top-k without k", with_config(**{"plan.strategy": "top-k"}), "plan.k", "needs k"),
    ("not a mapping", with_config(**{"trainer": 3}), "trainer", "dictionary"),
    ("bad on_nonfinite", with_config(**{"trainer.on_nonfinite": "ignore"}), "on_nonfinite", "skip"),
]

MODEL_CASES = [
    ("k above the layer count", plan_on_tiny_model(strategy="top-k", k=5), "plan.k", "at most 2"),
    (
        "unknown frozen group",
        plan_on_tiny_model(strategy="custom", frozen_groups=["layer_9"]),
        "plan.frozen_groups",
        "layer_1",
    ),
]


def assert_one_line(exc: BaseException, where: str, expected: str) -> None:
    shown = error_line(exc)
    assert shown is not None, f"{type(exc).__name__} would print a traceback: {exc}"
    line, code = shown
    assert code == 2 and "\n" not in line and line.startswith("error: "), line
    assert where in line and expected in line, line


@pytest.mark.parametrize(("case", "action", "where", "expected"), CASES, ids=[c[0] for c in CASES])
def test_malformed_input_gives_one_line(tmp_path, case, action, where, expected):
    with pytest.raises(Exception) as info:
        action(tmp_path)
    assert_one_line(info.value, where, expected)


@pytest.mark.parametrize(
    ("case", "action", "where", "expected"), MODEL_CASES, ids=[c[0] for c in MODEL_CASES]
)
def test_plan_errors_give_one_line(tmp_path, rel_bert, case, action, where, expected):
    with pytest.raises(Exception) as info:
        action(tmp_path, rel_bert)
    assert_one_line(info.value, where, expected)


def test_tab_only_lines_crlf_and_bom_are_read_not_rejected(tmp_path):
    """Not errors: a lone TAB line ends a sentence, CRLF and a byte-order mark are dropped."""
    path = write(tmp_path / "a.conll", b"\xef\xbb\xbfa\tB-X\r\nb\tI-X\r\n\t\r\nc\tO\r\n")
    examples = read_examples(path)
    assert [ex.tokens for ex in examples] == [["a", "b"], ["c"]]
    assert [ex.tags for ex in examples] == [["B-X", "I-X"], ["O"]]
    csv = write(tmp_path / "q.csv", 'text,label\r\n"two\r\nlines",x\r\n')
    assert read_examples(csv)[0].tokens == ["two", "lines"]


def test_unwritable_output_directory(tmp_path):
    from polyhead.engine.rundir import prepare_run_dir

    blocker = write(tmp_path / "a-file", "")
    with pytest.raises(Exception) as info:
        prepare_run_dir(blocker / "run")
    assert_one_line(info.value, f"{blocker}/run", "not writable")


def test_resume_without_a_checkpoint(tmp_path):
    from polyhead.engine.rundir import prepare_run_dir

    with pytest.raises(Exception) as info:
        prepare_run_dir(tmp_path, resume=True)
    assert_one_line(info.value, str(tmp_path), "nothing to resume")


def test_os_errors_are_one_line_too():
    line, code = error_line(FileNotFoundError(2, "No such file or directory", "/x/y.yaml"))
    assert (line, code) == ("error: /x/y.yaml: No such file or directory", 2)
    assert error_line(KeyError("a bug")) is None  # our bugs keep their traceback


# ---- the real command ----------------------------------------------------------------------


def polyhead(*args, timeout=120):
    cmd = [sys.executable, "-m", "polyhead.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_cli_config_error_is_one_line_and_debug_shows_the_traceback(tmp_path, rel_bert):
    cfg = write_config(tmp_path, rel_bert)
    proc = polyhead("train", cfg, "--set", "plan.strategy=fastest")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: config field 'plan.strategy': got 'fastest'; Input should be 'frozen', "
        "'heads', 'freeze-head', 'top-k', 'full', 'gradual', 'custom' or 'lora'"
    ]
    debug = polyhead("--debug", "train", cfg, "--set", "plan.strategy=fastest")
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_cli_missing_config_and_bad_data(tmp_path):
    proc = polyhead("train", tmp_path / "none.yaml")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr
    bad = write(tmp_path / "bad.conll", "a\tO\nb\tPER\n")
    proc = polyhead("evaluate", tmp_path / "no-model", "--data", bad)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: {bad}:2: tag 2 is 'PER'; expected O, B-<type>, I-<type>, E-<type>, "
        "S-<type>, L-<type> or U-<type>"
    )


def test_cli_missing_data_path_and_unwritable_out(tmp_path, rel_bert, monkeypatch, capsys):
    """The training command's own error paths, through main() in this process (importing
    Lightning in a fresh process costs more than the check)."""
    from polyhead.cli import main

    def run(*args) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["polyhead", *map(str, args)])
        with pytest.raises(SystemExit) as info:
            main()
        return info.value.code, capsys.readouterr().err.strip()

    cfg = write_config(tmp_path, rel_bert)
    code, err = run("train", cfg, "--set", "data.dev=nowhere/dev.jsonl", "--out", tmp_path / "r1")
    assert code == 2 and "dev.jsonl: no such file or directory; expected a data file" in err
    assert len(err.splitlines()) == 1
    blocker = write(tmp_path / "blocker", "")
    code, err = run("train", cfg, "--out", blocker / "run")
    assert code == 2 and err.startswith(f"error: {blocker}/run: output directory is not writable")


def test_a_bad_flag_value_is_a_usage_line_not_a_traceback(monkeypatch, capsys, tmp_path):
    """typer >= 0.29 raises its bundled click's errors; they are usage errors all the same."""
    import sys

    from polyhead.cli import main

    monkeypatch.setattr(
        sys, "argv", ["polyhead", "train", str(tmp_path / "x.yaml"), "--num-nodes", "0"]
    )
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--num-nodes" in err and "Traceback" not in err


# ---- the traceback list (issue 13): each is one line, exit 2, naming the file or field -----

TRAIN, PREDICT = "train", "predict"


def on_train(*sets: str):
    """`polyhead train CONFIG --set ... --out RUN`; `sets` may use {tmp}."""

    def build(tmp: Path, backbone: Path, monkeypatch=None):
        cfg = write_config(tmp, backbone, epochs=1)
        overrides = [a for s in sets for a in ("--set", s.format(tmp=tmp))]
        return [TRAIN, cfg, *overrides, "--out", tmp / "run"]

    return build


def on_artifact(damage, *flags: str):
    """`polyhead predict ARTIFACT texts.txt FLAGS` after `damage(artifact)`."""

    def build(tmp: Path, backbone: Path, monkeypatch=None):
        artifact = save_tiny_artifact(backbone, tmp / "model")
        damage(artifact)
        return [PREDICT, artifact, texts_file(tmp), *flags]

    return build


def truncate(rel: str):
    def damage(artifact: Path):
        raw = (artifact / rel).read_bytes()
        (artifact / rel).write_bytes(raw[: len(raw) // 2])

    return damage


def replace_with(rel: str, content: bytes):
    return lambda artifact: (artifact / rel).write_bytes(content)


def symlink(rel: str, target: str | None):
    """`rel` becomes a link to `target` (None: to itself, a loop)."""

    def damage(artifact: Path):
        (artifact / rel).unlink()
        (artifact / rel).symlink_to(target or artifact / rel)

    return damage


def drop_head_tensor(artifact: Path):
    from safetensors.torch import load_file, save_file

    state = load_file(artifact / "heads.safetensors")
    state.pop("intent.net.1.bias")
    save_file(state, artifact / "heads.safetensors")
    rehash(artifact)


def extra_label(artifact: Path):
    data = meta(artifact)
    data["spec"]["tasks"][0]["labels"].append("weather")
    write_meta(artifact, data)


def no_config_json(artifact: Path):
    (artifact / "backbone" / "config.json").unlink()
    rehash(artifact)


def symlink_loop_data(tmp: Path, backbone: Path, monkeypatch=None):
    (tmp / "loop.jsonl").symlink_to(tmp / "loop.jsonl")
    return on_train("data.train={tmp}/loop.jsonl")(tmp, backbone)


def unlabelled_evaluate(tmp: Path, backbone: Path, monkeypatch=None):
    artifact = save_tiny_artifact(backbone, tmp / "model")
    data = tmp / "texts.jsonl"
    data.write_text('{"text": "wake me at five"}\n{"text": "play music"}\n')
    return ["evaluate", artifact, "--data", data]


def backbone_without_config(tmp: Path, backbone: Path, monkeypatch=None):
    folder = shutil.copytree(backbone, tmp / "no-config")
    (folder / "config.json").unlink()
    return on_train(f"model.backbone={folder}")(tmp, backbone)


def disk_full(tmp: Path, backbone: Path, monkeypatch):
    """The disk fills up as the first artifact is saved (its polyhead.json, written last)."""
    real = Path.write_text

    def write_text(self, *args, **kwargs):
        if self.name == "polyhead.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    return on_train()(tmp, backbone)


MARKER = "constructed"
TRACEBACK_CASES = [
    (
        "backbone path missing",
        on_train("model.backbone={tmp}/nowhere"),
        ["model.backbone", "nowhere"],
    ),
    ("hub name offline", on_train("model.backbone=no-such-org/no-such-model"), ["HF_HUB_OFFLINE"]),
    ("max_length above positions", on_train("model.max_length=300"), ["model.max_length", "256"]),
    (
        "bad accelerator",
        on_train("trainer.accelerator=quantum"),
        ["trainer.accelerator", "quantum"],
    ),
    ("bad devices", on_train("trainer.devices=0"), ["trainer.devices"]),
    ("bad devices text", on_train("trainer.devices=many"), ["trainer.devices", "many"]),
    ("bad precision", on_train("trainer.precision=fp13"), ["trainer.precision", "fp13"]),
    ("bad strategy", on_train("trainer.strategy=warp"), ["trainer.strategy", "warp"]),
    ("seed too large", on_train("trainer.seed=4294967296"), ["trainer.seed", "4294967295"]),
    ("seed negative", on_train("trainer.seed=-1"), ["trainer.seed"]),
    ("override: unclosed list", on_train("model.max_length=["), ["model.max_length", "YAML"]),
    ("override: reserved character", on_train("plan.head_lr=@x"), ["plan.head_lr", "YAML"]),
    (
        "override: unsafe YAML tag",
        on_train(f"trainer.seed=!!python/object/apply:os.system ['touch {{tmp}}/{MARKER}']"),
        ["trainer.seed", "python/object"],
    ),
    ("data path is a symlink loop", symlink_loop_data, ["loop.jsonl", "symbolic link"]),
    ("backbone without config.json", backbone_without_config, ["no-config", "config.json"]),
    ("evaluate: unlabelled data", unlabelled_evaluate, ["texts.jsonl", "no labels"]),
    (
        "truncated backbone weights",
        on_artifact(truncate("backbone/model.safetensors"), "--no-verify"),
        ["backbone/model.safetensors"],
    ),
    (
        "truncated head weights",
        on_artifact(truncate("heads.safetensors"), "--no-verify"),
        ["heads.safetensors"],
    ),
    (
        "empty head weights",
        on_artifact(replace_with("heads.safetensors", b""), "--no-verify"),
        ["heads.safetensors"],
    ),
    (
        "backbone weights not safetensors",
        on_artifact(replace_with("backbone/model.safetensors", b"PK\x03\x04 a zip"), "--no-verify"),
        ["backbone/model.safetensors"],
    ),
    (
        "weights linked to a device",
        on_artifact(symlink("heads.safetensors", "/dev/zero")),
        ["heads.safetensors", "not a regular file"],
    ),
    (
        "weights linked to a device, --no-verify",
        on_artifact(symlink("heads.safetensors", "/dev/zero"), "--no-verify"),
        ["heads.safetensors", "not a regular file"],
    ),
    (
        "weights a symlink loop",
        on_artifact(symlink("backbone/model.safetensors", None), "--no-verify"),
        ["backbone/model.safetensors"],
    ),
    (
        "head tensor missing",
        on_artifact(drop_head_tensor),
        ["heads.safetensors", "'intent'", "no tensor intent.net.1.bias"],
    ),
    (
        "label count differs",
        on_artifact(extra_label),
        ["heads.safetensors", "intent.net.1.weight is (2, 32) in the file", "need (3, 32)"],
    ),
    (
        "polyhead.json not an object",
        on_artifact(replace_with("polyhead.json", b"[1, 2]")),
        ["polyhead.json"],
    ),
    (
        "polyhead.json without spec",
        on_artifact(replace_with("polyhead.json", b'{"format_version": 2}')),
        ["polyhead.json", "spec"],
    ),
    ("artifact backbone without config.json", on_artifact(no_config_json), ["config.json"]),
    ("disk full while saving", disk_full, ["run/model", "disk full", "needs about", "MB"]),
]


@pytest.mark.parametrize(
    ("case", "build", "expected"), TRACEBACK_CASES, ids=[c[0] for c in TRACEBACK_CASES]
)
def test_traceback_list_is_one_line(tmp_path, rel_bert, monkeypatch, capsys, case, build, expected):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing here may reach the network
    args = build(tmp_path, rel_bert, monkeypatch)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    cli_tools.assert_one_line(code, err, *expected)
    assert not (tmp_path / MARKER).exists()
    run = tmp_path / "run"
    if build is disk_full:  # nothing half-written: no model, no temporary folder
        assert run.is_dir() and not [p for p in run.iterdir() if "model" in p.name]
    elif args[0] == TRAIN:  # refused before anything is written to --out
        assert not run.exists()


def test_data_errors_come_before_the_weights_load(tmp_path, rel_bert, monkeypatch, capsys):
    """`train` reads the data before it loads the backbone's weights: a bad data line is what
    the user hears about, even when the weights could not load."""
    backbone = shutil.copytree(rel_bert, tmp_path / "backbone")
    (backbone / "model.safetensors").write_bytes(b"not weights")
    bad = write(tmp_path / "bad.jsonl", '{"text": "a", "label": "x"}\n{"text": \n')
    cfg = write_config(tmp_path, backbone, epochs=1)
    args = ["train", cfg, "--set", f"data.train={bad}", "--out", tmp_path / "run"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    cli_tools.assert_one_line(code, err, f"{bad}:2", "invalid JSON")
    assert not (tmp_path / "run").exists()
