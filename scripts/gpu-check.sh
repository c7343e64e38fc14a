#!/usr/bin/env bash
# The GPU backends on a machine with one GPU and CUDA, but no MPI, hwloc or the other libraries cctune
# itself needs (the lent GPU machine). Builds the GPU-only tree (CCTUNE_GPU_ONLY) and runs
# tests/gpu/gpu_check.cpp:
#   - every kernel of the cuda backend at 2, 4 and 8 virtual ranks on one GPU: random sizes, every
#     element type and operation, in place and out of place, into poisoned outputs;
#   - the device-side data check, against the host's and against a planted error;
#   - one-rank runs through the cuda and nccl backends;
#   - a bandwidth table: each kernel's device-memory traffic beside a device-to-device copy's;
# and prints a short summary last. Exit 0 all correct, 1 a failure, 77 no GPU.
# NCCL is taken from $NCCL_ROOT, else /usr/local/cuda, else python3's nvidia-nccl wheel (PyTorch's).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CCTUNE_GPU_BUILD_DIR:-$root/build-gpu}
out=${OUT:-$build}

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

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
# Warnings are not errors here: the GPU machine's host compiler may warn where CI's does not, and a
# failed build would waste the lease. CI builds the same code with warnings as errors.
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCCTUNE_GPU_ONLY=ON \
  "${nccl_args[@]}" | grep "cctune:" || true
cmake --build "$build" --parallel "$(nproc)"

mkdir -p "$out"
{
  echo "# cctune gpu-check, $(date -u +%Y-%m-%dT%H:%M:%SZ), revision $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader 2>/dev/null || true
} | tee "$out/gpu-check.txt"
status=0
"$build/tests/gpu/cctune_gpu_check" "$@" 2>&1 | tee -a "$out/gpu-check.txt" || status=${PIPESTATUS[0]}
exit "$status"
