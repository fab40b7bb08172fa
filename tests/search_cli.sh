#!/bin/bash
# End-to-end tests of mlopt tune / search / report on a tiny synthetic
# IDX dataset (12x12 images, 10 classes): seconds per case.
set -eu
MLOPT="$1"
CASE="$2"
W=$(mktemp -d /tmp/mlopt-search-cli-XXXXXX)
trap 'rm -rf "$W"' EXIT
python3 - "$W" <<'PY'
import os, random, struct, sys
d = sys.argv[1]
random.seed(5)
for split, n in (("train", 400), ("t10k", 100)):
    side = 12
    imgs = bytearray()
    labs = bytearray()
    for i in range(n):
        c = i % 10
        img = [random.randrange(40) for _ in range(side * side)]
        for y in range(3):
            for x in range(3):
                img[((c // 4) * 4 + y) * side + (c % 4) * 3 + x] = 255
        imgs += bytes(img)
        labs.append(c)
    open(os.path.join(d, split + "-images-idx3-ubyte"), "wb").write(struct.pack(">IIII", 0x803, n, side, side) + imgs)
    open(os.path.join(d, split + "-labels-idx1-ubyte"), "wb").write(struct.pack(">II", 0x801, n) + labs)
PY
fail() { echo "FAIL: $*"; exit 1; }
cat > "$W/arch.txt" <<'SP'
conv_stages 1 2
conv_widths 4 8 16
kernels 3
linear_layers 0 1
linear_widths 16 64
activations relu gelu
batchnorm search
pad search
SP
case "$CASE" in
tune)
    "$MLOPT" tune --data "$W" --val 100 --sampler tpe --startup 3 --trials 6 --max-epochs 3 --lr 0.01:0.3 \
        --batch 20,40 --optimizer sgd,adam --out "$W/t" --json > "$W/out.json" 2> "$W/err.txt" || { cat "$W/err.txt"; fail "tune"; }
    grep -q '"trials": 6' "$W/out.json" || fail "summary: $(cat "$W/out.json")"
    python3 -c "import json,sys; json.load(open('$W/out.json'))" || fail "--json output is not JSON"
    [ "$(grep -c '"type":"start"' "$W/t/journal.jsonl")" = 6 ] || fail "6 start records"
    # grid: exactly the grid size
    "$MLOPT" tune --data "$W" --val 100 --sampler grid --lr 0.01,0.1 --batch 40 --optimizer sgd,adam --momentum 0.9 \
        --weight-decay 0 --schedule cosine --max-epochs 1 --out "$W/g" --quiet > /dev/null || fail "grid"
    [ "$(grep -c '"type":"start"' "$W/g/journal.jsonl")" = 4 ] || fail "grid of 4 points"
    # --jobs 2
    "$MLOPT" tune --data "$W" --val 100 --sampler random --trials 4 --max-epochs 2 --jobs 2 --out "$W/p" --quiet \
        > /dev/null || fail "jobs"
    [ "$(grep -c '"type":"end"' "$W/p/journal.jsonl")" = 4 ] || fail "4 end records with --jobs 2"
    ;;
search)
    "$MLOPT" search --data "$W" --val 100 --space "$W/arch.txt" --trials 8 --population 4 --sample 2 \
        --max-epochs 2 --cost latency --latency-batch 16 --latency-repeats 3 --max-params 3000 --test \
        --out "$W/s" --json > "$W/out.json" 2> "$W/err.txt" || { cat "$W/err.txt"; fail "search"; }
    python3 - "$W/s" <<'PY' || fail "front check"
import json, os, sys
d = sys.argv[1]
front = json.load(open(os.path.join(d, "front.json")))
assert front["front"], "empty front"
for m in front["front"]:
    assert m["params"] <= 3000, m
    assert os.path.exists(m["checkpoint"]), m
    assert m["latency_ms"] is not None
pts = [(m["val_acc"], m["cost"]) for m in front["front"]]
for a in pts:
    for b in pts:
        assert not (b[0] >= a[0] and b[1] <= a[1] and b != a), (a, b)
assert os.path.exists(os.path.join(d, "best.safetensors"))
PY
    "$MLOPT" eval --data "$W" "$W/s/best.safetensors" > /dev/null || fail "best checkpoint does not evaluate"
    ;;
dedupe)
    # A space of 6 architectures (3 widths x 2 activations) and 6 trials:
    # every one must be new.  Without the journal check evolution's
    # mutations of a population of 2 repeat architectures within a few trials.
    cat > "$W/small.txt" <<'SP'
