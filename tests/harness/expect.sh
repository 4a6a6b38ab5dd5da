# shellcheck shell=bash disable=SC2154
# Sourced by the harness tests. Needs $popbench, $tmp (a scratch directory) and $failures.
#
# expect STATUS TEXT -- ARGS...: runs popbench ARGS and checks its exit status and that a piece
# of its stderr (stdout for status 0) is TEXT. With $expect_deadline set, popbench is killed
# after that many seconds and the check fails saying so, so that a blocking command cannot hang
# the test.
expect() {
  local want=$1 text=$2
  shift 3
  local rc=0 run=("$popbench")
  [ -n "${expect_deadline:-}" ] && run=(timeout -s KILL "$expect_deadline" "$popbench")
  "${run[@]}" "$@" </dev/null >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
  local where="$tmp/stderr"
  [ "$want" -eq 0 ] && where="$tmp/stdout"
  if [ -n "${expect_deadline:-}" ] && [ "$rc" -eq 137 ]; then
    echo "FAIL: popbench $*: still running after ${expect_deadline}s (blocked?), killed" >&2
    failures=$((failures + 1))
  elif [ "$rc" -ne "$want" ]; then
    echo "FAIL: popbench $*: exit $rc, expected $want" >&2
    cat "$tmp/stderr" >&2
    failures=$((failures + 1))
  elif ! grep -qF -- "$text" "$where"; then
    echo "FAIL: popbench $*: output lacks '$text':" >&2
    cat "$where" >&2
    failures=$((failures + 1))
  else
    echo "ok: popbench $* -> $rc"
  fi
}
