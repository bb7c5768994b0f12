"""`trainer.compile`: torch.compile of the backbone and the heads, for static shapes.

At batch 64 an eager step on a GPU is launch-bound (about the same time whatever the work,
issue 17); a compiled one fuses its kernels. Compiled with `dynamic=False`, each input shape
gets its own graph, so batches are padded up to a few fixed widths
(`polyhead.data.rows.static_widths`: 16, 32, 48, 64, ... up to max_length) and there are
few compiles: widths x batch sizes (full, an epoch's short last batch) x train/eval mode.
`auto` compiles on CUDA only: on CPU the compile time (tens of seconds per shape) is rarely
won back. `nn.Module.compile` compiles in place, so parameter names, state dicts, checkpoints
and saved artifacts are those of the eager model.

`trainer.compile_mode: reduce-overhead` is item 4's launch-bound fix: torch.compile records
CUDA graphs of the static-shape steps and replays each with one launch. It stays opt-in
(`default`) until `benchmarks/gpu.sh` measures it on a GPU (`--compile-mode`); on CPU it has
no graphs to record and behaves as `default`.

The number of graphs compiled is logged at the end of fit and written per epoch to
history.jsonl (`compiled_graphs`, counted by dynamo since the run started).
"""

from __future__ import annotations

import logging

import lightning.pytorch as pl
import torch
import torch._dynamo

from polyhead.data.rows import static_widths

log = logging.getLogger("polyhead")
# Graphs one compiled forward may keep (shapes x modes x plan phases) before dynamo falls back
# to eager for it; its default (8) is below the widths x batch sizes x modes of a run.
RECOMPILE_LIMIT = 64


def wants_compile(cfg) -> bool:
    setting = cfg.trainer.compile
    if setting == "auto":
        return cfg.trainer.accelerator not in ("cpu",) and torch.cuda.is_available()
    return bool(setting)


def _graphs() -> int:
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


class CompileCallback(pl.Callback):
    """Counts the graphs dynamo compiled during this fit: per epoch into history, and at the end."""

    def __init__(self):
        self.start = _graphs()

    @property
    def graphs(self) -> int:
        return _graphs() - self.start

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        pl_module.history_extras["compiled_graphs"] = self.graphs

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        pl_module.history_extras["compiled_graphs"] = self.graphs  # written after this

    def on_fit_end(self, trainer, pl_module) -> None:
        log.info("torch.compile: %d graphs compiled", self.graphs)


def compile_model(model, data, cfg) -> CompileCallback | None:
    """Compile `model`'s backbone and heads in place and pad `data`'s batches to the static
    widths, when `trainer.compile` asks for it; the callback that counts the compiles."""
    if not wants_compile(cfg):
        return None
    for name in ("recompile_limit", "cache_size_limit"):  # renamed across torch versions
        if hasattr(torch._dynamo.config, name):
            limit = max(getattr(torch._dynamo.config, name), RECOMPILE_LIMIT)
            setattr(torch._dynamo.config, name, limit)
    data.widths = static_widths(cfg.model.max_length)
    mode = cfg.trainer.compile_mode
    model.backbone.compile(dynamic=False, mode=mode)
    for head in model.heads.values():
        head.compile(dynamic=False, mode=mode)
    log.info(
        "torch.compile (%s): backbone and %d heads, widths %s",
        mode,
        len(model.heads),
        ", ".join(map(str, data.widths)),
    )
    return CompileCallback()
