"""Server throughput and latency, with and without dynamic micro-batching.

    python benchmarks/serve.py                       # minilm + random heads, 2,000 requests
    python benchmarks/serve.py --artifact runs/demo/model --requests 500

For each mode the server (`polyhead serve`) runs in its own process on a loopback port; this
process sends one-text /predict requests from `--concurrency` concurrent clients until
`--requests` have been sent or `--max-seconds` have passed, and prints requests/s, p50/p99
latency and errors, then the ratio of batching to no batching measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MASSIVE = REPO.parent / "shared" / "data" / "massive_en_us" / "en-US.jsonl"
DEMO = REPO / "src" / "polyhead" / "demo_data" / "train.jsonl"


def benchmark_texts(n: int) -> list[str]:
    """MASSIVE test utterances when the shared data is there, else the demo sentences."""
    if MASSIVE.exists():
        rows = (json.loads(line) for line in MASSIVE.open())
        texts = [r["utt"] for r in rows if r["partition"] == "test"]
    else:
        texts = [json.loads(line)["utt"] for line in DEMO.open()]  # MASSIVE rows too
    return [texts[i % len(texts)] for i in range(n)]


def random_head_artifact(folder: Path) -> Path:
    """minilm with an intent and a slot head (random weights: speed does not need training)."""
    import torch

    from polyhead.data.jsonl import read_massive
    from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec

    rows = read_massive(DEMO)  # the demo data is a sample of MASSIVE
    intents = sorted({r.label for r in rows})
    tags = sorted({t for r in rows for t in r.tags})
    torch.manual_seed(0)
    spec = ModelSpec(
        backbone="minilm",
        max_length=128,
        tasks=[
            TaskSpec(name="intent", kind="sentence", labels=intents),
            TaskSpec(name="slots", kind="token", labels=tags),
        ],
    )
    MultiTaskModel(spec).save(folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    artifact: Path, port: int, batching: bool, threads: int, extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    """`polyhead serve` on 127.0.0.1:`port` (`extra`: more command-line flags)."""
    flag = "--batching" if batching else "--no-batching"
    cmd = [sys.executable, "-m", "polyhead.cli", "serve", str(artifact), "--port", str(port), flag]
    cmd += ["--threads", str(threads), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("server did not start in 180 s")


async def load(url: str, texts: list[str], concurrency: int, max_seconds: float) -> dict:
    latencies, errors, next_i = [], 0, 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client):
        nonlocal errors, next_i
        while next_i < len(texts) and time.perf_counter() < deadline:
            text, next_i = texts[next_i], next_i + 1
            t0 = time.perf_counter()
            try:
                res = await client.post("/predict", json={"texts": [text]})
                ok = res.status_code == 200 and len(res.json()["predictions"]) == 1
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        for text in texts[:16]:  # warm-up, not timed
            await client.post("/predict", json={"texts": [text]})
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        batches = (await client.get("/metadata")).json()["recent_batch_sizes"]
    lat = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "req_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "recent_batch": float(np.mean(batches)) if batches else 0.0,
    }


def run_mode(artifact: Path, batching: bool, args) -> dict:
    port = free_port()
    extra = ("--max-batch-tokens", str(args.max_batch_tokens)) if args.max_batch_tokens else ()
    proc = start_server(artifact, port, batching, args.threads, extra=extra)
    try:
        texts = benchmark_texts(args.requests)
        url = f"http://127.0.0.1:{port}"
        return asyncio.run(load(url, texts, args.concurrency, args.max_seconds))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, help="default: minilm with random heads")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=240, help="per mode")
    # One thread: on a shared, loaded machine torch's spinning worker threads cost far more
    # than they give (one sentence: 1.35 s with 2 threads vs 87 ms with 1, measured here).
    parser.add_argument("--threads", type=int, default=1, help="server model threads")
    parser.add_argument(
        "--max-batch-tokens", type=int, help="server's padded tokens per call (default: its own)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        artifact = args.artifact or random_head_artifact(Path(tmp) / "minilm-random-heads")
        modes = ("no batching", "batching")
        rows = {mode: run_mode(artifact, mode == "batching", args) for mode in modes}
    print(
        f"\n{args.requests} requests (1 text each), concurrency {args.concurrency}, loopback, "
        f"server threads {args.threads}"
    )
    print("mode          done errors   req/s  p50 ms  p99 ms  batch")
    for mode, r in rows.items():
        print(
            f"{mode:<12} {r['requests']:>5} {r['errors']:>6} {r['req_per_s']:>7.1f} "
            f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['recent_batch']:>6.1f}"
        )
    ratio = rows["batching"]["req_per_s"] / rows["no batching"]["req_per_s"]
    print(f"batching / no batching throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()
