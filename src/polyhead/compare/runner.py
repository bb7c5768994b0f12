"""Run every (strategy, seed) of a comparison through `polyhead.engine.train.train`.

    OUT/configs/<strategy>-s<seed>.yaml   the exact config of each run
    OUT/runs/<strategy>-s<seed>/          a normal run directory (see engine/train.py)
                 outcome.json             status, reason, peak memory of that run
    OUT/report.md, report.html, table.csv, plots/*.png

Resume: a run whose metrics.json exists is finished and never redone; a run with
checkpoints/last.ckpt continues from it; anything else starts afresh. Skipped runs (a
strategy that is not available, or that refuses this config) are retried next time.

Each run trains in its own subprocess by default (`isolate=True`), so its peak resident memory
is its own (`PeakMemory`: psutil, sampled while it trains). In-process runs (`isolate=False`,
used by tests) report the peak of the whole process, an upper bound. On a GPU the peak is
`torch.cuda.max_memory_allocated`, reset before each run.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import yaml

from polyhead.config import RunConfig, StrategyName, set_dotted, validate_config
from polyhead.engine.train import train
from polyhead.errors import PolyheadError

log = logging.getLogger("polyhead")

# Settings a strategy needs when the config gives none (top-k needs k).
DEFAULT_SETTINGS: dict[str, dict[str, object]] = {"top-k": {"plan.k": 2}}


@dataclass
class RunOutcome:
    strategy: str
    seed: int
    name: str
    status: str  # "done" | "reused" | "skipped" | "failed"
    reason: str = ""
    peak_memory_mb: float | None = None
    memory_kind: str = ""  # "rss (run)", "rss (process, upper bound)", "cuda allocated"
    seconds: float = 0.0


def run_name(strategy: str, seed: int) -> str:
    return f"{strategy}-s{seed}"


def run_config(cfg: RunConfig, strategy: str, seed: int) -> RunConfig:
    """The base config with the strategy, its settings and the seed applied."""
    raw = cfg.model_dump()
    raw["plan"]["strategy"] = strategy
    raw["trainer"]["seed"] = cfg.trainer.seed + seed
    defaults = DEFAULT_SETTINGS.get(strategy, {})
    if strategy == "top-k" and cfg.plan.k is not None:
        defaults = {}  # the config's own k wins over the default
    for dotted, value in {**defaults, **cfg.compare.settings.get(strategy, {})}.items():
        set_dotted(raw, dotted, value)
    return validate_config(raw)


def run_comparison(
    cfg: RunConfig,
    out,
    strategies: list[StrategyName] | None = None,
    seeds: int | None = None,
    isolate: bool = True,
    on_event=None,
) -> list[RunOutcome]:
    """Run what is missing, then return one outcome per (strategy, seed) in order."""
    out = Path(out)
    if strategies:  # checked like the config's own compare.strategies
        raw = cfg.model_dump()
        raw["compare"]["strategies"] = list(strategies)
        cfg = validate_config(raw)
    strategies = cfg.compare.strategies
    seeds = seeds or cfg.compare.seeds
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "configs").mkdir(exist_ok=True)
    outcomes = []
    for strategy in strategies:
        for seed in range(seeds):
            outcome = _one_run(cfg, out, strategy, seed, isolate)
            outcomes.append(outcome)
            if on_event:
                on_event(outcome)
    (out / "outcomes.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    return outcomes


def _one_run(cfg: RunConfig, out: Path, strategy: str, seed: int, isolate: bool) -> RunOutcome:
    name = run_name(strategy, seed)
    run_dir = out / "runs" / name
    if (run_dir / "metrics.json").exists():
        saved = _read_outcome(run_dir)
        saved.update(status="reused", name=name, strategy=strategy, seed=seed)
        return RunOutcome(**{k: v for k, v in saved.items() if k in RunOutcome.__annotations__})
    try:
        run_cfg = run_config(cfg, strategy, seed)
    except PolyheadError as e:
        return RunOutcome(strategy, seed, name, "skipped", str(e))
    resume = (run_dir / "checkpoints" / "last.ckpt").exists()
    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)  # an interrupted run with nothing to resume from
    config_path = out / "configs" / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(run_cfg.model_dump(), sort_keys=False))
    log.info("compare: %s (%s)", name, "resuming" if resume else "training")
    start = time.perf_counter()
    if isolate:
        outcome = _run_subprocess(config_path, run_dir, resume, strategy, seed)
    else:
        outcome = train_one(run_cfg, run_dir, resume, strategy, seed, scope="process")
    outcome.seconds = time.perf_counter() - start
    return outcome


def train_one(cfg: RunConfig, run_dir: Path, resume: bool, strategy, seed, scope) -> RunOutcome:
    """Train one run here and record its outcome in run_dir/outcome.json."""
    import torch  # here, not at the top: `compare --help` should not wait for torch

    name = run_name(strategy, seed)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with PeakMemory() as peak:
        try:
            train(cfg, run_dir, resume=resume)
            outcome = RunOutcome(strategy, seed, name, "done")
        except PolyheadError as e:  # the strategy is unavailable or refuses this config
            outcome = RunOutcome(strategy, seed, name, "skipped", str(e))
        except Exception as e:  # noqa: BLE001 - one broken run must not end a long comparison
            log.error("compare: %s failed:\n%s", name, traceback.format_exc())
            outcome = RunOutcome(strategy, seed, name, "failed", f"{type(e).__name__}: {e}")
    if torch.cuda.is_available():
        outcome.peak_memory_mb = torch.cuda.max_memory_allocated() / 2**20
        outcome.memory_kind = "cuda allocated"
    else:
        outcome.peak_memory_mb = peak.mb
        outcome.memory_kind = "rss (run)" if scope == "run" else "rss (process, upper bound)"
    if run_dir.exists():
        (run_dir / "outcome.json").write_text(json.dumps(asdict(outcome), indent=2))
    return outcome


class PeakMemory:
    """The peak resident memory (MB) of this process while the block runs, from psutil on
    every platform (`resource.getrusage` does not exist on Windows). psutil has no peak on
    Linux or macOS, so a thread samples the resident size every `interval` seconds (a spike
    shorter than that can be missed); on Windows the OS's own peak working set is read too."""

    def __init__(self, interval: float = 0.05):
        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.start_mb = self.mb = self._resident_mb()

    def _resident_mb(self) -> float:
        info = self._process.memory_info()
        return max(info.rss, getattr(info, "peak_wset", 0)) / 2**20

    def sample(self) -> None:
        self.mb = max(self.mb, self._resident_mb())

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _run_subprocess(config_path: Path, run_dir: Path, resume, strategy, seed) -> RunOutcome:
    cmd = [sys.executable, "-m", "polyhead.compare.worker", str(config_path), str(run_dir)]
    proc = subprocess.run(
        [*cmd, *(["--resume"] if resume else []), strategy, str(seed)],
        capture_output=True,
        text=True,
    )
    saved = _read_outcome(run_dir)
    if saved:
        return RunOutcome(**{k: v for k, v in saved.items() if k in RunOutcome.__annotations__})
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return RunOutcome(
        strategy, seed, run_name(strategy, seed), "failed", f"exit {proc.returncode}: {tail[0]}"
    )


def _read_outcome(run_dir: Path) -> dict:
    path = run_dir / "outcome.json"
    return json.loads(path.read_text()) if path.exists() else {}
