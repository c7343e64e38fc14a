#!/usr/bin/env bash
# The GPU backends on a machine with GPUs and CUDA, but no MPI, hwloc or the other libraries cctune
# itself needs (the lent GPU machine). Builds the GPU-only tree (CCTUNE_GPU_ONLY) and runs
# tests/gpu/gpu_check.cpp:
#   - every kernel of the cuda backend at 2, 4 and 8 virtual ranks on one GPU: random sizes, every
#     element type and operation, in place and out of place, into poisoned outputs;
#   - the device-side data check, against the host's and against a planted error;
#   - one-rank runs through the cuda and nccl backends;
#   - with two GPUs or more, both backends with two real processes, one per GPU (on one GPU it says
#     it skipped that part, and why);
#   - with two GPUs or more, NCCL's own estimates (ncclGroupSimulateEnd) on every GPU, into
#     $OUT/nccl-estimates.json with the topology NCCL saw beside it (scripts/nccl_estimates.py);
#   - a bandwidth table: each kernel's device-memory traffic beside a device-to-device copy's;
# and prints a short summary. Arguments go to the check program (--no-bandwidth, --no-two-process,
# --processes N, --estimates FILE). Extra cmake arguments: CCTUNE_GPU_CMAKE_ARGS.
# NCCL is taken from $NCCL_ROOT, else /usr/local/cuda, else python3's nvidia-nccl wheel (PyTorch's).
#
# The last line always says what happened; when it did not run, exactly why ("gpu-check: did not run:
# ..."). Exit 0 all correct, 1 a check failed or this machine's GPU or driver cannot run it, 2 it could
# not be built (no or too old a CMake, configure or build failed), 77 no GPU here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CCTUNE_GPU_BUILD_DIR:-$root/build-gpu}
out=${OUT:-$build}

did_not_run() {  # exit code, reason
  echo "gpu-check: did not run: $2"
  exit "$1"
}
# Anything else that stops the script under set -e still ends with one line saying what.
trap 'did_not_run 2 "scripts/gpu-check.sh line $LINENO failed: $BASH_COMMAND"' ERR

# The CMake this tree needs, read from the tree itself so that the two never disagree.
needed=$(sed -n 's/^cmake_minimum_required(VERSION \([0-9]*\.[0-9]*\(\.[0-9][0-9]*\)\{0,1\}\).*/\1/p' "$root/CMakeLists.txt")
if ! command -v cmake >/dev/null 2>&1; then
  did_not_run 2 "no cmake on PATH; CMake $needed or newer is needed (apt-get install cmake, or pip install cmake)"
fi
have=$(cmake --version 2>/dev/null | sed -n 's/^cmake version \([0-9][0-9.]*\).*/\1/p')
if [ -z "$have" ]; then
  did_not_run 2 "$(command -v cmake) does not say its version; CMake $needed or newer is needed"
fi
if [ "$(printf '%s\n%s\n' "$needed" "$have" | sort -V | head -n 1)" != "$needed" ]; then
  did_not_run 2 "CMake $have at $(command -v cmake) is older than the $needed this tree needs (pip install cmake, or a newer package)"
fi

if [ -z "${NCCL_ROOT:-}" ] && [ ! -f /usr/local/cuda/include/nccl.h ]; then
  NCCL_ROOT=$(python3 - <<'PY' 2>/dev/null || true
import os, sys
for base in sys.path:
    for folder in ("nvidia/nccl", "nvidia/cu13", "nvidia/cu12"):
        candidate = os.path.join(base, folder)
        if os.path.isfile(os.path.join(candidate, "include", "nccl.h")):
            print(candidate)
            sys.exit(0)
PY
  )
fi
nccl_args=()
if [ -n "${NCCL_ROOT:-}" ]; then
  nccl_args=(-DNCCL_ROOT="$NCCL_ROOT")
  export LD_LIBRARY_PATH="$NCCL_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
extra_args=()
read -r -a extra_args <<<"${CCTUNE_GPU_CMAKE_ARGS:-}"

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
launchers=()
if command -v ccache >/dev/null 2>&1; then
  launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$build"
# Warnings are not errors here: the GPU machine's host compiler may warn where CI's does not, and a
# failed build would waste the lease. CI builds the same code with warnings as errors.
# cmake's own status is kept whole: a pipe into grep would take grep's status for cmake's.
configure_log="$build/configure.log"
if ! cmake -S "$root" -B "$build" "${generator[@]}" "${launchers[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCCTUNE_GPU_ONLY=ON "${nccl_args[@]}" "${extra_args[@]}" >"$configure_log" 2>&1; then
  tail -n 25 "$configure_log"
  first=$(grep -m 1 -A 1 '^CMake Error' "$configure_log" | tr -s ' \n' ' ' | sed 's/ *$//' || true)
  did_not_run 2 "configuring the GPU-only tree failed: ${first:-see the log}; the whole log is $configure_log"
fi
grep "cctune:" "$configure_log" || true  # what it found (CUDA, NCCL); informational only
build_log="$build/build.log"
if ! cmake --build "$build" --parallel "$(nproc)" >"$build_log" 2>&1; then
  tail -n 25 "$build_log"
  first=$(grep -m 1 -E 'error|Error' "$build_log" | sed 's/^ *//' || true)
  did_not_run 2 "building the GPU-only tree failed: ${first:-see the log}; the whole log is $build_log"
fi

mkdir -p "$out"
{
  echo "# cctune gpu-check, $(date -u +%Y-%m-%dT%H:%M:%SZ), revision $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader 2>/dev/null || true
} | tee "$out/gpu-check.txt"
# NCCL's own estimates (ncclGroupSimulateEnd, with two GPUs or more) go beside the output unless the
# caller says where: scripts/nccl_estimates.py sets them beside `cctune plan` (docs/gpu.md).
args=("$@")
case " $* " in *" --estimates "*) ;; *) args+=(--estimates "$out/nccl-estimates.json") ;; esac
codes=(0 0)
"$build/tests/gpu/cctune_gpu_check" "${args[@]}" 2>&1 | tee -a "$out/gpu-check.txt" || codes=("${PIPESTATUS[@]}")
trap - ERR
status=${codes[0]}
# A run whose record was lost is no "all correct": the lease it took is gone with it.
if [ "${codes[1]}" != 0 ]; then
  did_not_run 2 "the check exited $status, but its output could not be written to $out/gpu-check.txt"
fi
reason=$(grep -m 1 '^gpu_check: did not run: ' "$out/gpu-check.txt" | sed 's/^gpu_check: did not run: //' || true)
case "$status" in
  0) line="gpu-check: all correct (the whole output is $out/gpu-check.txt)" ;;
  77) line="gpu-check: did not run: no GPU here: ${reason:-the check program said so}" ;;
  *)
    if [ -n "$reason" ]; then
      line="gpu-check: did not run: $reason"
    else
      line="gpu-check: FAILED (exit $status): the FAIL and error lines above; the whole output is $out/gpu-check.txt"
    fi
    ;;
esac
echo "$line" | tee -a "$out/gpu-check.txt"
exit "$status"
