"""Quality on MASSIVE en-US: every polyhead strategy (mean ± std over seeds, via
`polyhead compare`'s runner) and CRF vs. no CRF on the slot head, side by side with the
two-HF-model baseline of benchmarks/massive.py (its `run_baseline`, imported, not copied),
trained in the same run on the same examples with the same seeds.

Target (issue 6): the best polyhead strategy >= baseline on intent accuracy, slot F1 and
exact frame accuracy on test, mean over seeds. The script prints by how much, and whether
the target is met, for exactly the sizes it ran.

`--dataset banking-wnut`: the same strategy comparison with one task per dataset (BANKING77
intents, WNUT-17 entities; separate sentences), no baseline.

Everything it trains is kept under `--out`: finished strategy runs and baseline seeds are
reused, so an interrupted run continues, and `--parts` splits the work over processes
(e.g. `--parts baseline` in one, `--parts strategies,crf` in another, then a final
invocation with the default `--parts` only collects).

    .venv/bin/python benchmarks/quality.py --max-train 1000 --max-dev 300 --max-test 1000 \
        --epochs 2 --seeds 2 --strategies heads,gradual,full
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import massive  # noqa: E402  (the baseline and the data subsets live there)
from common import format_table, machine, versions, write_json  # noqa: E402
from polyhead.compare.collect import aggregate, best_run
from polyhead.compare.report import write_report  # noqa: E402
from polyhead.compare.runner import RunOutcome, run_comparison, run_name  # noqa: E402
from polyhead.config import validate_config  # noqa: E402
from polyhead.data.sources import load_splits  # noqa: E402
from polyhead.report.runs import load_run  # noqa: E402

METRICS = {
    "intent_accuracy": "test/intent/accuracy",
    "slot_f1": "test/slots/f1",
    "frame_accuracy": "test/frame_accuracy",
}
BW_METRICS = {
    "intent_accuracy": "test/intent/accuracy",
    "intent_macro_f1": "test/intent/macro_f1",
    "entity_f1": "test/entities/f1",
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-train", type=int, default=1000, help="seeded subset (all: 11514)")
    p.add_argument("--max-dev", type=int, default=300, help="seeded subset (all: 2033)")
    p.add_argument("--max-test", type=int, default=1000, help="seeded subset (all: 2974)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, default=2, help="seeds 42, 43, ...")
    p.add_argument("--strategies", default="heads,top-k,gradual,full")
    p.add_argument("--no-crf", action="store_true", help="skip the CRF vs no-CRF runs")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--dataset", choices=["massive", "banking-wnut"], default="massive")
    p.add_argument(
        "--parts", default="strategies,crf,baseline", help="what to train (the rest is read)"
    )
    p.add_argument("--out", default="runs/quality-bench", help="comparison directories")
    p.add_argument("--json", default="quality.json", help="file name under benchmarks/results/")
    return p.parse_args(argv)


def base_config(args, source: dict, crf: bool = False):
    margs = massive_args(args)
    cfg = massive.polyhead_config("polyhead-full", margs, 42, source).model_dump()
    cfg["tasks"]["slots"]["crf"] = crf
    cfg["compare"] = {
        "settings": {
            "top-k": {"plan.k": 3},
            "gradual": {
                f"plan.{k}": v for k, v in massive.polyhead_plan("polyhead-gradual", margs).items()
            },
        }
    }
    return validate_config(cfg)


def massive_args(args) -> argparse.Namespace:
    """benchmarks/massive.py's arguments (LRs, batch size, max length) at our sizes."""
    return massive.parse_args(
        ["--max-train", str(args.max_train), "--max-dev", str(args.max_dev),
         "--max-test", str(args.max_test), "--epochs", str(args.epochs)]
    )  # fmt: skip


def summary_rows(out: Path, outcomes, prefix: str = "", metrics=METRICS) -> dict[str, dict]:
    """system -> {metric: (mean, std), fit_s: mean} from a comparison's finished runs."""
    records = [
        r
        for o in outcomes
        if (r := load_run(out / "runs" / o.name, o.strategy, o.seed)) is not None
    ]
    rows = {}
    for row in aggregate(records):
        vals = {m: row.mean_std(col) for m, col in metrics.items()}
        vals["trainable"] = row.mean_std("trainable_params")
        vals["peak_mb"] = row.mean_std("peak_memory_mb")
        vals["fit_s"] = row.mean_std("train_seconds")
        vals["dev_score"] = row.mean_std("dev/score")
        vals["n"] = len(row.runs)
        rows[prefix + row.strategy] = vals
    best = best_run(aggregate(records))
    return rows, (prefix + best[0].strategy if best else None)


