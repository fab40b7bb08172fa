#!/bin/bash
# Kill `mlopt search` midway (SIGKILL) and rerun the same command: the
# second run resumes from the journal, re-runs only the interrupted trial
# and repeats no finished one.  Small budget (2000 training samples).
#   bench/search_kill_resume.sh [BUILD_DIR] [KILL_AFTER_SECONDS]
set -u
BUILD=$(cd "${1:-build}" && pwd)
AFTER=${2:-150}
rm -rf kill-demo
export MLOPT_PLUGIN_PATH=$BUILD/plugins
A=(--backend cpu search --strategy evolution --cost latency --latency-batch 256 --latency-repeats 3 --trials 6
   --population 3 --sample 2 --max-epochs 3 --limit 2000 --val 1000 --test --test-limit 2000 --seed 3 --out kill-demo)
echo "== run 1: killed with SIGKILL after $AFTER s"
timeout -s KILL "$AFTER" $BUILD/mlopt "${A[@]}" > /dev/null; echo "exit status $?"
echo "== journal: $(grep -c '"type":"end"' kill-demo/journal.jsonl) trials ended, last line: $(tail -n 1 kill-demo/journal.jsonl | cut -c1-80)"
echo "== run 2: the same command"
$BUILD/mlopt "${A[@]}" > /dev/null; echo "exit status $?"
for id in 0 1 2 3 4 5; do echo "trial $id: $(grep -c "\"type\":\"start\",\"id\":$id," kill-demo/journal.jsonl) start record(s), $(grep -c "\"type\":\"end\",\"id\":$id," kill-demo/journal.jsonl) end record(s)"; done
