#!/usr/bin/env bash
# Google Benchmark's compare.py (Debian: libbenchmark-tools) reads what `popbench run` writes.
# Usage: test_harness_compare_py.sh POPBENCH WORKLOADS_DIR
set -euo pipefail
popbench=${1:?usage: test_harness_compare_py.sh POPBENCH WORKLOADS_DIR}
wldir=${2:?}
compare=/usr/share/benchmark/compare.py
if [ ! -f "$compare" ]; then
  echo "skipped: $compare is absent (Debian package libbenchmark-tools)"
  exit 77
fi
if ! /usr/bin/python3 -c 'import scipy' 2>/dev/null; then
  echo "skipped: /usr/bin/python3 lacks scipy (Debian package python3-scipy)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in A B; do
  "$popbench" run numa-local --workloads-dir "$wldir" --duration 100ms --warmup 0s \
    --repetitions 2 --threads 1,2 --quiet --format none --out "$tmp/$f.json"
done
out=$(/usr/bin/python3 "$compare" benchmarks "$tmp/A.json" "$tmp/B.json" 2>&1) || {
  printf '%s\n' "$out"
  echo "compare.py failed on popbench run's results" >&2
  exit 1
}
printf '%s\n' "$out"
for name in numa-local/xen/threads:1 numa-local/pernode/threads:2; do
  grep -qF "$name" <<<"$out" || { echo "compare.py's output does not name $name" >&2; exit 1; }
done
