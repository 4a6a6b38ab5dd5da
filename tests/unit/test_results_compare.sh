#!/usr/bin/env bash
# Google Benchmark's compare.py (Debian: libbenchmark-tools) must read two results files that
# popbench wrote: it exits 0 and names every benchmark. Usage: test_results_compare.sh TEST_BINARY
set -euo pipefail
writer=${1:?usage: test_results_compare.sh path/to/test_results}
compare=/usr/share/benchmark/compare.py
if [ ! -f "$compare" ]; then
  echo "skipped: $compare is absent (Debian package libbenchmark-tools)"
  exit 77
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$writer" --write-samples "$dir"

if ! out=$(/usr/bin/python3 "$compare" benchmarks "$dir/A.json" "$dir/B.json" 2>&1); then
  printf '%s\n' "$out"
  echo "compare.py failed on popbench's results files" >&2
  exit 1
fi
printf '%s\n' "$out"
for name in bootstorm/xen/threads:1 bootstorm/xen/threads:2 bootstorm/pernode/threads:2; do
  if ! grep -qF "$name" <<<"$out"; then
    echo "compare.py's output does not name $name" >&2
    exit 1
  fi
done
