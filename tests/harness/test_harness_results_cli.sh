#!/usr/bin/env bash
# The commands that read results files (compare, gate, history) on what they must refuse or
# cannot judge, through the real binary: files that break results/FORMAT.md are refused by the
# one reader with the field named (and history stores none of them), a directory or a FIFO is
# named as what it is without waiting, nothing gated and nothing in common are errors (exit
# 2), several processes creating one history database at once all succeed with every row, and
# a locked, corrupt or foreign database is named as such. Every command runs under `timeout`.
# Usage: test_harness_results_cli.sh POPBENCH CHECKER WORKLOADS_DIR
set -euo pipefail
# shellcheck source=tests/harness/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
harness_setup "$@"
py=/usr/bin/python3
holder=""
cleanup_first() {
  if [ -n "$holder" ]; then kill "$holder" 2>/dev/null || true; fi
}

# edit IN OUT PYTHON: OUT is IN's JSON as `d` after the Python statements.
edit() {
  "$py" - "$1" "$2" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
}

ops=(--workloads-dir "$wldir" --duration 20ms --warmup 0s --repetitions 2 --variant "xen,pernode" --threads 1 --quiet --format none)
timeout "$limit" "$popbench" run numa-local "${ops[@]}" --out "$tmp/a.json"
timeout "$limit" "$popbench" run numa-spread "${ops[@]}" --out "$tmp/other.json"
"$check" "$tmp/a.json" complete 4

# Files that break the format: refused by compare, gate and history import, the field named.
edit "$tmp/a.json" "$tmp/bad-threads.json" 'd["benchmarks"][1]["threads"] = "two"'
edit "$tmp/a.json" "$tmp/bad-rep.json" 'd["benchmarks"][1]["repetition_index"] = -1'
edit "$tmp/a.json" "$tmp/bad-name.json" 'd["benchmarks"][1]["variant"] = "pcp"'
edit "$tmp/a.json" "$tmp/bad-counter.json" 'd["benchmarks"][1]["pages_per_second"] = {"v": 1}'
edit "$tmp/a.json" "$tmp/bad-missing.json" 'del d["benchmarks"][1]["iterations"]'
edit "$tmp/a.json" "$tmp/bad-context.json" 'del d["context"]["git_commit"]'
edit "$tmp/a.json" "$tmp/bad-calibration.json" 'd["context"]["calibration"] = {"aa_runs": 3}'
declare -A field=(
  [bad-threads]="field 'benchmarks[1].threads' must be a non-negative integer"
  [bad-rep]="field 'benchmarks[1].repetition_index' must be a non-negative integer"
  [bad-name]="field 'benchmarks[1].name' must be \"numa-local/pcp/threads:1\""
  [bad-counter]="field 'benchmarks[1].pages_per_second' must be a number"
  [bad-missing]="missing required field 'benchmarks[1].iterations'"
  [bad-context]="missing required field 'context.git_commit'"
  [bad-calibration]="missing required field 'context.calibration.aa_verdicts'"
)
for f in "${!field[@]}"; do
  run_pb 2 "${field[$f]}" compare "$tmp/a.json" "$tmp/$f.json"
  run_pb 2 "${field[$f]}" gate --baseline "$tmp/a.json" "$tmp/$f.json"
  run_pb 2 "${field[$f]}" history --db "$tmp/refused.sqlite" import "$tmp/$f.json"
done
run_pb 0 "0 files, 0 runs" history --db "$tmp/refused.sqlite" list

# Not a regular file: named, no wait on a FIFO.
mkfifo "$tmp/fifo.json"
run_pb 2 "$tmp: is a directory (expected a results file)" compare "$tmp/a.json" "$tmp"
run_pb 2 "$tmp/fifo.json: is a FIFO (expected a results file)" compare "$tmp/a.json" "$tmp/fifo.json"
run_pb 2 "is a FIFO" gate --baseline "$tmp/a.json" "$tmp/fifo.json"
run_pb 2 "is a directory (expected a results file)" history --db "$tmp/refused.sqlite" import "$tmp"
run_pb 2 "is a FIFO" history --db "$tmp/refused.sqlite" import "$tmp/fifo.json"
run_pb 2 "is a directory (expected an SQLite file)" history --db "$tmp" list

# Nothing in common, nothing gated: errors, never a pass.
run_pb 2 "no benchmark in common" compare "$tmp/a.json" "$tmp/other.json"
edit "$tmp/a.json" "$tmp/apart.json" '
for e in d["benchmarks"] + d["popbench"]["runs"]:
    if "/pernode/" in e["name"]:
        e["name"] = e["name"].replace("threads:1", "threads:2")
        if "threads" in e and "run_name" in e:
            e["threads"] = 2
            e["run_name"] = e["name"]'
