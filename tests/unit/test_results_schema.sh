#!/usr/bin/env bash
# What popbench writes matches results/schema-v1.json, checked by python3-jsonschema through
# `scripts/plot --check` (the check `popbench plot` makes of its input): the samples test_results
# writes (every section), the files older popbench wrote and the fixtures that load; files the
# schema must refuse are refused, with the field named.
# Usage: test_results_schema.sh TEST_RESULTS SOURCE_DIR
set -euo pipefail
writer=${1:?usage: test_results_schema.sh path/to/test_results SOURCE_DIR}
src=${2:?usage: test_results_schema.sh path/to/test_results SOURCE_DIR}
if ! /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
  echo "skipped: /usr/bin/python3 lacks jsonschema (Debian package python3-jsonschema)"
  exit 77
fi
check() { /usr/bin/python3 "$src/scripts/plot" --check "$@"; }
data=$src/tests/data/results
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$writer" --write-samples "$dir"
check "$dir/A.json" "$dir/B.json" "$data"/written/run-*.json "$data"/written/ci-*.json \
  "$data/v1-minimal.json" "$data/no-pages-per-second.json" "$src/tests/data/compare/small-run.json"

# expect_refused FILE TEXT: the schema refuses FILE with a message holding TEXT.
expect_refused() {
  local out
  if out=$(check "$1" 2>&1); then
    echo "FAIL: $1 passed the schema" >&2
    exit 1
  fi
  if ! grep -qF -- "$2" <<<"$out"; then
    echo "FAIL: $1: the message '$out' lacks '$2'" >&2
    exit 1
  fi
  echo "ok: refused: $out"
}

/usr/bin/python3 - "$dir/A.json" "$dir" <<'PY'
import json, sys
doc, out = json.load(open(sys.argv[1])), sys.argv[2]
def write(name, change):
    d = json.loads(json.dumps(doc))
    change(d)
    json.dump(d, open(f"{out}/{name}", "w"))
write("no-commit.json", lambda d: d["context"].pop("git_commit"))
write("string-threads.json", lambda d: d["benchmarks"][0].update(threads="2"))
write("string-counter.json", lambda d: d["benchmarks"][0].update(some_counter="fast"))
write("aggregate.json", lambda d: d["benchmarks"][0].update(run_type="aggregate"))
write("bad-direction.json",
      lambda d: d["context"]["metrics"]["pages_per_second"].update(direction="up"))
write("bad-calibration.json",
      lambda d: d["context"].update(calibration={"aa_runs": 1, "aa_false_alarm_rate": 1.5}))
PY
expect_refused "$dir/no-commit.json" "'git_commit' is a required property"
expect_refused "$dir/string-threads.json" "benchmarks[0].threads"
expect_refused "$dir/string-counter.json" "benchmarks[0].some_counter"
expect_refused "$dir/aggregate.json" "benchmarks[0].run_type"
expect_refused "$dir/bad-direction.json" "context.metrics.pages_per_second.direction"
expect_refused "$dir/bad-calibration.json" "context.calibration"
grep -q '"calibration"' "$dir/B.json" || { echo "FAIL: B.json carries no calibration" >&2; exit 1; }
expect_refused "$data/missing-iterations.json" "'iterations' is a required property"
expect_refused "$data/written/micro-gbench.json" "popbench_results_version"
echo "the written files match the schema"
