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

short=(--duration 50ms --warmup 0s --repetitions 1 --quiet --format none --workloads-dir "$wldir")
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

# Overhead self test prints its figures.
expect 0 "harness cost per timed call" -- run --self-test-overhead --ops 2000

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
