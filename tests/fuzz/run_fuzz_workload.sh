#!/usr/bin/env bash
# Runs the workload parser's libFuzzer target for a fixed number of executions from the committed
# seed corpus (tests/data/fuzz/workload), the test fixtures and the shipped workloads, with a
# fixed seed. New inputs go to a corpus in the build tree, never into the sources. Exits 77
# (skipped) when the target was not built because clang or its libFuzzer runtime is missing.
# Usage: run_fuzz_workload.sh FUZZER|none SOURCE_DIR WORK_DIR RUNS
set -euo pipefail
fuzzer=${1:?usage: run_fuzz_workload.sh FUZZER|none SOURCE_DIR WORK_DIR RUNS}
src=${2:?}
work=${3:?}
runs=${4:?}

if [ "$fuzzer" = none ]; then
  echo "skipped: no clang with libFuzzer when CMake configured this tree (Debian: clang and" \
    "libclang-rt-dev, which scripts/setup installs; then reconfigure)"
  exit 77
fi

rm -rf "$work"
mkdir -p "$work/corpus" "$work/seeds"
cp "$src"/tests/data/fuzz/workload/* "$src"/tests/data/workloads/*.yaml "$src"/workloads/*.yaml \
  "$work/seeds/"

# -error_exitcode and -timeout_exitcode: libFuzzer's default, 77, would read as "skipped".
# -timeout: an input that takes this long is a hang, reported with the input that caused it.
status=0
"$fuzzer" -runs="$runs" -seed=1 -max_len=4096 -timeout=30 -rss_limit_mb=2048 \
  -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$work/" \
  "$work/corpus" "$work/seeds" >"$work/log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  tail -n 60 "$work/log" >&2
  echo "FAIL: the fuzzer found a broken promise (exit $status); the input is in $work/" >&2
  exit 1
fi
if ! grep -q "^Done $runs runs" "$work/log"; then
  tail -n 20 "$work/log" >&2
  echo "FAIL: the fuzzer did not report $runs runs" >&2
  exit 1
fi
# The coverage reached: the last status line (cov: edges, ft: features, corp: corpus).
grep -E "^#[0-9]+" "$work/log" | tail -n 1
grep -E "^Done|stat::number_of_executed_units|stat::peak_rss_mb" "$work/log"
