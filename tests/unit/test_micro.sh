#!/usr/bin/env bash
# popbench-micro runs every benchmark with a tiny min_time; the JSON must parse, name every
# benchmark family, carry popbench's context, and report no benchmark error.
set -euo pipefail
micro=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$micro" --benchmark_min_time=0.01 --benchmark_format=json --benchmark_out="$out" >/dev/null
/usr/bin/python3 - "$out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
names = [b["name"] for b in doc["benchmarks"]]
errors = [b["name"] for b in doc["benchmarks"] if b.get("error_occurred")]
assert not errors, f"benchmarks reported errors: {errors}"
for family in ("alloc_free/xen/ticket/order:0/fresh", "alloc_free/pernode/mutex/order:18/fragmented",
               "search_miss/xen/ticket/fragmented", "free_merge/pernode/ticket/fresh",
               "lock/ticket/timing:on", "p2m_lookup/order:9", "p2m_update/order:0",
               "scrub/2MiB/nt", "scrub/4KiB/memset", "populate_512x4k/xen/ticket"):
    assert any(n.startswith(family) for n in names), f"missing {family}"
assert any(n.endswith("threads:2") for n in names), "no two-thread benchmark"
ctx = doc["context"]
for key in ("pinning", "variants", "popbench_commit"):
    assert key in ctx, f"context lacks {key}"
print(f"{len(names)} benchmarks ran, JSON parsed")
PY
