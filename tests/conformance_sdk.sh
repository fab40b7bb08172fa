#!/bin/bash
# Plugin SDK end to end: install mlopt into a temporary prefix, build the
# out-of-tree example backend (plugins/example) against that prefix only,
# load it through MLOPT_PLUGIN_PATH, run `mlopt conformance --backend=trace`
# and a short training run through it.
#   conformance_sdk.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlopt-sdk-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
test -f "$prefix/include/mlopt/backend.h"
ls "$prefix"/lib*/cmake/mlopt/mlopt-config.cmake > /dev/null

# Configure against the prefix only: no path into the source or build tree.
cmake -S "$src/plugins/example" -B "$tmp/trace" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  > "$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/trace" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
if grep -q "warning" "$tmp/build.log"; then cat "$tmp/build.log"; echo "the example plugin built with warnings"; exit 1; fi
if grep -q "$build" "$tmp/trace/CMakeCache.txt"; then echo "the example plugin found the build tree, not the prefix"; exit 1; fi

mlopt=$prefix/bin/mlopt
export MLOPT_PLUGIN_PATH=$tmp/trace
export XDG_CACHE_HOME=$tmp/cache
export MLOPT_NUM_THREADS=2

"$mlopt" backends | tee "$tmp/backends.txt"
grep -q "^trace  (usable)" "$tmp/backends.txt"

# The trace target is the cpu backend from the installed prefix.  Both it
# and the reference run the scalar path (MLOPT_CPU_REF=1), so this checks
# the plugin's plumbing (every slot forwarded, offsets, NULL slots), not
# the cpu kernels, which the conformance_cpu test covers.
MLOPT_CPU_REF=1 "$mlopt" conformance --backend=trace --expected "$src/tests/onnx_expected_pass.txt" \
  | tee "$tmp/conformance.txt"
grep -q "training level *full training step" "$tmp/conformance.txt"
"$mlopt" backends | grep -q "conformance: full training step"

MLOPT_TRACE_REPORT=1 "$mlopt" --backend=trace train --limit 500 --epochs 1 --test-limit 200 --quiet \
  --out "$tmp/model.safetensors" 2> "$tmp/train.err"
cat "$tmp/train.err"
grep -q "^trace: conv2d_forward" "$tmp/train.err"
grep -q "^trace: sgd_update" "$tmp/train.err"
echo "plugin SDK: ok"
