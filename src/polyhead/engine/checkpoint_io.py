"""Checkpoints that are either the old file or the new file, never half of one.

Lightning's TorchCheckpointIO writes through an fsspec transaction whose temporary file lives
in the system temp folder; committing it is a `shutil.move`, which becomes copy-then-delete
when that folder is on another filesystem (common: tmpfs /tmp, a network run directory), so a
kill during the copy leaves a truncated `last.ckpt`. Here the temporary file sits next to the
target, is fsync'ed, and `os.replace` swaps it in (atomic on POSIX and Windows).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

TMP_MARK = ".tmp-"


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose saves are atomic on local filesystems (loading is unchanged)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any | None = None
    ) -> None:
        path = Path(path)
        if "://" in str(path):  # remote storage: fsspec's own transaction is the right tool
            return super().save_checkpoint(checkpoint, path, storage_options)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a power cut could otherwise undo it)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(run_dir) -> list[Path]:
    """Delete what a killed run left half-written (temporary checkpoints and artifact dirs).

    Safe before a resume: finished files never carry the temporary marks.
    """
    import shutil

    run_dir = Path(run_dir)
    stale = [p for p in run_dir.glob(f"checkpoints/.*{TMP_MARK}*") if p.is_file()]
    stale += [p for p in run_dir.glob(".*.tmp-*") if p.is_dir()]  # artifact temp dirs
    stale += [p for p in run_dir.glob(".*.old-*") if p.is_dir()]  # replaced artifact dirs
    for p in stale:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return stale