def baseline_rows(args, source: dict, train: bool = True) -> dict:
    """The two-HF-model baseline per seed; each seed's result is kept under --out and
    reused when the same sizes ran before. `train=False`: only what is there."""
    margs = massive_args(args)
    cfg = base_config(args, source)
    splits = None
    runs = []
    for i in range(args.seeds):
        seed = 42 + i
        done = Path(args.out) / "baseline" / f"seed-{seed}.json"
        sizes = {k: getattr(args, k) for k in ("max_train", "max_dev", "max_test", "epochs")}
        saved = json.loads(done.read_text()) if done.exists() else None
        if saved and saved["sizes"] == sizes:
            runs.append(saved["result"])
            continue
        if not train:
            continue
        print(f"[baseline seed {seed}] ...", flush=True)
        splits = splits or load_splits(cfg.source("intent"), 42)
        result = massive.run_baseline(splits, margs, seed)
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps({"sizes": sizes, "result": result}, indent=2))
        runs.append(result)
    if not runs:
        return {}
    vals = {m: _ms([r[m] for r in runs]) for m in METRICS}
    vals["fit_s"] = _ms([r["fit_s"] for r in runs])
    vals["n"] = len(runs)
    return {"baseline (2 HF models)": vals}


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(rows: dict, base: dict | None, metrics=METRICS) -> str:
    out = []
    for system, v in rows.items():
        line = {"system": system, "seeds": v["n"]}
        for m in metrics:
            mean, std = v[m]
            line[m] = f"{mean:.4f} ± {std:.4f}"
            if base:
                line[f"Δ {m}"] = f"{mean - base[m][0]:+.4f}"
        line["fit_s"] = f"{v['fit_s'][0]:.0f}"
        if v.get("trainable"):
            line["trainable"] = f"{v['trainable'][0]:,.0f}"
        if v.get("peak_mb"):
            line["peak_rss_mb"] = f"{v['peak_mb'][0]:.0f}"
        out.append(line)
    cols = ["system", "seeds", *metrics, "fit_s", "trainable", "peak_rss_mb"]
    if base:
        cols += [f"Δ {m}" for m in metrics]
    return format_table(out, cols)


def compare(cfg, out: Path, strategies: list[str], seeds: int, train: bool) -> list:
    """Train what is missing (`train`), or only collect the finished runs. Collect only when
    no other process is still training into `out`: a missing run would be started here."""
    if train:
        return run_comparison(cfg, out, strategies, seeds)
    return [
        RunOutcome(s, i, run_name(s, i), "reused")
        for s in strategies
        for i in range(seeds)
        if (out / "runs" / run_name(s, i) / "metrics.json").exists()
    ]


def banking_wnut_config(args):
    """BANKING77 intents + WNUT-17 entities (benchmarks/multidata.py's sources) at our sizes."""
    import multidata

    margs = argparse.Namespace(
        train=args.max_train, eval=args.max_dev, max_length=64, head_lr=1e-3,
        backbone_lr=1e-4, epochs=args.epochs, batch_size=32, seed=42,
    )  # fmt: skip
    raw = multidata.base_config(margs, ["intent", "entities"])
    raw["compare"] = {"settings": {"top-k": {"plan.k": 3}}}
    return validate_config(raw)


def main_banking_wnut(args, strategies: list[str], start: float) -> None:
    out = Path(args.out)
    train = "strategies" in args.parts
    outcomes = compare(banking_wnut_config(args), out / "strategies", strategies, args.seeds, train)
    write_report(out / "strategies", outcomes, header=f"BANKING77 + WNUT-17: {vars(args)}")
    rows, best = summary_rows(out / "strategies", outcomes, metrics=BW_METRICS)
    print(table(rows, None, BW_METRICS))
    print(f"best strategy by dev score: {best}")
    save(args, start, rows=rows, best=best)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    start = time.perf_counter()
    strategies = [s for s in args.strategies.split(",") if s]
    if args.dataset == "banking-wnut":
        return main_banking_wnut(args, strategies, start)
    out = Path(args.out)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    source = massive.subset_files(data, massive_args(args), 42)  # one subset, every system
    cfg = base_config(args, source)
    outcomes = compare(cfg, out / "strategies", strategies, args.seeds, "strategies" in args.parts)
    rows, best = {}, None
    if outcomes:
        write_report(out / "strategies", outcomes, header=f"MASSIVE en-US subset: {vars(args)}")
        rows, best = summary_rows(out / "strategies", outcomes)
    # The CRF is a token head's option: it goes on the best strategy that trains one.
    trained = {k: v for k, v in rows.items() if k != "frozen" and v.get("dev_score")}
    crf_on = max(trained, key=lambda k: trained[k]["dev_score"][0]) if trained else None
    if not args.no_crf and crf_on:
        crf_out = out / "crf"
        crf_cfg = base_config(args, source, crf=True)
        crf_outcomes = compare(crf_cfg, crf_out, [crf_on], args.seeds, "crf" in args.parts)
        if crf_outcomes:
            write_report(crf_out, crf_outcomes, header="slots with crf: true")
            crf_rows, _ = summary_rows(crf_out, crf_outcomes, prefix="crf+")
            rows.update(crf_rows)
    base = None
    if not args.no_baseline:
        baseline = baseline_rows(args, source, train="baseline" in args.parts)
        base = next(iter(baseline.values()), None)
        rows = {**baseline, **rows}
    print(table(rows, base))
    verdict = {}
    if base and best in rows:
        b = rows[best]
        verdict = {m: b[m][0] - base[m][0] for m in METRICS}
        met = all(d >= 0 for d in verdict.values())
        print(f"best strategy by dev score: {best}; target (>= baseline on all three): {met}")
    skipped = [f"{o.name}: {o.reason}" for o in outcomes if o.status in ("skipped", "failed")]
    for line in skipped:
        print("not run:", line)
    save(args, start, rows=rows, best=best, best_minus_baseline=verdict, skipped=skipped)


def save(args, start: float, **results) -> None:
    info = {
        "machine": machine(),
        "args": vars(args),
        "versions": versions("polyhead", "torch", "transformers", "lightning"),
        **results,
        "wall_s": time.perf_counter() - start,
    }
    print(f"wrote {write_json(args.json, json.loads(json.dumps(info)))}")


if __name__ == "__main__":
    main()
