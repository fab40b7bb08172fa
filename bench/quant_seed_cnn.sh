#!/bin/sh
# INT8 quantization of the tutorial CNN (seed-cnn) on Fashion-MNIST, CPU
# backend: trains a float32 model (reduced budget), then for each observer
# runs post-training quantization and prints, from one `mlopt quantize`
# run each (float and int8 measured side by side, alternating rounds):
# accuracy drop (target <= 0.5 pt), checkpoint size ratio (float32 file,
# which includes SGD momentum buffers, and float32 weights-only; target
# >= 3.5x), and batch-1 / batch-256 latency ratio (target >= 1.5x at 256).
# Then quantization-aware training (--qat, target drop <= 0.2 pt) for each
# learning rate in QAT_LRS, QAT_EPOCHS epochs over the full training set.
# Usage: bench/quant_seed_cnn.sh [BUILD_DIR] [WORK_DIR]
# Env: EPOCHS (float training, default 2), OBSERVERS (default
#      "minmax ema percentile mse"), CALIB (batches, default 16),
#      REPS (default 15), THREADS (default 2), CKPT (reuse a float checkpoint),
#      QAT_LRS (default "0.0001 0.0003 0.001"; empty: no QAT rows), QAT_EPOCHS (default 1).
set -eu
BUILD=${1:-build}
WORK=${2:-$BUILD/quant-bench}
EPOCHS=${EPOCHS:-2}
OBSERVERS=${OBSERVERS:-"minmax ema percentile mse"}
QAT_LRS=${QAT_LRS-"0.0001 0.0003 0.001"}
QAT_EPOCHS=${QAT_EPOCHS:-1}
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
row() { # row JSON LABEL
  python3 - "$1" "$WEIGHTS" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
w = int(sys.argv[2])
extra = "  qat_loss=%.4f %.0fs" % (r["qat_final_loss"], r["quantize_seconds"]) if r["mode"] == "qat" else ""
print("%-11s %8.2f%% %8.2f%% %8.2f %8.2fx %8.2fx %10.3f %10.3f %10.2f %10.2f %6.2fx  first=%s%s" % (
    sys.argv[3], 100 * r["float_accuracy"], 100 * r["int8_accuracy"], r["accuracy_drop_points"],
    r["size_ratio"], w / r["int8_bytes"], r["float_latency_b1_ms"], r["int8_latency_b1_ms"],
    r["float_latency_b256_ms"], r["int8_latency_b256_ms"], r["speedup_b256"],
    "float32" if r["first_layer_float"] else "int8", extra))
PY
}
for obs in $OBSERVERS; do
  $MLOPT quantize "$CKPT" --observer "$obs" --calib-batches "$CALIB" --reps "$REPS" \
      --out "$WORK/int8-$obs.safetensors" --json > "$WORK/$obs.json"
  row "$WORK/$obs.json" "$obs"
done
for lr in $QAT_LRS; do
  $MLOPT quantize "$CKPT" --qat --epochs "$QAT_EPOCHS" --lr "$lr" --reps "$REPS" \
      --out "$WORK/int8-qat-$lr.safetensors" --json > "$WORK/qat-$lr.json"
  row "$WORK/qat-$lr.json" "qat@$lr"
done
echo "cross-backend: mlopt eval of the minmax int8 checkpoint" >&2
for be in cpu opencl vulkan; do
  "$(cd "$BUILD" && pwd)/mlopt" --backend $be eval "$WORK/int8-minmax.safetensors" 2>&1 | head -1 || true
done
