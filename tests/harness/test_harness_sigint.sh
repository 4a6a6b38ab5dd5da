#!/usr/bin/env bash
# Ctrl-C in the middle of `popbench run` leaves a valid results file holding the runs that
# finished, marked partial, and exits 130: once through the test hook that raises SIGINT inside
# a run, once from outside after the first result is on disk. SIGTERM (CI runners, timeout,
# systemd) does the same with exit 143. Either signal during set-up (heap ageing) stops it at
# the set-up step that sees it, counted in steps, not time.
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

# stop_from_outside SIG STATUS FILE: a long run, stopped by SIG once its first result is in
# FILE, exits STATUS and leaves FILE holding what finished, marked partial.
stop_from_outside() {
  local sig=$1 want=$2 out=$3 rc=0
  "$popbench" run "${common[@]}" --duration 400ms --repetitions 50 --out "$out" &
  local pid=$!
  while [ ! -s "$out" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "popbench ended before writing its first result" >&2
      exit 1
    fi
    sleep 0.05
  done
  kill "-$sig" "$pid"
  wait "$pid" || rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "a run stopped by SIG$sig exited $rc, expected $want" >&2
    exit 1
  fi
  "$check" "$out" partial 1
}

# 2. SIGINT from outside, once the first run's results are written; 3. SIGTERM the same way.
stop_from_outside INT 130 "$tmp/ext.json"
stop_from_outside TERM 143 "$tmp/term.json"

# 4. Either signal in the middle of set-up (the hook raises it at a set-up step, through the
# same handler as from outside): set-up stops at that step, nothing is measured.
for sig in INT TERM; do
  want=130
  [ "$sig" = TERM ] && want=143
  rc=0
  timeout 300 "$popbench" run fragmented --workloads-dir "$wldir" --variant xen --warmup 0s \
    --duration 100ms --repetitions 3 --format none --interrupt-setup-step 2000 \
    --interrupt-signal "$sig" 2>"$tmp/setup.err" || rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "SIG$sig in set-up: exit $rc, expected $want" >&2
    cat "$tmp/setup.err" >&2
    exit 1
  fi
  if ! grep -q "interrupted by SIG$sig (0 set-up steps ran after it): nothing was measured" \
    "$tmp/setup.err"; then
    echo "SIG$sig in set-up did not stop at the step that saw it:" >&2
    cat "$tmp/setup.err" >&2
    exit 1
  fi
done
echo "interrupted runs left valid partial results"
