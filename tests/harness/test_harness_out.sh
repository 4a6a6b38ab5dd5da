#!/usr/bin/env bash
# Where `popbench run --out` writes, and what it leaves: a device or FIFO is written through
# and stays what it was, a symbolic link keeps pointing at its target, a bad --out is refused
# before anything runs (exit 2 naming the flag), a run that fails or is interrupted with
# nothing measured leaves the previous file alone, a workload run twice is recorded twice,
# the command line's phases keep the workload file's ranges, and output that cannot be
# written (a full disk) is an error. Every command runs under `timeout`, so that a hang
# fails the test instead of stopping it.
# Usage: test_harness_out.sh POPBENCH CHECKER WORKLOADS_DIR
set -euo pipefail
# shellcheck source=tests/harness/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
harness_setup "$@"
mnt=""
cleanup_first() {
  if [ -n "$mnt" ]; then umount "$mnt" 2>/dev/null || true; fi
}

# same FILE COPY: FILE is still byte for byte COPY.
same() {
  if ! cmp -s "$1" "$2"; then fail "$1 changed"; fi
}

short=(--workloads-dir "$wldir" --duration 20ms --warmup 0s --repetitions 1 --variant "xen" --quiet --format none)
run_pb 0 "" run numa-local "${short[@]}" --out "$tmp/good.json"
"$check" "$tmp/good.json" complete 1
cp "$tmp/good.json" "$tmp/good.copy"

# A character device: written through; it stays a character device.
run_pb 0 "" run numa-local "${short[@]}" --out /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a character device"

# A FIFO: written through once, to its reader; it stays a FIFO.
mkfifo "$tmp/fifo"
timeout "$limit" cat "$tmp/fifo" >"$tmp/from-fifo.json" &
reader=$!
run_pb 0 "" run numa-local "${short[@]}" --out "$tmp/fifo"
wait "$reader" || fail "the FIFO's reader failed"
"$check" "$tmp/from-fifo.json" complete 1
[ -p "$tmp/fifo" ] || fail "the FIFO is no longer a FIFO"

# A symbolic link: its target gets the results, the link stays.
ln -s run-42.json "$tmp/latest.json"
run_pb 0 "" run numa-local "${short[@]}" --out "$tmp/latest.json"
[ -L "$tmp/latest.json" ] || fail "latest.json is no longer a symbolic link"
"$check" "$tmp/run-42.json" complete 1

# A name too long for "NAME.tmp.XXXXXX" but not for a file: written.
long=$(printf 'x%.0s' $(seq 1 245)).json
run_pb 0 "" run numa-local "${short[@]}" --out "$tmp/$long"
"$check" "$tmp/$long" complete 1
no_temporary_files "$tmp"

# Bad --out: refused before anything runs. The workload named does not exist: had anything
# been loaded or run first, the message would be about it.
mkdir "$tmp/dir"
run_pb 2 "--out: cannot write results to '$tmp/dir': it is a directory" run no-such-workload "${short[@]}" --out "$tmp/dir"
run_pb 2 "--out: cannot write results to '$tmp/nope/r.json': creating a temporary file beside it: No such file or directory" run no-such-workload "${short[@]}" --out "$tmp/nope/r.json"
toolong=$(printf 'y%.0s' $(seq 1 300))
run_pb 2 "--out: cannot write results to '$tmp/$toolong': File name too long" run no-such-workload "${short[@]}" --out "$tmp/$toolong"
if [ "$(id -u)" -ne 0 ]; then
  chmod 0555 "$tmp/dir"
  run_pb 2 "--out: cannot write results to '$tmp/dir/r.json': creating a temporary file beside it: Permission denied" run no-such-workload "${short[@]}" --out "$tmp/dir/r.json"
  chmod 0755 "$tmp/dir"
fi

# A run that fails with nothing measured (a machine larger than the address space allowed)
# leaves the previous file alone.
cat >"$tmp/huge.yaml" <<'YAML'
description: a machine whose frame table does not fit in the address space the test allows
machine:
  nodes: 2
  memory_per_node: 1TiB
  backing: none
domains:
  - count: 1
    memory: 64MiB
phases:
  warmup: 0s
  measure: 20ms
