#!/usr/bin/env bash
# Every shipped workload runs briefly on a virtual 4-node topology, on every variant, with the
# validator clean, a results file that results' reader loads and a CSV row per entry.
# Usage: test_harness_workloads.sh POPBENCH CHECKER WORKLOADS_DIR
set -euo pipefail
popbench=${1:?usage: test_harness_workloads.sh POPBENCH CHECKER WORKLOADS_DIR}
check=${2:?}
wldir=${3:?}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

topology="pack:4 [numa(memory=1GB)] core:2 pu:1"
variants=$("$popbench" list --workloads-dir "$wldir" | sed -n 's/^variants: *//p' | tr ',' '\n' | wc -l)
if [ "$variants" -lt 2 ]; then
  echo "popbench list names $variants variants, expected at least xen and pernode" >&2
  exit 1
fi
count=0
for f in "$wldir"/*.yaml; do
  name=$(basename "$f" .yaml)
  # Suites are lists of the others, which run here one by one.
  if grep -q '^suite:' "$f"; then
    continue
  fi
  echo "== $name"
  "$popbench" run "$name" --workloads-dir "$wldir" --topology "$topology" --variant all \
    --duration 200ms --warmup 50ms --repetitions 1 --verify sampled --quiet --format csv \
    --out "$out/$name.json" >"$out/$name.csv"
  "$check" "$out/$name.json" complete "$variants"
  # The CSV on stdout has a header and one row per entry: one per variant.
  rows=$(wc -l <"$out/$name.csv")
  if [ "$rows" -ne $((variants + 1)) ]; then
    echo "$name: CSV has $rows lines, expected a header and $variants rows" >&2
    exit 1
  fi
  count=$((count + 1))
done
if [ "$count" -lt 5 ]; then
  echo "only $count workloads found in $wldir" >&2
  exit 1
fi
echo "$count workloads ran"
