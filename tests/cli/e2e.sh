#!/bin/bash
# End-to-end tests of the mlopt command.  Usage: e2e.sh MLOPT_BINARY CASE
# Each case prints what it checks and exits non-zero on failure.
set -u
MLOPT="$1"
CASE="$2"
TB_VERIFY="${3:-}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DATA=/usr/share/datasets/fashion-mnist

fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

# expect_error RC_WANTED PATTERN -- command...: non-zero exit and PATTERN in stderr
expect_error() {
  local pattern="$1"; shift
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  [ $rc -ne 0 ] || fail "expected failure from: $*"
  [ $rc -lt 128 ] || fail "'$*' crashed (exit $rc) instead of failing cleanly"
  grep -qiE -- "$pattern" "$WORK/err" || { cat "$WORK/err" >&2; fail "stderr of '$*' lacks /$pattern/"; }
  echo "ok: '$*' -> rc $rc: $(head -c 300 "$WORK/err" | tr '\n' ' ')"
}

json_field() { # json_field FILE KEY
  sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p" "$1" | head -1 | tr -d '"'
}

QUICK="--limit 3000 --test-limit 1000 --batch 64 --seed 7"

case "$CASE" in
accuracy)
  # A short run on a subset must land far above chance (10%).
  "$MLOPT" --backend=cpu train $QUICK --epochs 2 --out "$WORK/m.safetensors" --json >"$WORK/j" || fail "train failed"
  acc=$(json_field "$WORK/j" accuracy)
  awk -v a="$acc" 'BEGIN { exit !(a > 0.70) }' || fail "accuracy $acc not above 0.70"
  echo "ok: test accuracy $acc after 2 epochs on 3000 samples"
  "$MLOPT" eval "$WORK/m.safetensors" --limit 1000 --json >"$WORK/e" || fail "eval failed"
  eacc=$(json_field "$WORK/e" accuracy)
  [ "$eacc" = "$acc" ] || fail "eval accuracy $eacc differs from train's final $acc"
  echo "ok: eval reproduces accuracy $eacc"
  ;;
resume)
  # 2 epochs straight == 1 epoch + resume for the 2nd: identical checkpoints.
  "$MLOPT" --backend=cpu train $QUICK --epochs 2 --quiet --out "$WORK/full.safetensors" || fail "full run"
  "$MLOPT" --backend=cpu train $QUICK --epochs 2 --stop-after 1 --quiet --out "$WORK/half.safetensors" || fail "half run"
  "$MLOPT" --backend=cpu train --resume "$WORK/half.safetensors" --epochs 2 --quiet --out "$WORK/resumed.safetensors" || fail "resume"
  cmp "$WORK/full.safetensors" "$WORK/resumed.safetensors" || fail "resumed checkpoint differs from the uninterrupted run"
  echo "ok: resumed run is bit-identical to the uninterrupted one"
  ;;
augment-dropout-resume)
  printf 'conv 8 k=3\nact relu\nmaxpool 2\nflatten\ndropout 0.3\nlinear 32\nact relu\nlinear 10\n' >"$WORK/spec.txt"
  A="--model $WORK/spec.txt --augment --limit 1000 --test-limit 200 --seed 3 --optimizer adam --lr 0.001 --quiet"
  "$MLOPT" --backend=cpu train $A --epochs 2 --out "$WORK/full.safetensors" || fail "full run"
  "$MLOPT" --backend=cpu train $A --epochs 2 --stop-after 1 --out "$WORK/half.safetensors" || fail "half run"
  "$MLOPT" --backend=cpu train --resume "$WORK/half.safetensors" --epochs 2 --quiet --out "$WORK/res.safetensors" || fail "resume"
  cmp "$WORK/full.safetensors" "$WORK/res.safetensors" || fail "resume with dropout+augment+adam differs"
  echo "ok: resume is exact with dropout, augmentation and Adam"
  ;;
logdir)
  "$MLOPT" --backend=cpu train --limit 500 --test-limit 100 --epochs 2 --quiet --out "$WORK/m.safetensors" --logdir "$WORK/logs" || fail "train with --logdir"
  ls "$WORK"/logs/events.out.tfevents.* >/dev/null 2>&1 || fail "no TensorBoard event file"
  [ -s "$WORK/logs/metrics.csv" ] || fail "no metrics.csv"
  grep -q "test/accuracy" "$WORK/logs/metrics.csv" || fail "metrics.csv lacks test/accuracy"
  if [ -n "$TB_VERIFY" ]; then
    "$TB_VERIFY" "$WORK"/logs/events.out.tfevents.* train/loss train/accuracy test/accuracy lr images_per_sec \
      || fail "event file did not verify"
  fi
  if python3 -c "import tensorboard" 2>/dev/null; then
    python3 - "$WORK/logs" <<'PY' || fail "TensorBoard could not read the event file"
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1]); acc.Reload()
tags = acc.Tags()["scalars"]
assert "test/accuracy" in tags and "train/loss" in tags, tags
print("ok: TensorBoard reads", len(acc.Scalars("train/loss")), "train/loss points")
PY
  fi
  echo "ok: event file and metrics.csv written"
  ;;
