#!/usr/bin/env bash
# Replay issue 47's faults: every case of tests/test_fault_replay.py, the slow ones included,
# on this tree. With --before REV, the same cases first run against REV's lilbench (checked
# out in a temporary worktree, the tests taken from this tree), and a table prints each
# case's outcome before and after.
#   scripts/replay_faults.sh                  # this tree only
#   scripts/replay_faults.sh --before 5c08a31 # main before issue 47, then this tree
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$PWD/.venv/bin/python}
TESTS=tests/test_fault_replay.py
outcomes() {  # pytest's one line per case -> "case<TAB>PASSED|FAILED"
  sed -n -E 's/^(PASSED|FAILED|ERROR) [^:]*::([^ ]*).*/\2\t\1/p'
}
after=$(mktemp)
if [ "${1:-}" = "--before" ]; then
  rev=${2:?give a revision: --before REV}
  wt=$(mktemp -d)
  before=$(mktemp)
  git worktree add -q --detach "$wt" "$rev"
  trap 'git worktree remove --force "$wt"; rm -f "$before" "$after"' EXIT
  cp "$TESTS" "$wt/$TESTS"  # this tree's cases, REV's lilbench (imported from its root)
  (cd "$wt" && PYTHONPATH="$wt" "$PY" -m pytest -q -rA -p no:cacheprovider --runslow \
    "$TESTS" 2>&1) | outcomes | sort >"$before" || true
fi
"$PY" -m pytest -q -rA -p no:cacheprovider --runslow "$TESTS" 2>&1 | outcomes | sort >"$after" || true
if [ -n "${before:-}" ]; then
  printf 'case\tbefore (%s)\tnow\n' "$rev"
  join -t "$(printf '\t')" -a 2 -e missing -o 0,1.2,2.2 "$before" "$after"
else
  cat "$after"
fi
failed=$(grep -c -v 'PASSED$' "$after" || true)
echo "$(wc -l <"$after") cases on this tree, $failed not passed"
[ "$failed" = 0 ]
