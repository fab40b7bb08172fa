#!/bin/bash
# Hyperparameter tuning on Fashion-MNIST (issue target: ASHA beats the
# tutorial defaults (SGD lr 0.01 momentum 0.9, batch 64) by >= 0.5 points
# at the same epoch budget, spending <= 1/3 of the trial-epochs that a full
# random search with the same trial count would).  Runs three journals:
#   defaults: the tutorial's hyperparameters, one trial of E epochs;
#   asha-SAMPLER: SAMPLER (random or tpe) + ASHA, N trials, at most E epochs each;
#   (the full random search costs N*E trial-epochs by construction).
#   bench/tune_fashion.sh [BUILD_DIR] [OUT_DIR]   full run
#   SMOKE=1 bench/tune_fashion.sh ...              tiny end-to-end check
#   LIMIT=15000 N=27 E=9 bench/tune_fashion.sh ...  reduced data per epoch
#   SEED=2 ...                                      another seed (sampler and training)
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-tune-fashion}
MLOPT="$BUILD/mlopt"
export MLOPT_PLUGIN_PATH="$BUILD/plugins"
if [ -n "${SMOKE:-}" ]; then
    N=4; E=2; DATA=(--limit 1000 --val 500 --test-limit 500)
else
    # LIMIT training samples per epoch (default: all 55000 left after the
    # validation split); the issue's comparison is at equal epoch budgets.
    N=${N:-27}; E=${E:-9}; DATA=(--val 5000)
    if [ -n "${LIMIT:-}" ]; then DATA+=(--limit "$LIMIT"); fi
fi
SEED=${SEED:-1}
mkdir -p "$OUT"
# The tutorial's defaults use no LR schedule (constant); mlopt's own
# default, cosine, is run too and reported as a stronger reference.
"$MLOPT" --backend cpu tune --sampler grid --lr 0.01 --momentum 0.9 --batch 64 --optimizer sgd --schedule constant \
    --weight-decay 0 --max-epochs $E --scheduler none --seed "$SEED" --test "${DATA[@]}" --out "$OUT/defaults" --json \
    > "$OUT/defaults.json"
"$MLOPT" --backend cpu tune --sampler grid --lr 0.01 --momentum 0.9 --batch 64 --optimizer sgd --schedule cosine \
    --weight-decay 0 --max-epochs $E --scheduler none --seed "$SEED" --test "${DATA[@]}" --out "$OUT/defaults-cosine" \
    --json > "$OUT/defaults-cosine.json"
# The sampler (SAMPLER=random by default, or tpe).  Measured with TPE
# (LIMIT=15000): 135 of 243 trial-epochs, 13 of 27 trials ran to the end:
# TPE's later proposals were mostly good, so they ranked in the top third
# of each rung and ASHA let them go on.  ASHA's budget assumes trials
# arrive in random order.
# BOOTSTRAP (default 2 = eta - 1): the first two trials to reach a rung
# stop there, so no trial is promoted before it has beaten eta - 1 others
# at the rung.  Without it (BOOTSTRAP=0, measured with LIMIT=15000): 105 of
# 243 trial-epochs, because trials run one after another and the first
# arrivals at a rung have nobody to lose to: trials 0-3 all ran 9 epochs,
# one of them diverged at 10% accuracy.
SAMPLER=${SAMPLER:-random}
BOOTSTRAP=${BOOTSTRAP:-2}
ASHA_DIR="$OUT/asha-$SAMPLER-b$BOOTSTRAP"
"$MLOPT" --backend cpu tune --sampler "$SAMPLER" --trials $N --max-epochs $E --min-epochs 1 --eta 3 --scheduler asha \
    --bootstrap "$BOOTSTRAP" --seed "$SEED" --test "${DATA[@]}" --out "$ASHA_DIR" --json > "$OUT/asha.json"
"$MLOPT" report "$ASHA_DIR" --out "$ASHA_DIR/report.html" > /dev/null
python3 - "$OUT" $N $E <<'PY'
import json, sys
out, n, e = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = json.load(open(f"{out}/defaults.json")); a = json.load(open(f"{out}/asha.json"))
dc = json.load(open(f"{out}/defaults-cosine.json"))
dt, at = d.get("best_test_accuracy", 0), a.get("best_test_accuracy", 0)
print(f"tutorial defaults (constant lr): val {100*d['best_val_accuracy']:.2f}% test {100*dt:.2f}%")
print(f"defaults with cosine schedule:   val {100*dc['best_val_accuracy']:.2f}% test {100*dc.get('best_test_accuracy', 0):.2f}%")
print(f"ASHA best: val {100*a['best_val_accuracy']:.2f}% test {100*at:.2f}%  params {a['best_params']}")
print(f"trial-epochs: ASHA {a['trial_epochs']} vs full random search {n*e} ({a['trial_epochs']/(n*e):.2f}x)")
met = at - dt >= 0.005 and a["trial_epochs"] * 3 <= n * e
print("TARGET MET" if met else "target not met",
      f"(ASHA - cosine defaults: {100*(at - dc.get('best_test_accuracy', 0)):+.2f} points)")
PY
