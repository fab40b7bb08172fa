#!/bin/sh
# Reproduce the structure-optimization results on the tutorial CNN
# (Fashion-MNIST, CPU backend):
#   1. 90% global unstructured magnitude sparsity + fine-tune
#   2. 50% of conv filters and fc1 neurons removed (L1) + fine-tune,
#      batch-256 inference timed side by side with the original
#   3. seed-cnn-deep:4: remove the least important Linear(128,128) blocks
#      down to 1 + fine-tune
#   4. Net2Net: deepen (identity Linear+ReLU after fc1) and widen fc1 to 256,
#      then train on
# Usage: bench/prune_seed_cnn.sh [BUILD_DIR] [WORK_DIR]
# Env: EPOCHS (base training, default 3), FT_EPOCHS (default 1),
#      FT_LIMIT (fine-tuning samples, default 30000), THREADS (default 2).
set -eu
BUILD=${1:-build}
WORK=${2:-$BUILD/prune-bench}
EPOCHS=${EPOCHS:-3}
FT_EPOCHS=${FT_EPOCHS:-1}
FT_LIMIT=${FT_LIMIT:-30000}
THREADS=${THREADS:-2}
MLOPT="$(cd "$BUILD" && pwd)/mlopt --backend cpu --threads $THREADS"
mkdir -p "$WORK"
cd "$WORK"
FT="--finetune-epochs $FT_EPOCHS --finetune-limit $FT_LIMIT"

[ -f base.safetensors ] || $MLOPT train --epochs "$EPOCHS" --out base.safetensors --quiet
[ -f deep4.safetensors ] || $MLOPT train --model seed-cnn-deep:4 --epochs "$EPOCHS" --val 5000 --out deep4.safetensors --quiet

echo "== 1. 90% global unstructured sparsity + fine-tune"
$MLOPT prune base.safetensors --method magnitude --amount 0.9 --scope global $FT --permanent --sparse \
    --out mag90.safetensors | tee mag90.txt
echo "== 2. 50% of conv filters and fc1 neurons removed (L1) + fine-tune"
$MLOPT prune base.safetensors --method l1-filter --amount 0.5 --scope layer $FT --reps 25 \
    --out l1half.safetensors | tee l1half.txt
echo "== 3. seed-cnn-deep:4 layer pruning to 1 block + fine-tune"
$MLOPT layers deep4.safetensors importance | tee deep4_importance.txt
$MLOPT layers deep4.safetensors remove --target 1 $FT --out deep4_pruned.safetensors | tee deep4_remove.txt
echo "== 4. Net2Net deepen + widen, then training"
$MLOPT layers base.safetensors insert --after act3 --name fc_deep --out n2n_deep.safetensors | tee n2n_insert.txt
$MLOPT layers n2n_deep.safetensors widen fc1 --width 256 $FT --out n2n.safetensors | tee n2n_widen.txt
echo "== control: the same fine-tuning budget without surgery"
$MLOPT prune base.safetensors --method magnitude --amount 0 $FT --out control.safetensors | tee control.txt