bad-input)
  expect_error "nosuch.*available backends: .*cpu" "$MLOPT" --backend=nosuch train
  expect_error "unknown option '--frobnicate'" "$MLOPT" train --frobnicate
  expect_error "--epochs expects an integer" "$MLOPT" train --epochs=abc
  expect_error "unknown command 'trian'" "$MLOPT" trian
  expect_error "unknown activation 'nosuch'" "$MLOPT" train --activation nosuch --limit 10
  expect_error "unknown model 'nosuch-net'" "$MLOPT" train --model nosuch-net --limit 10
  printf 'conv 8 k=3\nlinear 10\n' >"$WORK/noflat.txt"
  expect_error "linear needs a flat input" "$MLOPT" train --model "$WORK/noflat.txt" --limit 10
  printf 'conv 8 k=3\nconv eight k=3\n' >"$WORK/bad.txt"
  expect_error "bad.txt:2: expected" "$MLOPT" train --model "$WORK/bad.txt" --limit 10
  # data: missing, truncated, wrong magic, count mismatch
  expect_error "nonexistent" "$MLOPT" train --data "$WORK/nonexistent" --limit 10
  mkdir -p "$WORK/trunc"; cp "$DATA"/*labels* "$WORK/trunc/"
  zcat "$DATA/train-images-idx3-ubyte.gz" | head -c 100000 >"$WORK/trunc/train-images-idx3-ubyte"
  expect_error "train-images-idx3-ubyte" "$MLOPT" train --data "$WORK/trunc" --limit 10
  mkdir -p "$WORK/magic"; cp "$DATA"/* "$WORK/magic/"; rm "$WORK/magic/train-labels-idx1-ubyte.gz"
  printf '\x00\x00\x09\x01\x00\x00\xea\x60' >"$WORK/magic/train-labels-idx1-ubyte"
  expect_error "train-labels-idx1-ubyte" "$MLOPT" train --data "$WORK/magic" --limit 10
  # checkpoints: missing, garbage, truncated
  expect_error "missing.safetensors" "$MLOPT" eval "$WORK/missing.safetensors"
  head -c 5000 /dev/urandom >"$WORK/garbage.safetensors"
  expect_error "garbage.safetensors" "$MLOPT" eval "$WORK/garbage.safetensors"
  "$MLOPT" --backend=cpu train --limit 200 --test-limit 50 --epochs 1 --quiet --out "$WORK/ok.safetensors" || fail "train"
  head -c 100000 "$WORK/ok.safetensors" >"$WORK/trunc.safetensors"
  expect_error "trunc.safetensors" "$MLOPT" eval "$WORK/trunc.safetensors"
  expect_error "trunc.safetensors" "$MLOPT" train --resume "$WORK/trunc.safetensors"
  ;;
nonfinite)
  # A diverging run stops with a message and keeps the last good checkpoint.
  "$MLOPT" --backend=cpu train --limit 640 --test-limit 100 --epochs 1 --quiet --out "$WORK/m.safetensors" || fail "train"
  cp "$WORK/m.safetensors" "$WORK/before.safetensors"
  expect_error "loss became (NaN|infinite)" "$MLOPT" --backend=cpu train --resume "$WORK/m.safetensors" --epochs 3 --lr 1e38 --out "$WORK/m.safetensors"
  cmp "$WORK/m.safetensors" "$WORK/before.safetensors" || fail "the last good checkpoint was overwritten"
  ls "$WORK" | grep -q tmp && fail "temporary file left behind"
  echo "ok: divergence stops training and the checkpoint survives"
  ;;
backends)
  "$MLOPT" backends >"$WORK/b" || fail "mlopt backends failed"
  grep -q "^cpu  (usable)" "$WORK/b" || { cat "$WORK/b"; fail "cpu backend not listed as usable"; }
  "$MLOPT" backends --json >"$WORK/bj" || fail "mlopt backends --json failed"
  grep -q '"name": "cpu"' "$WORK/bj" || fail "json lacks cpu"
  "$MLOPT" info --json >"$WORK/i" || fail "info"
  [ "$(json_field "$WORK/i" params)" = 225034 ] || fail "seed-cnn params != 225034"
  echo "ok: backends and info"
  ;;
backend-accuracy-*)
  # The same short training on another backend lands within 0.5 points of the CPU's.
  B=${CASE#backend-accuracy-}
  if ! "$MLOPT" --backend="$B" backends >/dev/null 2>&1 || ! "$MLOPT" backends --json | grep -q "\"name\": \"$B\", [^]]*\"usable\": true"; then
    echo "skip: backend $B not usable here"; exit 0
  fi
  S="--limit 1200 --test-limit 500 --epochs 1 --batch 32 --seed 5 --quiet --json --stats"
  "$MLOPT" --backend=cpu train $S --out "$WORK/cpu.safetensors" >"$WORK/cpu.json" || fail "cpu run"
  "$MLOPT" train --backend="$B" $S --out "$WORK/b.safetensors" >"$WORK/b.json" || fail "$B run"
  a=$(json_field "$WORK/cpu.json" accuracy); b=$(json_field "$WORK/b.json" accuracy)
  awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005) }' || fail "$B accuracy $b vs cpu $a"
  syncs=$(json_field "$WORK/b.json" host_syncs_per_step)
  awk -v s="$syncs" 'BEGIN { exit !(s <= 1.0) }' || fail "$B makes $syncs host syncs per step"
  echo "ok: $B accuracy $b vs cpu $a; $syncs host syncs/step, $(json_field "$WORK/b.json" submissions_per_step) submissions/step"
  MLOPT_BACKEND="$B" "$MLOPT" train --limit 64 --test-limit 64 --epochs 1 --quiet --json --out "$WORK/env.safetensors" >"$WORK/env.json" || fail "MLOPT_BACKEND=$B"
  grep -q "\"backend\": \"$B\"" "$WORK/env.json" || fail "MLOPT_BACKEND=$B did not select $B"
  echo "ok: MLOPT_BACKEND=$B selects it"
  ;;
*) fail "unknown case" ;;
esac
