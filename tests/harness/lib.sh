#!/usr/bin/env bash
# What the harness's shell tests share: their arguments and scratch directory, counted
# failures and a check of one popbench command. A script sources it, then calls
# harness_setup "$@"; a function cleanup_first, when it defines one, runs at exit before the
# scratch directory goes.

failures=0
limit=300 # seconds a command may take before it counts as hung: `timeout` ends it

# harness_setup POPBENCH CHECKER WORKLOADS_DIR: sets popbench, check, wldir and tmp.
# shellcheck disable=SC2034 # check and wldir are the sourcing script's
harness_setup() {
  popbench=${1:?usage: $0 POPBENCH CHECKER WORKLOADS_DIR}
  check=${2:?usage: $0 POPBENCH CHECKER WORKLOADS_DIR}
  wldir=${3:?usage: $0 POPBENCH CHECKER WORKLOADS_DIR}
  tmp=$(mktemp -d)
  trap harness_cleanup EXIT
}

harness_cleanup() {
  if declare -F cleanup_first >/dev/null; then cleanup_first; fi
  rm -rf "$tmp"
}

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run_pb WANT_STATUS TEXT ARGS...: popbench ARGS exits WANT_STATUS and says TEXT on stdout or
# stderr (TEXT empty: anything).
run_pb() {
  local want=$1 text=$2
  shift 2
  local rc=0
  timeout "$limit" "$popbench" "$@" >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "popbench $*: exit $rc, expected $want"
    cat "$tmp/stderr" >&2
  elif [ -n "$text" ] && ! grep -qF -- "$text" "$tmp/stdout" "$tmp/stderr"; then
    fail "popbench $*: output lacks '$text'"
    cat "$tmp/stdout" "$tmp/stderr" >&2
  else
    echo "ok: popbench $* -> $rc"
  fi
}

# no_temporary_files DIR: nothing the atomic writer makes is left in DIR.
no_temporary_files() {
  local f
  for f in "$1"/*.tmp.* "$1"/.popbench.tmp.*; do
    if [ -e "$f" ]; then fail "a temporary file was left: $f"; fi
  done
}

# summary WHAT: exit 1 after the failures counted, else say WHAT held.
summary() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "$1"
}
