"""The artifact: a directory anyone can inspect.

    polyhead.json        spec (tasks, labels, pooling, max length), versions, extras
    backbone/            HF-format backbone (config.json, model.safetensors) + tokenizer
    heads.safetensors    every trained head, keyed `<task>.<param>`
    external/            (optional) fitted external classifiers as plain arrays

Written to a temporary sibling directory and renamed into place, so a crash mid-save never
leaves a half-written artifact where a good one was. Loading reads safetensors and JSON only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel

import polyhead
from polyhead.errors import PolyheadError
from polyhead.model.backbone import load_tokenizer, quiet_hf
from polyhead.model.spec import ModelSpec

META_FILE = "polyhead.json"
FORMAT_VERSION = 1


def _versions() -> dict[str, str]:
    import transformers

    return {
        "polyhead": polyhead.__version__,
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
        _write(model, tmp, extra or {}, reuse_backbone)
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write(model, tmp: Path, extra: dict, reuse_backbone: Path | None = None) -> None:
    quiet_hf()
    if reuse_backbone is not None and (reuse_backbone / "config.json").exists():
        _link_tree(reuse_backbone, tmp / "backbone")
    else:
        backbone = _plain_backbone(model)
        backbone.save_pretrained(tmp / "backbone", safe_serialization=True)
        model.tokenizer.save_pretrained(tmp / "backbone")
    heads = {
        f"{n}.{k}": v.detach().cpu().contiguous()
        for n, h in model.heads.items()
        for k, v in h.state_dict().items()
    }
    save_file(heads, str(tmp / "heads.safetensors"))
    for hook in getattr(model, "artifact_writers", []):
        hook(model, tmp, extra)
    meta = {
        "format_version": FORMAT_VERSION,
        "spec": model.spec.model_dump(),
        "versions": _versions(),
        "extra": extra,
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2))


def _plain_backbone(model):
    """The backbone to write in HF format (LoRA-wrapped backbones provide their own hook)."""
    return getattr(model, "export_backbone", lambda: model.backbone)()


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


def read_meta(path) -> dict:
    meta_path = Path(path) / META_FILE
    if not meta_path.exists():
        raise PolyheadError(f"{path}: not a polyhead artifact (no {META_FILE})")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise PolyheadError(f"{meta_path}:{e.lineno}: invalid JSON ({e.msg})") from None


def _require_safetensors(path: Path) -> None:
    """Weights are read from safetensors only; a pickle in their place is refused by name
    (never unpickled: loading one can run arbitrary code)."""
    weights = ("model.safetensors", "model.safetensors.index.json")
    if not any((path / "backbone" / w).exists() for w in weights):
        raise PolyheadError(
            f"{path / 'backbone'}: no model.safetensors; polyhead loads backbone weights "
            "from safetensors only (pickled .bin/.pt files are never loaded)"
        )
    if not (path / "heads.safetensors").exists():
        raise PolyheadError(f"{path}: no heads.safetensors; expected a polyhead artifact")


def load_artifact(path, device: str | None = None, trust_remote_code: bool = False):
    from polyhead.model.multitask import MultiTaskModel

    path = Path(path)
    meta = read_meta(path)
    _require_safetensors(path)
    quiet_hf()
    spec = ModelSpec.model_validate(meta["spec"])
    bdir = str(path / "backbone")
    config = AutoConfig.from_pretrained(bdir, trust_remote_code=trust_remote_code)
    backbone = AutoModel.from_pretrained(
        bdir, config=config, use_safetensors=True, trust_remote_code=trust_remote_code
    )
    tokenizer = load_tokenizer(bdir, config.model_type, trust_remote_code)
    model = MultiTaskModel(spec, backbone=backbone, tokenizer=tokenizer)
    state = load_file(str(path / "heads.safetensors"))
    for name, head in model.heads.items():
        prefix = f"{name}."
        head.load_state_dict(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )
    from polyhead.model import extensions, lora  # noqa: F401  (lora registers its restorer)

    extensions.restore(model, path, meta)
    model.artifact_meta = meta
    model.eval()
    return model.to(device) if device else model


def is_artifact(path) -> bool:
    return (Path(path) / META_FILE).exists()


def continue_from(model, artifact) -> list[str]:
    """Start training from a trained artifact (`model.backbone: RUN/model`): `model` was built
    on its `backbone/`; add its LoRA adapters merged, and load every head whose task name,
    kind and labels match. Returns the tasks whose heads were loaded (others start fresh)."""
    import logging

    from polyhead.model import lora

    artifact = Path(artifact)
    meta = read_meta(artifact)
    lora.restore_adapters(model, artifact, meta)
    lora.merge_adapters(model)
    saved = {t["name"]: t for t in meta["spec"]["tasks"]}
    state = load_file(str(artifact / "heads.safetensors"))
    loaded = []
    for task in model.spec.tasks:
        old = saved.get(task.name)
        if old is None or (old["kind"], old["labels"]) != (task.kind, task.labels):
            continue
        prefix = f"{task.name}."
        own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        model.heads[task.name].load_state_dict(own)
        loaded.append(task.name)
    fresh = [t.name for t in model.spec.tasks if t.name not in loaded]
    logging.getLogger("polyhead").info(
        "starting from %s: heads %s loaded%s",
        artifact,
        loaded or "none",
        f"; {fresh} start fresh (new task, or other labels)" if fresh else "",
    )
    return loaded
