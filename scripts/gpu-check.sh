#!/usr/bin/env bash
# The checks that need a GPU, as one short run on a lent GPU machine (the `device` tool's `run`), results
# under $OUT: the `gpu`-marked tests and the GPU benchmarks (SAM's ViT-B encoder with bf16 and batching;
# U-Net/ResNet-34 training and prediction, and the full retraining round).
# That machine has torch with CUDA; the project's other Python packages travel as wheels in .whl/ (see
# /work/.library/device/README.md), installed into /tmp/site. Everything else runs on CPU in CI.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/backend:$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider --noconftest 2>&1 | tee "$OUT/gpu-tests.txt"
python3 -m bench.sam.bench_sam --vit-b --encoder-only 2>&1 | tee "$OUT/bench-sam.txt"
python3 -m bench.train.bench_train --round 2>&1 | tee "$OUT/bench-train.txt"