YAML
rc=0
(ulimit -v 2000000 && timeout "$limit" "$popbench" run "$tmp/huge.yaml" --variant xen --quiet --format none --out "$tmp/good.json") 2>"$tmp/stderr" || rc=$?
if [ "$rc" -ne 1 ]; then fail "a failing run exited $rc, expected 1"; cat "$tmp/stderr" >&2; fi
grep -qF -- "--out left as it was" "$tmp/stderr" || fail "a failing run did not say it left --out alone"
same "$tmp/good.json" "$tmp/good.copy"

# Interrupted in set-up (SIGINT, SIGTERM) with nothing measured: the previous file stays, the
# exit status names the signal, and set-up stopped at the step that saw it.
run_pb 130 "interrupted by SIGINT (0 set-up steps ran after it): nothing was measured, --out left as it was" \
  run fragmented "${short[@]}" --out "$tmp/good.json" --interrupt-setup-step 100
same "$tmp/good.json" "$tmp/good.copy"
run_pb 143 "interrupted by SIGTERM (0 set-up steps ran after it): nothing was measured, --out left as it was" \
  run fragmented "${short[@]}" --out "$tmp/good.json" --interrupt-setup-step 3000 --interrupt-signal TERM
same "$tmp/good.json" "$tmp/good.copy"

# A workload named twice is measured and recorded twice, under two names.
run_pb 0 "" run "$wldir/numa-local.yaml" "$wldir/numa-local.yaml" "${short[@]}" --repetitions 2 --out "$tmp/twice.json"
"$check" "$tmp/twice.json" complete 4 numa-local/xen/threads:4 'numa-local#2/xen/threads:4'

# The command line keeps the ranges the workload file has.
run_pb 2 "--duration: '1000000h' is out of range (expected a duration from 1ns to 24h)" run numa-local "${short[@]}" --duration 1000000h
run_pb 2 "--warmup: '2h' is out of range (expected a duration from 0s to 1h)" run numa-local "${short[@]}" --warmup 2h
run_pb 2 "--repetitions: '1001'" run numa-local "${short[@]}" --repetitions 1001
run_pb 2 "--workloads-dir: '$tmp/none': No such directory" run numa-local "${short[@]}" --workloads-dir "$tmp/none"

# Standard output that cannot be written (/dev/full: no space) is an error, never exit 0.
for fmt in table json csv lockprof; do
  rc=0
  timeout "$limit" "$popbench" run numa-local "${short[@]}" --format "$fmt" >/dev/full 2>"$tmp/stderr" || rc=$?
  if [ "$rc" -ne 2 ] || ! grep -q "standard output" "$tmp/stderr"; then
    fail "run --format $fmt to a full disk: exit $rc"
    cat "$tmp/stderr" >&2
  fi
done
for args in "list --workloads-dir $wldir" "topology" "compare $tmp/good.json $tmp/good.json" \
  "compare --format lockprof $tmp/good.json $tmp/good.json"; do
  rc=0
  # shellcheck disable=SC2086 # the arguments are words
  timeout "$limit" "$popbench" $args >/dev/full 2>"$tmp/stderr" || rc=$?
  if [ "$rc" -ne 2 ] || ! grep -q "standard output" "$tmp/stderr"; then
    fail "$args to a full disk: exit $rc"
    cat "$tmp/stderr" >&2
  fi
done

# A real full file system, where this test may mount one (root): --out there fails with the
# old file whole, and the table printed there fails too.
mnt="$tmp/small"
mkdir "$mnt"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=64k tmpfs "$mnt" 2>/dev/null; then
  cp "$tmp/good.copy" "$mnt/r.json"
  head -c 40000 /dev/zero >"$mnt/filler" || true
  rc=0
  timeout "$limit" "$popbench" run numa-local "${short[@]}" --repetitions 2 --out "$mnt/r.json" \
    2>"$tmp/stderr" || rc=$?
  if [ "$rc" -ne 1 ] || ! grep -q "No space left on device" "$tmp/stderr"; then
    fail "--out on a full file system: exit $rc"
    cat "$tmp/stderr" >&2
  fi
  same "$mnt/r.json" "$tmp/good.copy"
  no_temporary_files "$mnt"
  rc=0
  timeout "$limit" "$popbench" run numa-local "${short[@]}" --format json >"$mnt/out.json" 2>"$tmp/stderr" || rc=$?
  [ "$rc" -eq 2 ] || fail "--format json onto a full file system: exit $rc"
  umount "$mnt"
  mnt=""
  echo "ok: a full file system"
else
  echo "skipped: a full file system (needs root and a tmpfs mount)"
  mnt=""
fi

summary "every --out destination and failure held"
