"""Generate the demo dataset shipped in src/polyhead/demo_data/: a seeded sample of Amazon
MASSIVE 1.0 en-US (CC BY 4.0), in MASSIVE's own JSONL format, with its license and notices.

Each record keeps MASSIVE's `id`, `intent`, `utt` and `annot_utt` unchanged (the other fields
are dropped to keep the files small). Train, dev and test come from MASSIVE's own partitions.
Deterministic: the same source file and seed always give the same files.

Run: python scripts/make_demo_data.py [--source FOLDER_WITH_en-US.jsonl] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "massive_en_us"
OUT = REPO / "src" / "polyhead" / "demo_data"
# en-US.jsonl from amazon-massive-dataset-1.0 (see README.md in the output folder).
SOURCE_SHA256 = "c70f75c6a543a26e249ec383df67733ad9b1066f6c0406c2e04a3f03356e407e"
SIZES = {"train": 2000, "dev": 300, "test": 300}
FIELDS = ("id", "intent", "utt", "annot_utt")
SEED = 14
# Shipped beside the data: CC BY 4.0 asks for the license, notices and attribution.
LEGAL = ("LICENSE", "NOTICE.md", "CITATION.md")


def read_source(folder: Path) -> list[dict]:
    path = folder / "en-US.jsonl"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{path}: sha256 {digest}; expected MASSIVE 1.0's {SOURCE_SHA256}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def sample(records: list[dict], rng: random.Random) -> dict[str, list[dict]]:
    """A uniform sample of each partition (intents keep their natural frequencies)."""
    out = {}
    for split, n in SIZES.items():
        pool = [r for r in records if r["partition"] == split]
        out[split] = [{k: r[k] for k in FIELDS} for r in rng.sample(pool, n)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    splits = sample(read_source(args.source), random.Random(SEED))
    args.out.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
        (args.out / f"{split}.jsonl").write_text(text, encoding="utf-8")
    for name in LEGAL:
        shutil.copyfile(args.source / name, args.out / name)
    counts = ", ".join(f"{len(rows)} {split}" for split, rows in splits.items())
    print(f"wrote {counts} MASSIVE en-US utterances (seed {SEED}) to {args.out}")


if __name__ == "__main__":
    main()
