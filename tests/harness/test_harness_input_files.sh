#!/usr/bin/env bash
# Hostile input files through the real popbench: a FIFO, a device or a directory given as a
# workload, found in a workloads directory or given as a topology exits 2 naming the path
# (instead of blocking), and so do deep nesting, an invalid file name, limits past the model's
# and a synthetic topology too large to build. Every command runs under a deadline, so that a
# regression fails with a message instead of hanging.
# Usage: test_harness_input_files.sh POPBENCH
set -euo pipefail
popbench=${1:?usage: test_harness_input_files.sh POPBENCH}
expect_deadline=60
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# shellcheck source=tests/harness/expect.sh
source "$(dirname "${BASH_SOURCE[0]}")/expect.sh"

wl="$tmp/wl"
mkdir "$wl"
printf 'description: x\ndomains:\n  - memory: 4MiB\n' >"$wl/good.yaml"
mkfifo "$wl/fifo.yaml"
mkdir "$wl/folder.yaml"
ln -s /dev/zero "$wl/zero.yaml"

expect 2 "$wl/fifo.yaml: is a FIFO (expected a workload file)" -- run "$wl/fifo.yaml"
expect 2 "$wl/fifo.yaml: is a FIFO" -- run fifo --workloads-dir "$wl"
expect 2 "$wl/zero.yaml: is a character device" -- run zero --workloads-dir "$wl"
expect 2 "/dev/null: is a character device (expected a workload file)" -- run /dev/null
expect 2 "$wl/folder.yaml: is a directory (expected a workload file)" -- run "$wl/folder.yaml"
expect 0 "(does not load: $wl/fifo.yaml: is a FIFO (expected a workload file))" \
  -- list --workloads-dir "$wl"

mkfifo "$tmp/machine.xml"
expect 2 "--topology: '$tmp/machine.xml' is a FIFO (expected a hwloc XML file)" \
  -- topology --topology "$tmp/machine.xml"
expect 2 "--topology: '/dev/zero' is a character device" -- run "$wl/good.yaml" --topology /dev/zero
: >"$tmp/empty.xml"
expect 2 "--topology: '$tmp/empty.xml' is empty" -- topology --topology "$tmp/empty.xml"
expect 2 "--topology: 'pack:1000 core:1000 pu:1' has 1000000 PUs (expected at most 4096)" \
  -- topology --topology "pack:1000 core:1000 pu:1"
expect 2 "$wl/good.yaml:1:1: the machine comes from the topology (--topology): 2 nodes of 0B" \
  -- run "$wl/good.yaml" --topology "pack:2 [numa(memory=0)] core:1 pu:1"

# 100,000 levels of flow lists: refused at level 65.
{ printf 'description: x\ndomains: '; head -c 100000 /dev/zero | tr '\0' '['; } >"$tmp/deep.yaml"
expect 2 "$tmp/deep.yaml:2:73: a list or mapping nested 65 deep (expected at most 64 levels)" \
  -- run "$tmp/deep.yaml"

printf 'description: x\ndomains:\n  - memory: 4MiB\n' >"$tmp/two words.yaml"
expect 2 "$tmp/two words.yaml: the file's name without .yaml, 'two words', is not a workload name" \
  -- run "$tmp/two words.yaml"

printf 'description: x\ndomains:\n  - count: 32752\n    memory: 4KiB\n' >"$tmp/many.yaml"
expect 2 "$tmp/many.yaml:3:12: 'domains[0].count' is '32752' (expected an integer from 1 to 4095)" \
  -- run "$tmp/many.yaml"
printf 'description: x\nmachine:\n  nodes: 2\n  memory_per_node: 8TiB\ndomains:\n  - memory: 4MiB\n' \
  >"$tmp/huge.yaml"
expect 2 "$tmp/huge.yaml:4:20: 'machine.memory_per_node' is '8TiB', making 16TiB on 2 nodes" \
  -- run "$tmp/huge.yaml"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
