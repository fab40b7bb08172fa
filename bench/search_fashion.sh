#!/bin/bash
# Architecture search on Fashion-MNIST, CPU backend (issue target: within
# 30 minutes, a model on the accuracy-vs-latency front that matches the
# seed CNN's accuracy within 0.3 points at <= 0.5x its measured latency).
#
# Two steps, both counted in the 30 minutes:
#  1. reference: the seed CNN (--include, one trial, no early stopping),
#     trained with the same budget and measured on the same backend;
#  2. search: aging evolution over the default architecture space with the
#     hard constraint --max-latency-ms = 0.5 x the seed's measured latency,
#     so that no time is spent training models that are too slow (their
#     latency is measured before training and they are journaled as pruned),
#     for the rest of the 30 minutes (--time-budget).
# Validation accuracy ranks models; the test split is reported.
#   bench/search_fashion.sh [BUILD_DIR] [OUT_DIR]      full run
#   SMOKE=1 bench/search_fashion.sh ...                 tiny end-to-end check
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-search-fashion}
MLOPT="$BUILD/mlopt"
export MLOPT_PLUGIN_PATH="$BUILD/plugins"
SEED_ARCH="conv=32x3:relu,64x3:relu;linear=128:relu;bn=0;pad=valid"
TOTAL=${TOTAL:-1800}
if [ -n "${SMOKE:-}" ]; then
    TOTAL=${TOTAL_SMOKE:-300}
    MARGIN=${MARGIN:-10}
    COMMON=(--max-epochs 2 --limit 1000 --val 500 --test-limit 500 --latency-repeats 3)
    SIZE=(--trials 6 --population 3 --sample 2)
else
    COMMON=(--max-epochs 9 --min-epochs 1 --eta 3 --val 5000 --latency-repeats 15)
    SIZE=(--trials 200 --population 12 --sample 4)
fi
mkdir -p "$OUT"
start=$(date +%s)
"$MLOPT" --backend cpu search --include "$SEED_ARCH" --trials 1 --scheduler none --cost latency --latency-batch 256 \
    --test --seed 1 "${COMMON[@]}" --out "$OUT/reference" --json > "$OUT/reference.json"
SEED_MS=$(python3 -c "
import json
for l in open('$OUT/reference/journal.jsonl'):
    r = json.loads(l)
    if r.get('type') == 'end' and r['id'] == 0: print(r['latency_ms'])")
LIMIT_MS=$(python3 -c "print(0.5 * $SEED_MS)")
used=$(( $(date +%s) - start ))
# what is left of the 30 minutes, less a margin for the last epoch in
# flight, the test evaluations and the report
BUDGET=$(( TOTAL - used - ${MARGIN:-90} ))
if [ "$BUDGET" -lt 30 ]; then BUDGET=30; fi
echo "seed CNN latency $SEED_MS ms: searching models <= $LIMIT_MS ms for $BUDGET s" >&2
"$MLOPT" --backend cpu search --strategy evolution --objective pareto --cost latency --latency-batch 256 \
    --max-latency-ms "$LIMIT_MS" --time-budget "$BUDGET" --test --seed 1 "${COMMON[@]}" "${SIZE[@]}" \
    --out "$OUT/search" --json > "$OUT/search.json"
end=$(date +%s)
"$MLOPT" report "$OUT/search" --out "$OUT/search/report.html" > /dev/null
python3 - "$OUT" $((end - start)) "$TOTAL" <<'PY'
import json, os, sys
d, secs, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def ends(sub):
    out = {}
    for line in open(os.path.join(d, sub, "journal.jsonl")):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("type") == "end":
            out[r["id"]] = r
    return out
seed = ends("reference").get(0)
trials = ends("search")
front = json.load(open(os.path.join(d, "search", "front.json")))["front"]
status = {}
for r in trials.values():
    status[r["status"]] = status.get(r["status"], 0) + 1
print(f"wall time {secs} s (limit {total}); search: {len(trials)} trials {status}; front of {len(front)}")
if not seed or seed["status"] != "completed":
    print("seed CNN trial did not complete:", seed); sys.exit(0)
print(f"seed CNN: val {100*seed['val_acc']:.2f}% test {100*(seed['test_acc'] or 0):.2f}% "
      f"latency {seed['latency_ms']:.3f} ms")
ok = [m for m in front if m["test_acc"] is not None and m["test_acc"] >= seed["test_acc"] - 0.003
      and m["latency_ms"] <= 0.5 * seed["latency_ms"]]
for m in front:
    print(f"  trial {m['trial']}: val {100*m['val_acc']:.2f}% test {100*(m['test_acc'] or 0):.2f}% "
          f"latency {m['latency_ms']:.3f} ms ({m['latency_ms']/seed['latency_ms']:.2f}x)  {m['arch']}")
print("TARGET MET" if ok and secs <= total else "target not met", [m["trial"] for m in ok])
PY
