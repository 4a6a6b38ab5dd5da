#!/usr/bin/env bash
# Every shipped workload runs briefly on a virtual 4-node topology, on every variant, with the
# validator clean, a results file that results' reader loads and a CSV row per entry; then the
# --claim-mode values, with the locality figures they report.
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
  # Metadata only (--backing none): the sweep stays small; backings are checked below.
  "$popbench" run "$name" --workloads-dir "$wldir" --topology "$topology" --variant all \
    --duration 200ms --warmup 50ms --repetitions 1 --min-measure 0s --backing none --quiet \
    --format csv --out "$out/$name.json" >"$out/$name.csv"
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
if [ ! -f "$wldir/vnuma-storm.yaml" ]; then
  echo "vnuma-storm.yaml is missing from $wldir" >&2
  exit 1
fi
echo "$count workloads ran"

# Backings: balloon (one 1 GiB node) verified on real memory, and aliased: a buffer of the
# last-level cache x 2 behind the node (real, when the node is no larger), recorded per node.
echo "== balloon --verify sampled, --backing aliased"
"$popbench" run balloon --workloads-dir "$wldir" --variant xen --duration 200ms --warmup 0s \
  --repetitions 1 --verify sampled --quiet --format none --out "$out/balloon-real.json"
"$check" "$out/balloon-real.json" complete 1
grep -q '"backing": "real"' "$out/balloon-real.json"
"$popbench" run balloon --workloads-dir "$wldir" --variant xen --duration 200ms --warmup 0s \
  --repetitions 1 --backing aliased --quiet --format none --out "$out/balloon-aliased.json"
"$check" "$out/balloon-aliased.json" complete 1
grep -q '"backing_nodes": "balloon: node0 \(aliased\|real\) [0-9]*MiB' "$out/balloon-aliased.json"
grep -q '"clear_host_method": "' "$out/balloon-aliased.json"
# What an aliased frame holds cannot be verified: refused before anything runs, status 2.
set +e
"$popbench" run bootstorm --workloads-dir "$wldir" --backing aliased --verify sampled --quiet \
  2>"$out/refused.err" >/dev/null
rc=$?
set -e
if [ "$rc" -ne 2 ] || ! grep -q "aliased: every node's frames share one buffer" "$out/refused.err"; then
  echo "--verify on an aliased backing: status $rc, expected 2 and a message; got:" >&2
  cat "$out/refused.err" >&2
  exit 1
fi
echo "backings checked"

# csv_column CSV NAME: the column NAME of every row, "absent" when the header lacks it.
csv_column() {
  awk -F, -v want="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == want) c = i; next }
                        { print (c ? $c : "absent") }' "$1"
}

# fail_unless CSV NAME AWK-CONDITION WHAT: every row's NAME satisfies the condition on v.
fail_unless() {
  local bad
  bad=$(csv_column "$1" "$2" | awk -v what="$4" "{ v = \$1 } !($3) { print \"row \" NR \": $2 = \" v \", expected \" what }")
  if [ -n "$bad" ]; then
    echo "$1: $bad" >&2
    exit 1
  fi
}

# Every --claim-mode on a workload whose node claims always fit (three domains with nodes of
# their own, built until-built): the mode is in the context; locality is a fraction of the
# three builds; node claims (the workload's own mode, or nodes) leave nothing remote.
fixture="$wldir/../tests/data/workloads/good-node-claims.yaml"
for mode in workload host nodes none; do
  echo "== good-node-claims --claim-mode $mode"
  "$popbench" run "$fixture" --topology "$topology" --variant all --verify sampled --quiet \
    --repetitions 1 --min-measure 0s --format csv --claim-mode "$mode" \
    --out "$out/claims-$mode.json" >"$out/claims-$mode.csv"
  "$check" "$out/claims-$mode.json" complete "$variants"
  if ! grep -q "\"claim_mode\": \"$mode\"" "$out/claims-$mode.json"; then
    echo "claims-$mode.json: context.claim_mode is not \"$mode\"" >&2
    exit 1
  fi
  fail_unless "$out/claims-$mode.csv" locality_domains 'v == 3' "3 builds counted"
  fail_unless "$out/claims-$mode.csv" locality 'v != "absent" && v >= 0 && v <= 1' "a fraction"
  fail_unless "$out/claims-$mode.csv" locality_min 'v != "absent" && v >= 0 && v <= 1' "a fraction"
  fail_unless "$out/claims-$mode.csv" remote_pages 'v != "absent" && v >= 0' "a count"
  fail_unless "$out/claims-$mode.csv" claim_failures 'v == 0' "no failed claim"
  if [ "$mode" = workload ] || [ "$mode" = nodes ]; then
    fail_unless "$out/claims-$mode.csv" locality 'v == 1' "exactly 1 with node claims"
    fail_unless "$out/claims-$mode.csv" locality_min 'v == 1' "exactly 1 with node claims"
    fail_unless "$out/claims-$mode.csv" remote_pages 'v == 0' "0 with node claims"
    fail_unless "$out/claims-$mode.csv" node_claim_fallbacks 'v == 0' "0: every node claim fits"
  fi
done

# vnuma-storm under every claim mode: it runs and the validator is clean.
for mode in host nodes none; do
  echo "== vnuma-storm --claim-mode $mode"
  "$popbench" run vnuma-storm --workloads-dir "$wldir" --topology "$topology" --variant all \
    --duration 200ms --warmup 0s --repetitions 1 --min-measure 0s --backing none --quiet \
    --format csv --claim-mode "$mode" --out "$out/storm-$mode.json" >"$out/storm-$mode.csv"
  "$check" "$out/storm-$mode.json" complete "$variants"
  fail_unless "$out/storm-$mode.csv" node_claim_fallbacks 'v != "absent" && v >= 0' "a count"
done
echo "claim modes ran"