conv_stages 1 1
conv_widths 4 8 12
kernels 3
linear_layers 0 0
activations relu gelu
batchnorm off
pad off
SP
    "$MLOPT" search --data "$W" --val 100 --limit 200 --space "$W/small.txt" --trials 6 --population 2 \
        --sample 2 --max-epochs 1 --scheduler none --cost params --out "$W/d" --quiet > /dev/null 2> "$W/err.txt" \
        || { cat "$W/err.txt"; fail "search"; }
    python3 - "$W/d/journal.jsonl" <<'PY' || fail "an architecture was proposed twice"
import json, sys
specs = [json.loads(l)["spec"] for l in open(sys.argv[1]) if '"type":"start"' in l]
assert len(specs) == 6, specs
assert len(set(specs)) == len(specs), specs
PY
    ;;
resume)
    args=(search --data "$W" --val 100 --space "$W/arch.txt" --trials 6 --population 3 --sample 2 --max-epochs 2
          --out "$W/r" --quiet)
    "$MLOPT" "${args[@]}" > /dev/null || fail "first run"
    J="$W/r/journal.jsonl"
    ends_before=$(grep -c '"type":"end"' "$J")
    # kill simulation: cut the journal in the middle of its 3rd-from-last line
    n=$(wc -l < "$J"); keep=$((n - 3))
    head -n "$keep" "$J" > "$W/j"; sed -n "$((keep + 1))p" "$J" | head -c 25 >> "$W/j"; cp "$W/j" "$J"
    finished=$(grep '"type":"end"' "$J" | sed 's/.*"id":\([0-9]*\),.*/\1/' | sort -n | tr '\n' ' ')
    "$MLOPT" "${args[@]}" > /dev/null 2> "$W/err.txt" || fail "resume"
    grep -q "truncated last line" "$W/err.txt" || fail "no warning: $(cat "$W/err.txt")"
    for id in $finished; do
        c=$(grep -c "\"type\":\"start\",\"id\":$id," "$J")
        [ "$c" = 1 ] || fail "finished trial $id started $c times"
    done
    [ "$(grep -c '"type":"end"' "$J")" = 6 ] || fail "6 trials ended"
    ;;
budget)
    # --time-budget: the first trial stops at its first epoch boundary (the
    # budget is far shorter than an epoch), no other trial starts; running
    # the same command again without the budget resumes and finishes.
    args=(search --data "$W" --val 100 --space "$W/arch.txt" --trials 4 --population 3 --sample 2 --max-epochs 2
          --out "$W/b" --quiet)
    "$MLOPT" "${args[@]}" --time-budget 0.001 > /dev/null 2> "$W/err.txt" || fail "budgeted run: $(cat "$W/err.txt")"
    J="$W/b/journal.jsonl"
    [ "$(grep -c '"type":"start"' "$J")" = 1 ] || fail "not exactly one trial started within the budget"
    grep '"type":"end"' "$J" | grep -q '"status":"pruned".*time budget' || fail "trial 0 not stopped by the budget"
    "$MLOPT" "${args[@]}" > /dev/null || fail "resume after the budget"
    [ "$(grep -c '"type":"end"' "$J")" = 4 ] || fail "4 trials ended after resuming"
    [ "$(grep -c '"type":"start","id":0,' "$J")" = 1 ] || fail "trial 0 started again"
    "$MLOPT" "${args[@]}" --time-budget -1 > /dev/null 2>&1 && fail "negative budget accepted"
    ;;
kill)
    # A real SIGKILL in the middle of a trial, then the same command again.
    args=(search --data "$W" --val 100 --space "$W/arch.txt" --trials 6 --population 3 --sample 2 --max-epochs 3
          --out "$W/k")
    J="$W/k/journal.jsonl"
    "$MLOPT" "${args[@]}" > /dev/null 2>&1 &
    pid=$!
    for _ in $(seq 3000); do
        # killed once two of the six trials have ended (usually inside the third)
        if [ -f "$J" ] && [ "$(grep -c '"type":"end"' "$J")" -ge 2 ]; then break; fi
        sleep 0.02
    done
    kill -9 "$pid" 2> /dev/null || fail "search finished before it could be killed"
    wait "$pid" 2> /dev/null || true
    finished=$(grep '"type":"end"' "$J" | sed 's/.*"id":\([0-9]*\),.*/\1/' | sort -n | tr '\n' ' ')
    [ -n "$finished" ] || fail "no finished trial before the kill"
    "$MLOPT" "${args[@]}" > /dev/null 2> "$W/err.txt" || fail "resume after kill -9"
    grep -q "resuming from" "$W/err.txt" || fail "no resume message: $(cat "$W/err.txt")"
    for id in $finished; do
        c=$(grep -c "\"type\":\"start\",\"id\":$id," "$J")
        [ "$c" = 1 ] || fail "finished trial $id started $c times"
    done
    [ "$(grep -c '"type":"end"' "$J")" = 6 ] || fail "6 trials ended"
    ;;
