#!/usr/bin/env bash
# scripts/sweep: --dry-run prints the plan and runs nothing; bad arguments exit 2; a short sweep
# of 1 and 2 threads (what it runs on a 2-CPU machine) writes one complete results file with
# every variant at both counts and the parallel ceiling beside them, and its scaling figure.
# Usage: test_harness_sweep.sh POPBENCH CHECKER WORKLOADS_DIR
set -euo pipefail
popbench=${1:?usage: test_harness_sweep.sh POPBENCH CHECKER WORKLOADS_DIR}
check=${2:?}
sweep=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/sweep
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

"$sweep" --dry-run --popbench "$popbench" --out "$tmp/dry" --threads 1,2,4 >"$tmp/dry.txt"
grep -q -- "--threads 1\\\\,2\\\\,4" "$tmp/dry.txt" || fail "--dry-run does not print the run: $(cat "$tmp/dry.txt")"
grep -q "would run: .* plot" "$tmp/dry.txt" || fail "--dry-run does not print the plot"
grep -q "36 runs" "$tmp/dry.txt" || fail "--dry-run miscounts the runs: $(grep runs "$tmp/dry.txt")"
[ ! -e "$tmp/dry" ] || fail "--dry-run wrote $tmp/dry"

rc=0
"$sweep" --threads 1,x --dry-run >/dev/null 2>"$tmp/err" || rc=$?
if [ "$rc" -ne 2 ] || ! grep -q "not a list of thread counts" "$tmp/err"; then
  fail "bad --threads: exit $rc, $(cat "$tmp/err")"
fi
rc=0
"$sweep" --no-such-flag >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "unknown flag: exit $rc"

"$sweep" --popbench "$popbench" --out "$tmp/run" --threads 1,2 --repetitions 1 --warmup 0s \
  --duration 200ms >"$tmp/run.txt"
"$check" "$tmp/run/sweep.json" complete 6 sweep/xen/threads:1 sweep/xen/threads:2 \
  sweep/pernode/threads:1 sweep/pernode/threads:2 sweep/pcp/threads:1 sweep/pcp/threads:2
n=$(grep -c '"ceiling_speedup": [0-9]' "$tmp/run/sweep.json")
[ "$n" -eq 6 ] || fail "$n entries have ceiling_speedup, expected all 6"
n=$(grep -c '"ceiling_efficiency": [0-9]' "$tmp/run/sweep.json")
[ "$n" -eq 6 ] || fail "$n entries have ceiling_efficiency, expected all 6"
grep -q '"placement": "scatter"' "$tmp/run/sweep.json" || fail "the sweep did not place round the nodes"
if [ ! -s "$tmp/run/sweep.yaml" ] || [ ! -s "$tmp/run/topology.txt" ]; then
  fail "no workload or topology file"
fi
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  [ -s "$tmp/run/plots/sweep-sweep-scaling.svg" ] || fail "no scaling figure: $(ls "$tmp/run/plots")"
fi
echo "scripts/sweep: dry run, bad arguments and a 1,2 sweep as expected"
