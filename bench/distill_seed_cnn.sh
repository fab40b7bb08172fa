#!/bin/sh
# Knowledge distillation on Fashion-MNIST (CPU backend): the tutorial CNN
# (seed-cnn, 225,034 parameters) teaches a student with about a quarter of
# its parameters (56,714: conv 16, conv 32, linear 64, linear 10; 3.97x
# fewer).  The comparison is meant to be fair: for each seed the student
# is distilled and, with the same epochs, data, seed and cosine schedule,
# trained alone (plain cross-entropy), each arm at its own learning rate
# chosen on a validation split, never on the test set.
#
# Teacher: seed-cnn as in the quick start (12 epochs, SGD lr 0.01 momentum
# 0.9, cosine) on the 60,000 training samples less VAL (5,000, split with
# seed 1, `mlopt train --val`), so the validation samples are unseen by the
# teacher as well.
#
# MODE=sweep: hyperparameters on the validation split (students train on
#   the other 55,000 samples, seed SWEEP_SEED): the student alone at each
#   of BASE_LRS, then distilled at every T in TS x alpha in ALPHAS x lr in
#   KD_LRS.  Prints validation accuracy of every run so far (sweep.jsonl
#   is appended to; an empty grid skips that part); pick from that.
# MODE=final (default): students on all 60,000 training samples, seeds
#   SEEDS; test accuracy of both arms, mean and sample std.
#
# Usage: bench/distill_seed_cnn.sh [BUILD_DIR] [WORK_DIR]
# Env: MODE, EPOCHS (students, default 3), TEACHER_EPOCHS (12), VAL (5000),
#      SEEDS ("1 2 3"), T (2), ALPHA (0.5), LR (distilled arm, 0.05),
#      BASE_LR (student alone, 0.07), SWEEP_SEED (1), BASE_LRS, TS, ALPHAS,
#      KD_LRS (sweep grids), THREADS (2).
# The defaults are the configuration chosen by MODE=sweep (see
# bench/results/distill_seed_cnn-vm.txt).
set -eu
BUILD=${1:-build}
WORK=${2:-$BUILD/distill-bench}
MODE=${MODE:-final}
EPOCHS=${EPOCHS:-3}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-12}
VAL=${VAL:-5000}
SEEDS=${SEEDS:-"1 2 3"}
T=${T:-2}
ALPHA=${ALPHA:-0.5}
LR=${LR:-0.05}
BASE_LR=${BASE_LR:-0.07}
SWEEP_SEED=${SWEEP_SEED:-1}
BASE_LRS=${BASE_LRS:-"0.02 0.05 0.1 0.2"}
TS=${TS:-"2 4 8"}
ALPHAS=${ALPHAS:-"0.5 0.7 0.9"}
KD_LRS=${KD_LRS:-"0.05 0.1"}
THREADS=${THREADS:-2}
MLOPT="$(cd "$BUILD" && pwd)/mlopt --backend cpu --threads $THREADS"
mkdir -p "$WORK"
cd "$WORK"

cat > student.txt <<'SPEC'
conv 16 k=3
act relu
maxpool 2
conv 32 k=3
act relu
maxpool 2
flatten
linear 64
act relu
linear 10
SPEC

TEACHER=teacher-e$TEACHER_EPOCHS-v$VAL.safetensors
if [ ! -f "$TEACHER" ]; then
    echo "== teacher: seed-cnn, $TEACHER_EPOCHS epochs (cosine) on 60000 - $VAL samples (--val $VAL --seed 1)"
    $MLOPT train --model seed-cnn --epochs "$TEACHER_EPOCHS" --val "$VAL" --seed 1 --out "$TEACHER.part" --quiet
    mv "$TEACHER.part" "$TEACHER"
fi

