#!/bin/sh
# INT8 quantization of the tutorial CNN (seed-cnn) on Fashion-MNIST, CPU
# backend: trains a float32 model (reduced budget), then for each observer
# runs post-training quantization and prints, from one `mlopt quantize`
# run each (float and int8 measured side by side, alternating rounds):
# accuracy drop (target <= 0.5 pt), checkpoint size ratio (float32 file,
# which includes SGD momentum buffers, and float32 weights-only; target
# >= 3.5x), and batch-1 / batch-256 latency ratio (target >= 1.5x at 256).
# QAT (--qat) is not implemented yet; the QAT row is skipped.
# Usage: bench/quant_seed_cnn.sh [BUILD_DIR] [WORK_DIR]
# Env: EPOCHS (float training, default 2), OBSERVERS (default
#      "minmax ema percentile mse"), CALIB (batches, default 16),
#      REPS (default 15), THREADS (default 2), CKPT (reuse a float checkpoint).
set -eu
BUILD=${1:-build}
WORK=${2:-$BUILD/quant-bench}
EPOCHS=${EPOCHS:-2}
OBSERVERS=${OBSERVERS:-"minmax ema percentile mse"}
CALIB=${CALIB:-16}
REPS=${REPS:-15}
THREADS=${THREADS:-2}
MLOPT="$(cd "$BUILD" && pwd)/mlopt --backend cpu --threads $THREADS"
mkdir -p "$WORK"
CKPT=${CKPT:-$WORK/float.safetensors}
if [ ! -f "$CKPT" ]; then
  echo "training seed-cnn float32, $EPOCHS epochs ..." >&2
  $MLOPT train --epochs "$EPOCHS" --out "$CKPT" --quiet >&2
fi
# float32 weights only: 225,034 parameters x 4 bytes (+ the safetensors header)
WEIGHTS=$((225034 * 4))
printf '%-11s %9s %9s %8s %9s %9s %10s %10s %10s %10s %7s\n' observer float% int8% drop_pt size_x wsize_x f_b1_ms q_b1_ms f_b256_ms q_b256_ms speed
for obs in $OBSERVERS; do
  $MLOPT quantize "$CKPT" --observer "$obs" --calib-batches "$CALIB" --reps "$REPS" \
      --out "$WORK/int8-$obs.safetensors" --json > "$WORK/$obs.json"
  python3 - "$WORK/$obs.json" "$WEIGHTS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
w = int(sys.argv[2])
print("%-11s %8.2f%% %8.2f%% %8.2f %8.2fx %8.2fx %10.3f %10.3f %10.2f %10.2f %6.2fx  first=%s" % (
    r["observer"], 100 * r["float_accuracy"], 100 * r["int8_accuracy"], r["accuracy_drop_points"],
    r["size_ratio"], w / r["int8_bytes"], r["float_latency_b1_ms"], r["int8_latency_b1_ms"],
    r["float_latency_b256_ms"], r["int8_latency_b256_ms"], r["speedup_b256"],
    "float32" if r["first_layer_float"] else "int8"))
PY
done
echo "cross-backend: mlopt eval of the minmax int8 checkpoint" >&2
for be in cpu opencl vulkan; do
  "$(cd "$BUILD" && pwd)/mlopt" --backend $be eval "$WORK/int8-minmax.safetensors" 2>&1 | head -1 || true
done
