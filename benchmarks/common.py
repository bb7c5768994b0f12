"""Helpers shared by the benchmark scripts: data location, timing, tables, versions, JSON.

Benchmarks are scripts, not tests: each prints a table and ratios against a baseline measured
in the same process, and can write its numbers as JSON next to it (benchmarks/results/).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data or $POLYHEAD_SHARED_DATA (read-only real data; never
    copied into the repo)."""
    root = os.environ.get("POLYHEAD_SHARED_DATA")  # a git worktree's data lives elsewhere
    path = (Path(root) if root else REPO_ROOT.parent / "shared" / "data").joinpath(*parts)
    if not path.exists():
        sys.exit(f"{path}: not found (benchmarks read real data from ../shared/data)")
    return path


@contextmanager
def timed(into: dict, key: str):
    """Wall-clock seconds of the block, stored as into[key] (also when the block raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        into[key] = time.perf_counter() - start


def machine() -> dict:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def versions(*packages: str) -> dict[str, str]:
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table (prints readably and pastes into BENCHMARKS.md as is)."""

    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_json(name: str, payload: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
