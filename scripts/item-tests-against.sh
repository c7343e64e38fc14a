#!/usr/bin/env bash
# Runs every issue item test of tests/cli/test_cli.py (the methods named test_itemN_...) against the
# cctune of another build, one by one under a time limit, and prints each one's result. Used to show
# that each test fails on the code before its fix:
#   git worktree add /tmp/old <revision> && (cd /tmp/old && bash scripts/build.sh)
#   bash scripts/item-tests-against.sh /tmp/old/build
# A test that hangs against an old build is ended after LIMIT seconds (default 150) and counts as failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: item-tests-against.sh OTHER_BUILD_DIR}
limit=${LIMIT:-150}
# shellcheck source=mpi-env.sh
source "$root/scripts/mpi-env.sh"
export CCTUNE="$build/cli/cctune" SHIM_CLIENT="$build/tests/cctune_shim_client" MPIRUN=${MPIRUN:-mpirun}
export CCTUNE_FIXTURES=${CCTUNE_FIXTURES:-$root/../shared/fixtures/topology}
CCTUNE_DB=$(mktemp -d)/results.db
export CCTUNE_DB
cd "$root/tests/cli" || exit 2
tests=$(awk '/^class /{split($2, a, "("); c = a[1]} /^    def test_item/{sub(/\(self\):/, "", $2); print c "." $2}' test_cli.py)
failed=0 passed=0
for t in $tests; do
  timeout -k 5 "$limit" python3 -m unittest "test_cli.$t" >/dev/null 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); echo "passes: $t"; else failed=$((failed + 1)); echo "fails (exit $rc): $t"; fi
done
echo "$failed failed, $passed passed against $CCTUNE"
