#pragma once
// Whether the GPU check can run here, and if not, the one line that says exactly why: no driver, a
// driver too old for this build's CUDA runtime, no device, or a device it cannot use. Decided from
// plain inputs (what the CUDA runtime answered), so that every branch is tested where there is no GPU
// (tests/gpu/gpu_check_logic_test.cpp); gpu_check.cpp asks CUDA and prints the verdict.
#include <cuda_runtime_api.h>

#include <string>

namespace cctune::gpu_check {

// 13000 -> "13.0", as CUDA encodes versions (major * 1000 + minor * 10).
std::string cuda_version_text(int version);

// What the CUDA runtime said before any device was touched.
struct Environment {
  int driver_version = 0;   // cudaDriverGetVersion: 0 when no driver is installed
  int runtime_version = 0;  // cudaRuntimeGetVersion: this build's runtime
  cudaError_t count_rc = cudaSuccess;  // cudaGetDeviceCount
  int count = 0;
  std::string visible_devices;  // CUDA_VISIBLE_DEVICES, empty when unset
  bool visible_devices_set = false;
};

enum class Verdict {
  go,          // run the checks
  no_gpu,      // nothing to check here: exit 77 (ctest: skipped)
  cannot_use,  // a GPU machine whose GPU or driver cannot run this build: exit 1, a failure to fix
};

struct Decision {
  Verdict verdict = Verdict::go;
  std::string reason;  // one line, empty for go
  int exit_code() const { return verdict == Verdict::go ? 0 : verdict == Verdict::no_gpu ? 77 : 1; }
};

// `error_text` names CUDA's error (cudaGetErrorName and cudaGetErrorString), passed in so that the
// decision is a pure function.
Decision decide(const Environment& environment, const std::string& error_text);

// Device `index`, once the runtime sees devices: `context_rc` is what creating its context returned.
// `oldest_runnable` is the oldest compute capability any of this build's kernels can run on
// (major * 10 + minor, collectives/gpu/kernel_image.hpp).
Decision decide_device(int index, const std::string& name, int major, int minor, cudaError_t context_rc,
                       const std::string& error_text, int oldest_runnable);

// The cuda backend's kernels need sm_80 (collectives/cuda); "" when this GPU runs them, else why not.
std::string cuda_backend_skip_reason(int index, const std::string& name, int major, int minor);

}  // namespace cctune::gpu_check
