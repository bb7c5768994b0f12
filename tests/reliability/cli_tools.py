"""Helpers for the hardening tests: the real `polyhead` command run in this process, a tiny
saved artifact, and edits to an artifact that keep (or deliberately break) its checksums."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

INTENTS = ["alarm", "music"]
SLOTS = ["O", "B-time", "I-time"]
TEXTS = "wake me at five\nplay some music\n"


def run_cli(monkeypatch, capsys, *args, stdin=None) -> tuple[int, str, str]:
    """`polyhead ARGS` through its main() in this process: (exit code, stdout, stderr)."""
    from polyhead.cli import main

    monkeypatch.setattr(sys, "argv", ["polyhead", *map(str, args)])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", stdin)
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line(code: int, err: str, *expected: str) -> str:
    """Exit 2, one `error: ...` line on stderr holding every `expected` piece, no traceback."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    for piece in expected:
        assert piece in lines[0], (piece, lines[0])
    return lines[0]


def save_tiny_artifact(backbone: Path, folder: Path, seed: int = 0, **spec) -> Path:
    """intent (sentence) + slots (token) heads with random weights on `backbone`."""
    from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec

    torch.manual_seed(seed)
    tasks = [
        TaskSpec(name="intent", kind="sentence", labels=INTENTS),
        TaskSpec(name="slots", kind="token", labels=SLOTS),
    ]
    model = MultiTaskModel(ModelSpec(backbone=str(backbone), max_length=16, tasks=tasks, **spec))
    model.save(folder)
    return folder


def meta(artifact: Path) -> dict:
    return json.loads((artifact / "polyhead.json").read_text())


def write_meta(artifact: Path, value) -> None:
    (artifact / "polyhead.json").write_text(json.dumps(value, indent=2))


def rehash(artifact: Path) -> None:
    """Record the current sha256 of every listed file (an edit made on purpose, so that the
    loader's own checks are what the test meets, not the checksum)."""
    data = meta(artifact)
    if "files" not in data:
        return  # written by a polyhead without checksums
    data["files"] = {
        rel: hashlib.sha256((artifact / rel).read_bytes()).hexdigest()
        for rel in data["files"]
        if (artifact / rel).is_file()
    }
    write_meta(artifact, data)


def flip_byte(file: Path, offset_from_end: int = 5) -> None:
    """Change one byte of the tensor data (the end of a safetensors file; the header is first)."""
    raw = bytearray(file.read_bytes())
    raw[-offset_from_end] ^= 0xFF
    file.write_bytes(bytes(raw))


def texts_file(folder: Path) -> Path:
    path = folder / "texts.txt"
    path.write_text(TEXTS)
    return path


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity, as standard JSON parsers elsewhere do."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)
