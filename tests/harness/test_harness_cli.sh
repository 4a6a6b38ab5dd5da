#!/usr/bin/env bash
# popbench's command line: bad flags and bad workload files exit 2 with a message naming what
# was wrong; list, topology, --help and --version work.
# Usage: test_harness_cli.sh POPBENCH CHECKER WORKLOADS_DIR
set -euo pipefail
popbench=${1:?usage: test_harness_cli.sh POPBENCH CHECKER WORKLOADS_DIR}
check=${2:?}
wldir=${3:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect STATUS TEXT -- ARGS...: the exit status and a piece of stderr (or stdout for status 0).
# shellcheck source=tests/harness/expect.sh
source "$(dirname "${BASH_SOURCE[0]}")/expect.sh"

short=(--duration 50ms --warmup 0s --repetitions 1 --min-measure 0s --quiet --format none
       --workloads-dir "$wldir")
expect 2 "--threads: '0' is not a list of thread counts" -- run numa-local --threads 0
expect 2 "--threads: '4-2'" -- run numa-local --threads 4-2
expect 2 "--variant: unknown variant 'buddy' (expected xen, pernode" -- run --variant xen,buddy
expect 2 "--lock: 'spin' is not a lock kind (expected ticket or mutex)" -- run --lock spin
expect 2 "--topology: 'bogus:3' is not a hwloc synthetic topology" -- run --topology bogus:3
expect 2 "--topology: cannot open '/nonexistent.xml'" -- run --topology /nonexistent.xml
expect 2 "--duration: " -- run --duration 5parsecs
expect 2 "--ops: --duration was given too" -- run --duration 1s --ops 10
expect 2 "--format: 'xml' is not an output format" -- run --format xml
expect 2 "--verify: 'most' is not a verify mode" -- run --verify most
expect 2 "--clear: 'bleach' is not a clear method" -- run --clear bleach
expect 2 "--placement: 'random' is not a placement" -- run --placement random
expect 2 "--repetitions: '0'" -- run --repetitions 0
expect 2 "--inject: no variant is labelled 'pcp' (expected one of xen, pernode)" -- run --inject pcp=10
expect 2 "--inject: 'xen' is not LABEL=NS" -- run --inject xen
expect 2 "--reference: no variant is labelled 'xen.2'" -- run --reference xen.2
expect 2 "--precision '0': expected a number from 0.001 to 0.5" -- run --precision 0
expect 2 "--min-measure: " -- run --min-measure soon
expect 2 "--budget: " -- run --budget 5parsecs
expect 2 "--min-repetitions 9 is above --max-repetitions 4" -- run --min-repetitions 9 --max-repetitions 4
expect 2 "--calibration: " -- run numa-local "${short[@]}" --calibration "$tmp/none.json"
expect 2 "--runs" -- calibrate --runs 0
expect 2 "popbench calibrate: --out: " -- calibrate numa-local "${short[@]}" --out "$tmp/no/such/dir/cal.json"
expect 2 "--claim-mode: 'per-node' is not a claim mode (expected workload, host, nodes or none)" -- run --claim-mode per-node
expect 2 "--claim-mode needs a value" -- run numa-local --claim-mode
expect 2 "unknown option '--frobnicate'" -- run --frobnicate
expect 2 "--threads needs a value" -- run numa-local --threads
expect 2 "no-such-workload" -- run no-such-workload --workloads-dir "$wldir"
expect 2 "unknown command 'sprint'" -- sprint

# A workload file with an error: the parser's FILE:LINE:COL message, exit 2.
cat >"$tmp/broken.yaml" <<'YAML'
description: a broken workload
machine:
  nodes: 2
  memory_per_node: 3 furlongs
domains:
  - count: 1
    memory: 8MiB
YAML
expect 2 "broken.yaml:4:20:" -- run "$tmp/broken.yaml" "${short[@]}"
cat >"$tmp/unknown.yaml" <<'YAML'
description: a workload with a key too many
domains:
  - count: 1
    memory: 8MiB
    colour: blue
YAML
expect 2 "unknown.yaml:5:" -- run "$tmp/unknown.yaml" "${short[@]}"

expect 0 "bootstorm" -- list --workloads-dir "$wldir"
expect 0 "variants:       xen, pernode" -- list --workloads-dir "$wldir"
expect 0 "lock kinds:" -- list
expect 0 "vCPU 7 (node 3)" -- topology --topology "pack:4 [numa(memory=1GB)] core:2 pu:1"
expect 0 "oversubscribed" -- topology --topology "pack:4 [numa(memory=1GB)] core:2 pu:1"
expect 0 "worker 2 -> vCPU 4 (node 2)" -- topology --topology "pack:4 [numa(memory=1GB)] core:2 pu:1" --placement scatter --threads 3
expect 0 "real:" -- topology
expect 0 "usage: popbench COMMAND" -- --help
expect 0 "--self-test-overhead" -- run --help
expect 0 "--claim-mode MODE" -- run --help
expect 0 "usage: popbench list" -- list --help
expect 0 "usage: popbench topology" -- topology --help
expect 0 "usage: popbench calibrate" -- calibrate --help
expect 0 "popbench 0." -- --version
expect 2 "usage: popbench COMMAND" --

# A thread sweep names one entry per count, and --format json prints the document.
"$popbench" run numa-local "${short[@]}" --variant xen --threads 1-2 --out "$tmp/sweep.json" --format json >"$tmp/sweep.stdout"
"$check" "$tmp/sweep.json" complete 2 numa-local/xen/threads:1 numa-local/xen/threads:2
grep -q '"speedup"' "$tmp/sweep.json" || { echo "FAIL: no speedup in a sweep" >&2; failures=$((failures + 1)); }
# ... and the parallel ceiling beside it: its speed-up, the efficiency against it, what it is.
for key in ceiling_speedup ceiling_efficiency ceiling_speedup_min ceiling_reference; do
  grep -q "\"$key\"" "$tmp/sweep.json" || { echo "FAIL: no $key in a sweep" >&2; failures=$((failures + 1)); }
done
grep -q '"popbench_results_version"' "$tmp/sweep.stdout" || { echo "FAIL: --format json printed no document" >&2; failures=$((failures + 1)); }

# Rounds with the ceiling among them: an A/A pair at 1 and 2 threads, repeated adaptively for
# numa-local's own minimum of 3 rounds (--max-repetitions below it is raised to it), the
# ceiling in every round (each entry has the ceiling's speed-up of its own round), beside the
# verdicts in the table, never one of the variants compared.
"$popbench" run numa-local --duration 50ms --warmup 0s --min-measure 0s --quiet \
  --workloads-dir "$wldir" --variant xen,xen --threads 1-2 --min-repetitions 2 \
  --max-repetitions 2 --out "$tmp/rounds.json" --format table >"$tmp/rounds.table"
"$check" "$tmp/rounds.json" complete 12 numa-local/xen/threads:2 numa-local/xen.2/threads:2
n=$(grep -cE '"ceiling_speedup": [0-9]' "$tmp/rounds.json" || true)
[ "$n" -eq 12 ] || { echo "FAIL: $n entries of three rounds have ceiling_speedup, expected 12" >&2; failures=$((failures + 1)); }
grep -q '"stop": "max repetitions"\|"stop": "target met"' "$tmp/rounds.json" || { echo "FAIL: rounds.json says no adaptive stop" >&2; failures=$((failures + 1)); }
grep -qE '^variant .* vs ceiling' "$tmp/rounds.table" || { echo "FAIL: the table has no vs ceiling column" >&2; cat "$tmp/rounds.table" >&2; failures=$((failures + 1)); }
if grep -q '^ceiling ' "$tmp/rounds.table" || grep -q '"ceiling/' "$tmp/rounds.json"; then
  echo "FAIL: the ceiling was compared as a variant" >&2; failures=$((failures + 1))
fi

# A/A: a variant named twice runs as two labelled copies of the same code; --inject slows one
# copy down and the results say which.
"$popbench" run numa-local "${short[@]}" --threads 1 --variant xen,xen --inject xen.2=100 \
  --out "$tmp/aa.json"
"$check" "$tmp/aa.json" complete 2 numa-local/xen/threads:1 numa-local/xen.2/threads:1
for key in '"xen.2": {"variant": "xen", "inject_alloc_delay_ns": 100}' '"reference": "xen"' \
  '"stop": "fixed repetitions"' '"rounds": 1' '"steal_pct"'; do
  grep -qF -- "$key" "$tmp/aa.json" || { echo "FAIL: aa.json lacks $key" >&2; failures=$((failures + 1)); }
done
# the slowed copy's entry says so too
grep -qE '^ +"inject_alloc_delay_ns": 100,?$' "$tmp/aa.json" || { echo "FAIL: no entry of aa.json records its injected delay" >&2; failures=$((failures + 1)); }
# The table compares the copy with the reference.
"$popbench" run numa-local "${short[@]}" --threads 1 --variant xen,xen --repetitions 2 \
  --format table >"$tmp/aa.table"
grep -q '^xen\.2 ' "$tmp/aa.table" || { echo "FAIL: the table has no xen.2 row" >&2; cat "$tmp/aa.table" >&2; failures=$((failures + 1)); }
grep -q 'vs xen' "$tmp/aa.table" || { echo "FAIL: the table has no ratio to xen" >&2; failures=$((failures + 1)); }

# calibrate writes context.calibration; run --calibration copies it.
"$popbench" calibrate numa-local "${short[@]}" --threads 1 --runs 1 --effect-ns 200 \
  --repetitions 2 --out "$tmp/cal.json" >"$tmp/cal.stdout"
grep -q 'false-alarm rate' "$tmp/cal.stdout" || { echo "FAIL: calibrate printed no rate" >&2; failures=$((failures + 1)); }
"$popbench" run numa-local "${short[@]}" --threads 1 --variant xen --calibration "$tmp/cal.json" \
  --out "$tmp/withcal.json"
for key in aa_runs aa_verdicts aa_false_alarms aa_false_alarm_rate effect_ns effect_runs \
  effect_verdicts effect_detected effect_detection_rate precision_target effect_share workloads; do
  grep -q "\"$key\"" "$tmp/withcal.json" || { echo "FAIL: withcal.json lacks calibration.$key" >&2; failures=$((failures + 1)); }
done

# Overhead self test prints its figures.
expect 0 "harness cost per timed call" -- run --self-test-overhead --ops 2000

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
