#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with warnings as errors, runs ctest
# (unit, multi-rank at 1-5 ranks, CLI, benchmark smoke test).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh" -DCCTUNE_WERROR=ON
# shellcheck source=mpi-env.sh
source "$root/scripts/mpi-env.sh"
cd "${CCTUNE_BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 900 "$@"
