#!/usr/bin/env bash
# One accelerator session, the README's full-quality command on real (float16-carried) weights.
# Usage: scripts/gpu/synthesis.sh [ITERATIONS] [EXEMPLAR]; writes a few files to ${OUT:-out/gpu}.
set -uo pipefail
OUT=${OUT:-out/gpu}; mkdir -p "$OUT"
ITERATIONS=${1:-10000}; EXEMPLAR=${2:-gravel}  # 10000: the seed's run length (about 10 min on one H100)
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
[ -f /tmp/vgg.npz ] || python3 scripts/gpu/half_weights.py expand .gpu/vgg16bit.npz -o /tmp/vgg.npz
RUN=/tmp/${EXEMPLAR}256
start=$(date +%s)
timeout ${SYNTH_TIMEOUT:-900} python3 -m maxent_jax.cli \
    synthesize maxent_jax/data/exemplars/$EXEMPLAR.png --out-dir $RUN --max-side 256 \
    --iterations $ITERATIONS --chains ${CHAINS:-16} --average-last ${AVERAGE:-500} --checkpoint-every 250 \
    --weights /tmp/vgg.npz --no-progress 2>&1 | tee "$OUT/synthesis.txt"
echo "wall $(( $(date +%s) - start )) s" | tee -a "$OUT/synthesis.txt"
ls $RUN | tee -a "$OUT/synthesis.txt"
cp $RUN/sample_000.png $RUN/sample_001.png $RUN/trace.npz $RUN/config.json "$OUT"/ 2>/dev/null
cp $RUN/average_000.png $RUN/trace.png "$OUT"/ 2>/dev/null
true