if [ "$MODE" = sweep ]; then
    OUT=sweep.jsonl # appended to, so a sweep can go in stages; remove it to start afresh
    for lr in $BASE_LRS; do
        echo "== sweep: alone, lr $lr, $EPOCHS epochs, seed $SWEEP_SEED"
        $MLOPT distill --teacher "$TEACHER" --student student.txt --only-baseline --baseline-lr "$lr" --val "$VAL" \
            --epochs "$EPOCHS" --seed "$SWEEP_SEED" --json | tee -a $OUT
    done
    for lr in $KD_LRS; do
        for t in $TS; do
            for a in $ALPHAS; do
                echo "== sweep: distilled, T $t alpha $a lr $lr, $EPOCHS epochs, seed $SWEEP_SEED"
                $MLOPT distill --teacher "$TEACHER" --student student.txt --temperature "$t" --alpha "$a" --lr "$lr" \
                    --val "$VAL" --epochs "$EPOCHS" --seed "$SWEEP_SEED" --out sweep-student.safetensors --json \
                    | tee -a $OUT
            done
        done
    done
    python3 - $OUT <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r0 = runs[0]
print(f"teacher val acc {100 * r0['teacher_val_accuracy']:.2f}%; {r0['epochs']} epochs on {r0['train_samples']} "
      f"samples, {r0['val_samples']} held out, seed {r0['seed']}")
for r in runs:
    if "accuracy" in r:
        print(f"distilled  T {r['temperature']:g} alpha {r['alpha']:g} lr {r['lr']:<5g}  val acc {100 * r['val_accuracy']:.2f}%")
    else:
        print(f"alone                          lr {r['baseline_lr']:<5g}  val acc {100 * r['baseline_val_accuracy']:.2f}%")
alone = max((r for r in runs if "accuracy" not in r), key=lambda r: r["baseline_val_accuracy"], default=None)
kd = max((r for r in runs if "accuracy" in r), key=lambda r: r["val_accuracy"], default=None)
if alone:
    print(f"best alone: lr {alone['baseline_lr']:g} ({100 * alone['baseline_val_accuracy']:.2f}%)")
if kd:
    print(f"best distilled: T {kd['temperature']:g} alpha {kd['alpha']:g} lr {kd['lr']:g} ({100 * kd['val_accuracy']:.2f}%)")
PY
    exit 0
fi

: > runs.jsonl
for seed in $SEEDS; do
    echo "== seed $seed: distilled (T=$T alpha=$ALPHA lr=$LR) and alone (lr=$BASE_LR), $EPOCHS epochs on 60000 samples"
    $MLOPT distill --teacher "$TEACHER" --student student.txt --temperature "$T" --alpha "$ALPHA" --lr "$LR" \
        --baseline --baseline-lr "$BASE_LR" --epochs "$EPOCHS" --seed "$seed" --out "student-s$seed.safetensors" \
        --json | tee -a runs.jsonl
done

python3 - runs.jsonl <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def show(label, xs):
    xs = [100 * x for x in xs]
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    print(f"{label:34s} {statistics.mean(xs):6.2f} +- {sd:4.2f} %  ({', '.join(f'{x:.2f}' for x in xs)})")
    return statistics.mean(xs)
r0 = runs[0]
print(f"teacher {r0['teacher_params']} params, test acc {100 * r0['teacher_accuracy']:.2f}%; "
      f"student {r0['student_params']} params ({r0['param_ratio']:.2f}x fewer); "
      f"{r0['epochs']} epochs on {r0['train_samples']} samples, {len(runs)} seeds")
a = show(f"student alone (lr {r0['baseline_lr']:g})", [r["baseline_accuracy"] for r in runs])
d = show(f"distilled (T {r0['temperature']:g} a {r0['alpha']:g} lr {r0['lr']:g})", [r["accuracy"] for r in runs])
print(f"distillation gain (mean): {d - a:+.2f} points (target >= +0.3); per seed: "
      + ", ".join(f"{100 * (r['accuracy'] - r['baseline_accuracy']):+.2f}" for r in runs))
PY