run_pb 2 "no benchmark in common" compare --variants xen,pernode "$tmp/apart.json"
run_pb 2 "nothing gated" gate --tier deterministic --baseline "$tmp/a.json" "$tmp/other.json"
edit "$tmp/a.json" "$tmp/empty.json" 'd["benchmarks"] = []; d["popbench"]["runs"] = []'
run_pb 2 "nothing gated" gate --baseline "$tmp/a.json" "$tmp/empty.json"
run_pb 2 "has no benchmarks" gate --update --baseline "$tmp/base.json" "$tmp/empty.json"
[ ! -e "$tmp/base.json" ] || fail "an empty baseline was installed"
# (with something to gate, the same file gates: not an error)
rc=0
timeout "$limit" "$popbench" gate --tier deterministic --baseline "$tmp/a.json" "$tmp/a.json" >"$tmp/stdout" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then fail "a file gated against itself: exit $rc"; cat "$tmp/stdout" >&2; fi

# Wall-clock verdicts need a calibration that supports them.
run_pb 3 "wall-clock tier REFUSED: $tmp/a.json has no context.calibration" gate --baseline "$tmp/a.json" "$tmp/a.json"
run_pb 2 "nothing gated" gate --tier wallclock --baseline "$tmp/a.json" "$tmp/a.json"
cal='{"aa_runs": 10, "aa_verdicts": 100, "aa_false_alarms": %d, "aa_false_alarm_rate": %s, "effect_ns": 50, "effect_runs": 10, "effect_verdicts": 100, "effect_detected": %d, "effect_detection_rate": %s, "precision_target": 0.03, "date": "2026-12-01T00:00:00+00:00"}'
# shellcheck disable=SC2059 # the format is ours
edit "$tmp/a.json" "$tmp/noisy.json" "d['context']['calibration'] = json.loads('$(printf "$cal" 12 0.12 95 0.95)')"
# shellcheck disable=SC2059
edit "$tmp/a.json" "$tmp/blind.json" "d['context']['calibration'] = json.loads('$(printf "$cal" 2 0.02 60 0.6)')"
run_pb 3 "a false-alarm rate of 0.12 (12 of 100 A/A verdicts), above --alpha 0.05" gate --baseline "$tmp/a.json" "$tmp/noisy.json"
run_pb 3 "a detection rate of 0.6 for a 50 ns slowdown (60 of 100 verdicts), below 0.9" gate --baseline "$tmp/a.json" "$tmp/blind.json"

# Several processes creating one new history database at once: all succeed, every row kept.
for i in 1 2 3 4 5 6; do
  edit "$tmp/a.json" "$tmp/c$i.json" "d['context']['git_commit'] = 'commit$i'"
done
for round in 1 2 3; do
  db="$tmp/concurrent-$round.sqlite"
  pids=()
  for i in 1 2 3 4 5 6; do
    timeout "$limit" "$popbench" history --db "$db" import "$tmp/c$i.json" >"$tmp/import-$i.out" 2>&1 &
    pids+=("$!")
  done
  for i in "${!pids[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    if [ "$rc" -ne 0 ]; then
      fail "round $round: concurrent import $((i + 1)) exited $rc"
      cat "$tmp/import-$((i + 1)).out" >&2
    fi
  done
  run_pb 0 "6 files, 24 runs" history --db "$db" list
done

# A database another process holds: named as locked, after waiting as long as asked.
"$py" - "$tmp/concurrent-1.sqlite" "$tmp/locked" <<'PY' &
import sqlite3, sys, time, os
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
for _ in range(3000):  # the test kills it long before
    time.sleep(0.1)
PY
holder=$!
for _ in $(seq 1 3000); do
  [ -e "$tmp/locked" ] && break
  kill -0 "$holder" 2>/dev/null || break
  sleep 0.05
done
[ -e "$tmp/locked" ] || fail "the lock holder did not start"
run_pb 2 "the database is locked, retried for 1 s" history --db "$tmp/concurrent-1.sqlite" --wait 1 import "$tmp/a.json"
run_pb 2 "the database is locked, retried for 1 s" history --db "$tmp/concurrent-1.sqlite" --wait 1 list
kill "$holder"
wait "$holder" 2>/dev/null || true
holder=""
run_pb 0 "6 files, 24 runs" history --db "$tmp/concurrent-1.sqlite" list

# Not an SQLite database; a corrupt one.
cp "$tmp/a.json" "$tmp/notdb.sqlite"
run_pb 2 "not an SQLite database (expected a popbench history)" history --db "$tmp/notdb.sqlite" list
cp "$tmp/concurrent-2.sqlite" "$tmp/corrupt.sqlite"
size=$(stat -c %s "$tmp/corrupt.sqlite")
dd if=/dev/urandom of="$tmp/corrupt.sqlite" bs=1 seek=4096 count=$((size - 4096)) conv=notrunc status=none
run_pb 2 "the database is corrupt" history --db "$tmp/corrupt.sqlite" list

summary "the results commands refused, named and waited as they should"
