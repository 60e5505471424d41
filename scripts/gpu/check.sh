#!/usr/bin/env bash
# The device check of issue 30 in one command (see scripts/gpu/check.py for what it measures):
#   bash scripts/gpu/check.sh [--tiny] [--previous .gpu/previous] [--budget 540]
# On the device, carry .gpu (the float16 weights: scripts/gpu/half_weights.py export -o
# .gpu/vgg16bit.npz); --tiny is the CPU rehearsal (under two minutes, tested in CI).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/gpu-check}; mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/scripts/benchmarks" PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 scripts/gpu/check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
