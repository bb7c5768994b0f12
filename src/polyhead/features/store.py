"""The on-disk feature cache: one folder per entry, arrays as memory-mapped `.npy` files.

    <root>/features/<kind>-<key[:24]>/
        meta.json     key, key parts, a description, and per array: shape, dtype, bytes, sha256
        pooled.npy    (N, F) pooled features, one row per example
        tokens.npy    (S, F) per-token states of all examples, concatenated (S = total tokens)
        offsets.npy   (N + 1,) int64: example i is tokens[offsets[i]:offsets[i + 1]]

An entry is written in a temporary sibling folder and renamed into place, so a reader sees a
complete entry or none, and two runs building the same entry cannot corrupt it: the first
rename wins and the other copy is discarded. Opening checks every file's size and sha256; an
entry that fails is rebuilt with a warning. `.npy` because numpy memory-maps it directly
(`np.load(mmap_mode="r")`, never unpickling), and anyone can inspect it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from polyhead.features.keys import sha256_file

log = logging.getLogger("polyhead")

ROOT_ENV = "POLYHEAD_CACHE"
META = "meta.json"
ArraySpecs = dict[str, tuple[tuple[int, ...], str]]  # name -> (shape, dtype)


def cache_root(directory: str | os.PathLike | None = None) -> Path:
    """`directory`, else $POLYHEAD_CACHE, else ~/.cache/polyhead; entries live in `features/`."""
    base = directory or os.environ.get(ROOT_ENV) or Path.home() / ".cache" / "polyhead"
    return Path(base).expanduser() / "features"


class FeatureStore:
    """get(): the arrays of an entry, built once by `build` when missing or damaged.

    With `root=None` (cache disabled) arrays are built in memory and nothing is written.
    """

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None
        self.hits = self.misses = self.rebuilt = 0

    def get(
        self,
        key: str,
        kind: str,
        describe: dict,
        specs: ArraySpecs,
        build: Callable[[dict[str, np.ndarray]], None],
        parts: dict | None = None,
    ) -> dict[str, np.ndarray]:
        if self.root is None:
            arrays = {name: np.zeros(shape, dtype) for name, (shape, dtype) in specs.items()}
            build(arrays)
            self.misses += 1
            return arrays
        path = self.root / f"{kind}-{key[:24]}"
        if path.exists():
            arrays, problem = open_entry(path, key)
            if problem is None:
                self.hits += 1
                return arrays
            log.warning("feature cache entry %s is unusable (%s); rebuilding it", path, problem)
            self.rebuilt += 1
            remove_entry(path)
        self.misses += 1
        meta = {"key": key, "kind": kind, "describe": describe, "parts": parts or {}}
        return self._build(path, meta, specs, build)

    def _build(self, path: Path, meta: dict, specs: ArraySpecs, build) -> dict[str, np.ndarray]:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            arrays = {
                name: _create(tmp / f"{name}.npy", shape, dtype)
                for name, (shape, dtype) in specs.items()
            }
            build(arrays)
            for a in arrays.values():
                if isinstance(a, np.memmap):
                    a.flush()
            del arrays  # close the writable maps before hashing and renaming
            meta["created"] = time.strftime("%Y-%m-%d %H:%M:%S")
            meta["arrays"] = {name: _file_meta(tmp / f"{name}.npy", *specs[name]) for name in specs}
            (tmp / META).write_text(json.dumps(meta, indent=2))
            _publish(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        arrays, problem = open_entry(path, meta["key"], verify=False)
        if problem is not None:
            raise OSError(f"feature cache entry {path} unreadable right after writing: {problem}")
        return arrays


def _create(path: Path, shape, dtype) -> np.ndarray:
    if 0 in shape:  # an empty file cannot be memory-mapped
        np.save(path, np.zeros(shape, dtype))
        return np.load(path)
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape))


def _file_meta(path: Path, shape, dtype) -> dict:
    return {
        "shape": list(shape),
        "dtype": np.dtype(dtype).name,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def _publish(tmp: Path, path: Path) -> None:
    """Rename into place; if a concurrent run published the same entry first, keep theirs."""
    try:
        os.rename(tmp, path)
    except OSError:
        if not path.exists():
            raise
        log.info("feature cache entry %s was written by another run; using it", path.name)


def open_entry(path: Path, key: str | None = None, verify: bool = True):
    """(arrays, None) for a sound entry, or (None, what is wrong)."""
    try:
        meta = json.loads((path / META).read_text())
        files = meta["arrays"]
    except (OSError, ValueError, KeyError):
        return None, f"{META} missing or unreadable"
    if key is not None and meta.get("key") != key:
        return None, "key does not match"
    arrays = {}
    for name, info in files.items():
        f = path / f"{name}.npy"
        problem = _check_file(f, info, verify)
        if problem:
            return None, problem
        mmap = "r" if np.prod(info["shape"]) else None
        try:
            arrays[name] = np.load(f, mmap_mode=mmap, allow_pickle=False)
        except (OSError, ValueError) as e:
            return None, f"{f.name}: {e}"
        if list(arrays[name].shape) != info["shape"] or arrays[name].dtype.name != info["dtype"]:
            return None, f"{f.name}: shape or dtype differs from {META}"
    return arrays, None


def _check_file(f: Path, info: dict, verify: bool) -> str | None:
    if not f.exists():
        return f"{f.name} missing"
    size = f.stat().st_size
    if size != info["bytes"]:
        return f"{f.name} has {size} bytes, expected {info['bytes']} (truncated?)"
    if verify and sha256_file(f) != info["sha256"]:
        return f"{f.name} checksum mismatch"
    return None


def remove_entry(path: Path) -> None:
    """Rename away first, so no reader ever opens a half-deleted entry."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def list_entries(root: Path, verify: bool = False) -> list[dict]:
    """Every entry (and leftover temporary folder) with its size and state, oldest first."""
    if not root.exists():
        return []
    out = []
    for path in sorted(root.iterdir()):
        if not path.is_dir():
            continue
        info = {"name": path.name, "path": str(path), "bytes": folder_bytes(path)}
        if path.name.startswith("."):
            info.update(kind="temporary", state="leftover", describe={}, created="")
        else:
            _, problem = open_entry(path, verify=verify)
            try:
                meta = json.loads((path / META).read_text())
            except (OSError, ValueError):
                meta = {}
            info.update(
                kind=meta.get("kind", "?"),
                state=problem or "ok",
                describe=meta.get("describe", {}),
                created=meta.get("created", ""),
            )
        out.append(info)
    return sorted(out, key=lambda e: e["created"])


def clear_entries(root: Path, names: list[str] | None = None) -> tuple[int, int]:
    """Remove the named entries (all when `names` is None); (entries removed, bytes freed)."""
    if not root.exists():
        return 0, 0
    targets = [p for p in root.iterdir() if p.is_dir()]
    if names is not None:
        wanted = set(names)
        missing = wanted - {p.name for p in targets}
        if missing:
            from polyhead.errors import PolyheadError

            raise PolyheadError(f"no cache entry named {', '.join(sorted(missing))} in {root}")
        targets = [p for p in targets if p.name in wanted]
    freed = 0
    for p in targets:
        freed += folder_bytes(p)
        remove_entry(p) if not p.name.startswith(".") else shutil.rmtree(p, ignore_errors=True)
    return len(targets), freed
