#!/usr/bin/env bash
# Ctrl-C in the middle of `popbench run` leaves a valid results file holding the runs that
# finished, marked partial, and exits 130: once through the test hook that raises SIGINT inside
# a run, once from outside after the first result is on disk.
# Usage: test_harness_sigint.sh POPBENCH CHECKER WORKLOADS_DIR
set -euo pipefail
popbench=${1:?usage: test_harness_sigint.sh POPBENCH CHECKER WORKLOADS_DIR}
check=${2:?}
wldir=${3:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

common=(numa-spread --workloads-dir "$wldir" --variant "xen,pernode" --warmup 0s --min-measure 0s
        --quiet --format none)

# 1. SIGINT raised during the third run (after two have finished).
rc=0
"$popbench" run "${common[@]}" --duration 100ms --repetitions 3 --interrupt-after 2 \
  --out "$tmp/hook.json" || rc=$?
if [ "$rc" -ne 130 ]; then
  echo "interrupted run exited $rc, expected 130" >&2
  exit 1
fi
"$check" "$tmp/hook.json" partial 2
n=$(grep -c '"run_type"' "$tmp/hook.json")
if [ "$n" -ne 2 ]; then
  echo "the partial file holds $n entries, expected the 2 finished runs" >&2
  exit 1
fi

# 2. SIGINT from outside, once the first run's results are written.
"$popbench" run "${common[@]}" --duration 400ms --repetitions 50 --out "$tmp/ext.json" &
pid=$!
while [ ! -s "$tmp/ext.json" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "popbench ended before writing its first result" >&2
    exit 1
  fi
  sleep 0.05
done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
if [ "$rc" -ne 130 ]; then
  echo "interrupted run exited $rc, expected 130" >&2
  exit 1
fi
"$check" "$tmp/ext.json" partial 1
echo "interrupted runs left valid partial results"