report)
    "$MLOPT" search --data "$W" --val 100 --space "$W/arch.txt" --trials 5 --population 3 --sample 2 \
        --max-epochs 2 --out "$W/s" --quiet > /dev/null || fail "search"
    "$MLOPT" tune --data "$W" --val 100 --sampler random --trials 5 --max-epochs 2 --out "$W/t" --quiet > /dev/null \
        || fail "tune"
    "$MLOPT" train --data "$W" --val 100 --epochs 2 --batch 40 --model seed-cnn --logdir "$W/t" \
        --out "$W/m.safetensors" --quiet > /dev/null 2>&1 || fail "train --logdir"
    [ -s "$W/t/metrics.csv" ] || fail "no metrics.csv"
    for d in s t; do
        "$MLOPT" report "$W/$d" --out "$W/$d.html" || fail "report $d"
        python3 - "$W/$d.html" "$d" <<'PY' || fail "report $d structure"
import sys, xml.etree.ElementTree as ET
html = open(sys.argv[1]).read()
root = ET.fromstring(html)  # well-formed (XHTML-style)
ns = "{http://www.w3.org/2000/svg}"
svgs = root.iter(ns + "svg")
svgs = list(svgs)
assert len(svgs) >= 2, len(svgs)
assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
text = html
if sys.argv[2] == "s":
    assert 'class="pareto"' in text and 'class="point' in text, "scatter"
else:
    assert 'class="pcoord"' in text, "parallel coordinates"
assert 'class="curve"' in text, "training curves"
PY
    done
    # compression sections: a pruned checkpoint and `mlopt quantize --json`
    mkdir "$W/c"
    "$MLOPT" prune "$W/m.safetensors" --data "$W" --amount 0.5 --out "$W/c/pruned.safetensors" > /dev/null 2>&1 \
        || fail "prune"
    "$MLOPT" quantize "$W/m.safetensors" --data "$W" --calib-batches 2 --calib-batch 20 --reps 2 \
        --out "$W/c/q.safetensors" --json > "$W/c/quantize.json" 2> /dev/null || fail "quantize"
    "$MLOPT" report "$W/c" --out "$W/c.html" > /dev/null || fail "report of pruning and quantization"
    python3 - "$W/c.html" <<'PY' || fail "report c structure"
import re, sys, xml.etree.ElementTree as ET
html = open(sys.argv[1]).read()
ET.fromstring(html)
# one sparsity chart (pruned.safetensors only: the dense int8 file has no zero weights to show)
assert html.count('class="sparsity"') == 1 and html.count('class="sqnr"') == 1, "sections"
widths = [float(w) for w in re.findall(r'class="bar" x="\d+" y="\d+" width="([0-9.]+)"', html)]
assert widths and all(w >= 0 for w in widths), widths
# --amount 0.5: every pruned layer is drawn at about half of the full bar
assert re.search(r'>(4[5-9]|5[0-5])\.\d%<', html), "sparsity near 50%"
assert re.search(r'>-?\d+\.\d dB<', html), "SQNR values"
PY
    mkdir "$W/empty"
    "$MLOPT" report "$W/empty" > /dev/null 2>&1 && fail "report of an empty directory succeeded"
    if command -v chromium > /dev/null; then
        chromium --headless --no-sandbox --disable-gpu --screenshot="$W/shot.png" --window-size=1200,2000 \
            "file://$W/s.html" > /dev/null 2>&1 || fail "chromium"
        [ -s "$W/shot.png" ] || fail "no screenshot"
        # a blank page compresses to a few KB; charts, text and the table do not
        [ "$(stat -c %s "$W/shot.png")" -gt 20000 ] || fail "screenshot looks blank"
        if [ -n "${MLOPT_KEEP_SCREENSHOT:-}" ]; then cp "$W/shot.png" "$MLOPT_KEEP_SCREENSHOT"; cp "$W/t.html" "$W/s.html" "$(dirname "$MLOPT_KEEP_SCREENSHOT")/"; fi
    else
        echo "chromium not installed: screenshot check skipped"
    fi
    ;;
*) fail "unknown case $CASE" ;;
esac
echo "ok $CASE"
