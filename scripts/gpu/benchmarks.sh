#!/usr/bin/env bash
# One accelerator session, benchmarks (issues 3, 4, 7): run from the repository root with the
# real weights carried as float16 in .gpu/ (scripts/gpu/half_weights.py export -o .gpu/vgg16bit.npz).
# Writes its logs to ${OUT:-out/gpu}.
set -uo pipefail
OUT=${OUT:-out/gpu}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/machine.txt"
python3 -c "import jax, torch; print('jax', jax.__version__, jax.devices(), 'torch', torch.__version__)" | tee -a "$OUT/machine.txt"
python3 scripts/gpu/half_weights.py expand .gpu/vgg16bit.npz -o /tmp/vgg.npz
timeout ${GPU_TIMEOUT:-270} python3 scripts/benchmarks/gpu.py --weights /tmp/vgg.npz 2>&1 | tee "$OUT/gpu.txt"
timeout ${THROUGHPUT_TIMEOUT:-150} python3 scripts/benchmarks/throughput.py --sizes 256 512 --chains 1 16 64 2>&1 | tee "$OUT/throughput.txt"
