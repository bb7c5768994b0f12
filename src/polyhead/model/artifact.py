"""The artifact: a directory anyone can inspect.

    polyhead.json        format version, spec (tasks, labels, pooling, max length), the parts
                         it holds, a sha256 per file, versions, extras (plan, classifiers)
    backbone/            HF-format backbone (config.json, model.safetensors) + tokenizer
    heads.safetensors    every trained head, keyed `<task>.<param>`        (part "heads")
    adapter/             LoRA adapters in PEFT's format                    (part "lora")
    external/            fitted external classifiers as plain arrays       (part "external")

Written to a temporary sibling directory and renamed into place, so a crash mid-save never
leaves a half-written artifact where a good one was. Loading reads safetensors and JSON only,
checks every file against its recorded sha256 (flipped bytes are refused), and finds each part
in a fixed table of kinds (polyhead.model.parts).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open

from polyhead.card import render_card
from polyhead.errors import PolyheadError
from polyhead.model.backbone import portable_name, quiet_hf
from polyhead.model.parts import save_parts
from polyhead.version import __version__

META_FILE = "polyhead.json"
CARD_FILE = "README.md"
FORMAT_VERSION = 2  # 2: `parts` and `files` (sha256) in polyhead.json


def _versions() -> dict[str, str]:
    import transformers

    return {
        "polyhead": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def save_artifact(
    model, path, extra: dict | None = None, reuse_backbone: Path | None = None
) -> Path:
    """`reuse_backbone`: an artifact's backbone/ holding exactly this model's backbone (a run
    whose backbone never trains): its files are hard-linked instead of written again."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        _write(model, tmp, extra or {}, reuse_backbone, path.name)
        _plain_permissions(tmp)
        replace_dir(tmp, path)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno == errno.ENOSPC:
            mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
            raise PolyheadError(
                f"disk full: saving {path} needs about {mb:.0f} MB; nothing was written "
                "(an earlier model there is unchanged)"
            ) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write(model, tmp: Path, extra: dict, reuse_backbone: Path | None, path_name: str) -> None:
    quiet_hf()
    hashes: dict[str, str] = {}
    if reuse_backbone is not None and (reuse_backbone / "config.json").exists():
        _link_tree(reuse_backbone, tmp / "backbone")
        hashes = _reused_hashes(reuse_backbone.parent)
    else:
        model.export_backbone().save_pretrained(tmp / "backbone", safe_serialization=True)
        model.tokenizer.save_pretrained(tmp / "backbone")
    parts = save_parts(model, tmp)
    spec = model.spec.model_dump()
    spec["backbone"] = portable_name(spec["backbone"])  # no path of this machine
    meta = {
        "format_version": FORMAT_VERSION,
        "spec": spec,
        "parts": parts,
        "files": file_hashes(tmp, known=hashes),
        "versions": _versions(),
        "extra": extra,
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    # The Hub model card; a run rewrites it with its metrics once they exist.
    (tmp / CARD_FILE).write_text(render_card(meta, model_id=path_name))


def _reused_hashes(artifact: Path) -> dict[str, str]:
    """The recorded hashes of a hard-linked backbone/: the bytes are the same files."""
    try:
        files = json.loads((artifact / META_FILE).read_text()).get("files") or {}
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in files.items() if k.startswith("backbone/")}


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_hashes(folder: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """relative path -> sha256 of every file in `folder` (reusing `known` where given)."""
    known = known or {}
    out = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        if rel == CARD_FILE:
            continue  # documentation, rewritten when a run's metrics arrive
        out[rel] = known.get(rel) or sha256_file(file)
    return out


def _plain_permissions(folder: Path) -> None:
    """mkdtemp makes 0700; the artifact gets the run's usual modes so other accounts (a
    server's) can read it."""
    umask = os.umask(0)
    os.umask(umask)
    for p in [folder, *folder.rglob("*")]:
        if not p.is_symlink():
            p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)


def _link_tree(src: Path, dest: Path) -> None:
    """Hard links (a copy where the filesystem has none): the replaced artifact's removal
    then drops only its names, never the data the new one points at."""
    for file in src.rglob("*"):
        target = dest / file.relative_to(src)
        if file.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(file, target)
        except OSError:
            shutil.copy2(file, target)


def replace_dir(tmp: Path, dest: Path) -> None:
    """Atomic from a reader's view: the old artifact stays whole until the rename."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)


# ---- reading -------------------------------------------------------------------------------


def read_meta(path) -> dict:
    """polyhead.json, checked: an object with a spec, of a format this library reads."""
    meta_path = Path(path) / META_FILE
    if not meta_path.exists():
        raise PolyheadError(f"{path}: not a polyhead artifact (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise PolyheadError(f"{meta_path}:{e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("spec"), dict):
        raise PolyheadError(f"{meta_path}: expected a JSON object with a `spec` object")
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise PolyheadError(
            f"{meta_path}: format_version {version!r} is newer than this polyhead "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade polyhead"
        )
    return meta


def check_files(path: Path, meta: dict, verify: bool = True) -> None:
    """Safetensors weights present (a pickle in their place is refused by name, never
    unpickled), every file a regular one, every recorded file unchanged since it was saved
    (`verify`), and every safetensors header whole."""
    weights = [path / "backbone" / w for w in ("model.safetensors", "model.safetensors.index.json")]
    if not any(w.exists() or w.is_symlink() for w in weights):
        raise PolyheadError(
            f"{path / 'backbone'}: no model.safetensors; polyhead loads backbone weights "
            "from safetensors only (pickled .bin/.pt files are never loaded)"
        )
    if not (path / "heads.safetensors").exists() and not (path / "heads.safetensors").is_symlink():
        raise PolyheadError(f"{path}: no heads.safetensors; expected a polyhead artifact")
    listed = [path / rel for rel in meta.get("files") or {}]
    for file in [*weights, path / "heads.safetensors", *listed, *path.rglob("*.safetensors")]:
        _regular(file)
    for rel, digest in (meta.get("files") or {}).items() if verify else ():
        file = path / rel
        if not file.is_file():
            raise PolyheadError(f"{file}: missing (listed in {META_FILE})")
        if sha256_file(file) != digest:
            raise PolyheadError(
                f"{file}: checksum differs from the one saved in {META_FILE} (the file was "
                "changed or damaged); re-save the model, or load with verify=False / --no-verify"
            )
    for file in sorted(path.rglob("*.safetensors")):
        _whole_safetensors(file)


def _regular(file: Path) -> None:
    """A file that is there is a regular one: a link to a device or a pipe would be read
    forever (hashing, memory-mapping), a link loop or a dangling link never opens."""
    if (file.exists() or file.is_symlink()) and not file.is_file():
        raise PolyheadError(
            f"{file}: not a regular file (a folder, a device or pipe, or a symbolic link that "
            "loops or leads nowhere); an artifact holds plain files"
        )


def _whole_safetensors(file: Path) -> None:
    """The header parses and covers the file exactly (a truncated or foreign file fails)."""
    try:
        with safe_open(str(file), framework="pt"):
            pass
    except Exception as e:  # noqa: BLE001 - SafetensorError, OSError: the same to a user
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise PolyheadError(f"{file}: not a whole safetensors file ({first})") from None


def is_artifact(path) -> bool:
    return (Path(path) / META_FILE).exists()
