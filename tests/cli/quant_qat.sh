#!/bin/bash
# End-to-end check of `mlopt quantize --qat`: a short float training, QAT
# on a subset, the int8 checkpoint evaluates to the accuracy the command
# reported, and invalid QAT options fail cleanly.  Usage: quant_qat.sh MLOPT
set -u
MLOPT="$1"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL [quant_qat]: $*" >&2; exit 1; }
json_field() { sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p" "$1" | head -1 | tr -d '"'; }

"$MLOPT" --backend=cpu train --limit 3000 --test-limit 500 --epochs 2 --batch 64 --seed 7 --out "$WORK/f.safetensors" \
  --quiet >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; fail "train failed"; }
"$MLOPT" --backend=cpu quantize "$WORK/f.safetensors" --qat --limit 1024 --lr 0.001 --test-limit 500 --reps 1 \
  --out "$WORK/q.safetensors" --json >"$WORK/j" 2>"$WORK/err" || { cat "$WORK/err" >&2; fail "quantize --qat failed"; }
[ "$(json_field "$WORK/j" mode)" = qat ] || fail "mode is not qat: $(cat "$WORK/j")"
facc=$(json_field "$WORK/j" float_accuracy)
qacc=$(json_field "$WORK/j" int8_accuracy)
loss=$(json_field "$WORK/j" qat_final_loss)
awk -v f="$facc" -v q="$qacc" 'BEGIN { exit !(q > 0.6 && q > f - 0.05) }' || fail "int8 accuracy $qacc vs float $facc"
awk -v l="$loss" 'BEGIN { exit !(l > 0 && l < 1.5) }' || fail "QAT final loss $loss"
echo "ok: QAT int8 accuracy $qacc (float $facc), final QAT loss $loss"
"$MLOPT" --backend=cpu eval "$WORK/q.safetensors" --limit 500 --json >"$WORK/e" 2>"$WORK/err" ||
  { cat "$WORK/err" >&2; fail "eval of the QAT int8 checkpoint failed"; }
eacc=$(json_field "$WORK/e" accuracy)
[ "$eacc" = "$qacc" ] || fail "eval accuracy $eacc differs from quantize's int8 $qacc"
echo "ok: mlopt eval of the int8 checkpoint gives $eacc"
"$MLOPT" --backend=cpu quantize "$WORK/f.safetensors" --qat --lr -1 --limit 64 --out "$WORK/bad.safetensors" \
  >/dev/null 2>"$WORK/err"
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "--lr -1: exit $rc"
grep -qi "learning rate" "$WORK/err" || { cat "$WORK/err" >&2; fail "--lr -1: message does not name the learning rate"; }
[ ! -e "$WORK/bad.safetensors" ] || fail "--lr -1 wrote a checkpoint"
echo "ok: --lr -1 -> rc $rc: $(head -c 200 "$WORK/err")"
