#!/bin/bash
# Architecture search on Fashion-MNIST, CPU backend (issue target: within
# 30 minutes, a model on the accuracy-vs-latency front that matches the
# seed CNN's accuracy within 0.3 points at <= 0.5x its measured latency).
# Trial 0 is the seed CNN itself (--include), trained under the same budget
# and measured on the same backend, so the comparison is in one journal.
#   bench/search_fashion.sh [BUILD_DIR] [OUT_DIR]      full run
#   SMOKE=1 bench/search_fashion.sh ...                 tiny end-to-end check
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-search-fashion}
MLOPT="$BUILD/mlopt"
export MLOPT_PLUGIN_PATH="$BUILD/plugins"
SEED_ARCH="conv=32x3:relu,64x3:relu;linear=128:relu;bn=0;pad=valid"
if [ -n "${SMOKE:-}" ]; then
    SIZE=(--trials 4 --population 3 --sample 2 --max-epochs 2 --limit 1000 --val 500 --test-limit 500
          --latency-repeats 3)
else
    # The wall-clock budget bounds the run (28 min, leaving time for the
    # last epoch, the test evaluations and the report); --trials is an
    # upper bound that the budget normally cuts.
    SIZE=(--trials 100 --population 12 --sample 4 --max-epochs 9 --min-epochs 1 --eta 3 --val 5000
          --latency-repeats 15 --time-budget "${BUDGET:-1680}")
fi
start=$(date +%s)
"$MLOPT" --backend cpu search --strategy evolution --objective pareto --cost latency --latency-batch 256 \
    --include "$SEED_ARCH" --test --seed 1 "${SIZE[@]}" --out "$OUT" --json > "$OUT.json"
end=$(date +%s)
"$MLOPT" report "$OUT" --out "$OUT/report.html" > /dev/null
python3 - "$OUT" $((end - start)) <<'PY'
import json, os, sys
d, secs = sys.argv[1], int(sys.argv[2])
trials = {}
for line in open(os.path.join(d, "journal.jsonl")):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("type") == "end":
        trials[r["id"]] = r
front = json.load(open(os.path.join(d, "front.json")))["front"]
seed = trials.get(0)
print(f"wall time {secs} s; {len(trials)} trials; front of {len(front)}")
if not seed or seed["status"] != "completed":
    print("seed CNN trial did not complete:", seed); sys.exit(0)
print(f"seed CNN: val {100*seed['val_acc']:.2f}% test {100*(seed['test_acc'] or 0):.2f}% latency {seed['latency_ms']:.3f} ms")
ok = [m for m in front if m["test_acc"] is not None and m["test_acc"] >= seed["test_acc"] - 0.003
      and m["latency_ms"] <= 0.5 * seed["latency_ms"]]
for m in front:
    print(f"  trial {m['trial']}: val {100*m['val_acc']:.2f}% test {100*(m['test_acc'] or 0):.2f}% "
          f"latency {m['latency_ms']:.3f} ms  {m['arch']}")
print("TARGET MET" if ok and secs <= 1800 else "target not met", [m["trial"] for m in ok])
PY
