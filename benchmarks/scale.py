"""Scale: time to the first training step and peak resident memory when training from an
on-disk Arrow dataset (`datasets.save_to_disk`) of N intent + slot sentences, polyhead's Arrow
path (`data: {hf: FOLDER}`: rows stay memory-mapped, tokenized by `Dataset.map` into a cached
file) against HF Trainer fed the same dataset (`trainer-*`: `Dataset.map` into a cache file,
one token-classification model) and against the Example path polyhead replaced (the same
dataset read into Python Examples and encoded rows: `DataSource.in_memory(read_table_data(...))`),
in the same run.

The sentences are MASSIVE en-US train utterances (intent ClassLabel, Sequence(ClassLabel)
slot tags) repeated, each repeat with filler words before / after it (tagged O) so no two
rows are equal. Each measurement is its own process (peak RSS is per process); the Arrow
path and the Trainer run twice: a first run (reads and tokenizes into an empty cache) and a
second run (the cache from the first). minilm, batch 32, max_length 32, full fine-tuning on
CPU.

    .venv/bin/python benchmarks/scale.py --rows 10000 100000 1000000 --steps 200

Prints a table: seconds to the first step, to the last, peak RSS (MB) per size and path, and
the ratios baseline / Arrow path.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, machine, shared_data, write_json  # noqa: E402

FILLERS = [
    "please",
    "now",
    "hey",
    "okay",
    "so",
    "well",
    "then",
    "again",
    "today",
    "kindly",
    "quickly",
    "also",
]
EVAL = 500  # dev rows kept (of the seeded 10 %): validation is not what this measures
MODES = ("examples", "arrow-first", "arrow-cached", "trainer-first", "trainer-cached")


def build(folder: Path, n: int) -> Path:
    """N rows in the Hub's layout, saved once under `folder`."""
    import datasets

    from polyhead.data.readers import read_examples

    out = folder / f"massive-{n}"
    if (out / "dataset_info.json").exists():
        return out
    train = [
        ex
        for ex in read_examples(shared_data("massive_en_us", "en-US.jsonl"), format="massive")
        if ex.split == "train"
    ]
    intents = sorted({ex.label for ex in train})
    tags = sorted({t for ex in train for t in ex.tags})
    features = datasets.Features(
        tokens=datasets.Sequence(datasets.Value("string")),
        tags=datasets.Sequence(datasets.ClassLabel(names=tags)),
        intent=datasets.ClassLabel(names=intents),
    )
    tag_id = {t: i for i, t in enumerate(tags)}
    o = tag_id["O"]
    parts = []
    for start in range(0, n, 100_000):
        cols: dict[str, list] = {"tokens": [], "tags": [], "intent": []}
        for k in range(start, min(n, start + 100_000)):
            ex, v = train[k % len(train)], k // len(train)
            before = [FILLERS[v % len(FILLERS)]] if v else []
            after = [FILLERS[(v // len(FILLERS)) % len(FILLERS)]] if v >= len(FILLERS) else []
            cols["tokens"].append(before + ex.tokens + after)
            cols["tags"].append([o] * len(before) + [tag_id[t] for t in ex.tags] + [o] * len(after))
            cols["intent"].append(intents.index(ex.label))
        parts.append(datasets.Dataset.from_dict(cols, features=features))
    datasets.concatenate_datasets(parts).save_to_disk(str(out))
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not `ru_maxrss`: Linux carries that across
    exec, so a child would report at least the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def trainer_child(folder: str, steps: int, run_dir: str, cache: str) -> None:
    """The baseline: HF Trainer fed the same on-disk dataset the way its examples do it
    (`Dataset.map` tokenization with aligned labels into a cache file, the dataset stays
    memory-mapped), one token-classification model (the slots) on the same MiniLM, batch 32,
    max_length 32, same steps. Trainer has no joint intent + slot model: one of the two models
    a user would train is the lightest fair baseline for memory and start-up time."""
    import datasets
    import transformers

    from polyhead.model.backbone import default_model_path

    result = {"imports_rss_mb": peak_rss_mb()}
    start = time.perf_counter()
    path = str(default_model_path())
    tok = transformers.AutoTokenizer.from_pretrained(path)
    ds = datasets.load_from_disk(folder)
    split = ds.train_test_split(test_size=0.1, seed=42)  # the seeded 10 % dev carve, as polyhead
    names = ds.features["tags"].feature.names

    def encode(batch):
        enc = tok(batch["tokens"], is_split_into_words=True, truncation=True, max_length=32)
        labels = []
        for i, tags in enumerate(batch["tags"]):
            previous, row = None, []
            for w in enc.word_ids(i):
                row.append(-100 if w is None or w == previous else tags[w])
                previous = w
            labels.append(row)
        enc["labels"] = labels
        return enc

    train = split["train"].map(
        encode,
        batched=True,
        remove_columns=ds.column_names,
        cache_file_name=str(Path(cache) / "trainer-train.arrow"),
    )
    model = transformers.AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(names)
    )

    class Stop(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            if state.global_step == 1:
                result["first_step_s"] = now - start
            if state.global_step >= steps:
                result["last_step_s"] = now - start
                result["peak_rss_mb"] = peak_rss_mb()
                print("RESULT " + json.dumps(result), flush=True)
                os._exit(0)

    args = transformers.TrainingArguments(
        output_dir=run_dir,
        per_device_train_batch_size=32,
        max_steps=steps + 1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=42,
    )
    collator = transformers.DataCollatorForTokenClassification(tok)
    transformers.Trainer(
        model=model, args=args, train_dataset=train, data_collator=collator, callbacks=[Stop()]
    ).train()
    sys.exit("training ended before the last measured step")


def child(mode: str, folder: str, steps: int, run_dir: str) -> None:
    """One training run, stopped after `steps` steps; prints one JSON line and exits."""
    if mode.startswith("trainer"):
        return trainer_child(folder, steps, run_dir, os.environ["POLYHEAD_CACHE"])
    import lightning.pytorch as pl

    import polyhead
    from polyhead.engine.train import train
    from polyhead.model.backbone import default_model_path

    class Stop(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            now = time.perf_counter()
            if batch_idx == 0:
                result["first_step_s"] = now - start
            if batch_idx + 1 >= steps:
                result["last_step_s"] = now - start
                result["peak_rss_mb"] = peak_rss_mb()
                print("RESULT " + json.dumps(result), flush=True)
                os._exit(0)  # no final evaluation: this measures getting to training

    config = {
        "model": {"backbone": str(default_model_path()), "max_length": 32},
        "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
        "data": {"columns": {"label": "intent"}, "max_eval_examples": EVAL},
        "plan": {"strategy": "full"},
        "trainer": {"epochs": 1, "batch_size": 32, "progress": False, "patience": None},
    }
    result = {"imports_rss_mb": peak_rss_mb()}
    start = time.perf_counter()
    if mode == "examples":
        import datasets

        from polyhead.data.frames import Columns, read_table_data
        from polyhead.data.sources import DataSource

        table = read_table_data(datasets.load_from_disk(folder), Columns(label="intent"))
        data = DataSource.in_memory(table, columns=Columns(label="intent"), max_eval_examples=EVAL)
    else:
        data = {"hf": folder}
    cfg = polyhead.build_config(config, data=data, overrides={"trainer.accelerator": "cpu"})
    train(cfg, run_dir, extra_callbacks=[Stop()])
    sys.exit("training ended before the last measured step")


def measure(mode: str, folder: Path, steps: int, cache: Path) -> dict:
    env = {**os.environ, "POLYHEAD_CACHE": str(cache), "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory(prefix="scale-run-") as run_dir:
        cmd = [sys.executable, __file__, "--child", mode, str(folder), str(steps), run_dir]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{mode} on {folder.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "polyhead-scale"))
    p.add_argument("--json", default="scale.json")
    p.add_argument("--cache", help="reuse this cache folder (e.g. to rerun only the cached modes)")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        mode, folder, steps, run_dir = args.child
        return child(mode, folder, int(steps), run_dir)
    work = Path(args.work)
    rows = []
    for n in sorted(args.rows):
        folder = build(work, n)
        cache = Path(args.cache) / str(n) if args.cache else None
        if cache is None:
            cache = Path(tempfile.mkdtemp(prefix=f"cache-{n}-", dir=work))  # empty: a first run
        cache.mkdir(parents=True, exist_ok=True)
        for mode in args.modes:
            r = {"rows": n, "path": mode, **measure(mode, folder, args.steps, cache)}
            print(json.dumps(r), flush=True)
            rows.append(r)
    columns = ["rows", "path", "first_step_s", "last_step_s", "peak_rss_mb", "imports_rss_mb"]
    print(format_table(rows, columns))
    by = {(r["rows"], r["path"]): r for r in rows}
    for n in sorted(args.rows):
        for base, mode in [
            ("examples", "arrow-first"),
            ("examples", "arrow-cached"),
            ("trainer-first", "arrow-first"),
            ("trainer-cached", "arrow-cached"),
        ]:
            old, new = by.get((n, base)), by.get((n, mode))
            if old and new:
                sooner = old["first_step_s"] / new["first_step_s"]
                lower = old["peak_rss_mb"] / new["peak_rss_mb"]
                print(
                    f"{n:>9,} {mode} vs {base}: first step {sooner:.2f}x sooner, peak RSS "
                    f"{lower:.2f}x lower"
                )
    small, large = min(args.rows), max(args.rows)
    for mode in ("arrow-cached", "trainer-cached"):
        if (small, mode) in by and (large, mode) in by and small != large:
            ratio = by[large, mode]["peak_rss_mb"] / by[small, mode]["peak_rss_mb"]
            print(f"{mode}: peak RSS at {large:,} rows = {ratio:.2f}x its peak at {small:,}")
    write_json(args.json, {"machine": machine(), "steps": args.steps, "rows": rows})


if __name__ == "__main__":
    main()
