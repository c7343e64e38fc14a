#include "collectives/gpu/kernel_image.hpp"

#include <cuda_runtime_api.h>

#include <cctype>
#include <mutex>
#include <set>
#include <utility>

#include "collectives/error.hpp"
#include "collectives/gpu/runtime.hpp"

namespace cctune::gpu {

int oldest_runnable(std::string_view architectures) {
  int oldest = 0;
  for (std::size_t i = 0; i < architectures.size();) {
    if (!std::isdigit(static_cast<unsigned char>(architectures[i]))) {
      ++i;
      continue;
    }
    int number = 0;
    while (i < architectures.size() && std::isdigit(static_cast<unsigned char>(architectures[i]))) {
      number = number * 10 + (architectures[i++] - '0');
    }
    if (oldest == 0 || number < oldest) oldest = number;
  }
  return oldest;
}

std::string no_kernel_image_message(std::string_view what, int device, std::string_view name, int major, int minor,
                                    std::string_view architectures) {
  const int oldest = oldest_runnable(architectures);
  std::string text = "GPU " + std::to_string(device) + " (" + std::string(name) + ", sm_" + std::to_string(major) +
                     std::to_string(minor) + ") cannot run cctune's " + std::string(what) + ": this build has them";
  if (oldest > 0) text += " for sm_" + std::to_string(oldest) + " and newer";
  text += " (CUDA architectures " + std::string(architectures) + ")";
  if (oldest > 0 && major * 10 + minor < oldest) {
    text += "; a GPU older than sm_" + std::to_string(oldest) + " needs a build with a CUDA that still supports it";
  } else {
    text += "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" + std::to_string(major) + std::to_string(minor);
  }
  return text;
}

void require_kernel_image(const void* kernel, std::string_view what, std::string_view architectures) {
  int device = 0;
  CCTUNE_CUDA(cudaGetDevice(&device));
  static std::mutex mutex;
  static std::set<std::pair<int, const void*>> checked;
  {
    const std::lock_guard lock(mutex);
    if (checked.count({device, kernel})) return;
  }
  cudaFuncAttributes attributes{};
  const cudaError_t rc = cudaFuncGetAttributes(&attributes, kernel);
  // CUDA names a missing image one way or the other depending on version; PTX newer than the driver can
  // compile is the same refusal seen from the driver's side.
  if (rc == cudaErrorNoKernelImageForDevice || rc == cudaErrorInvalidDeviceFunction ||
      rc == cudaErrorUnsupportedPtxVersion) {
    cudaGetLastError();  // not sticky, but clear it so that the next call does not report it
    cudaDeviceProp properties{};
    CCTUNE_CUDA(cudaGetDeviceProperties(&properties, device));
    std::string message =
        no_kernel_image_message(what, device, properties.name, properties.major, properties.minor, architectures);
    if (rc == cudaErrorUnsupportedPtxVersion) {
      int driver = 0;
      cudaDriverGetVersion(&driver);
      message += " (its driver, for CUDA " + std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10) +
                 ", cannot compile this build's PTX)";
    }
    CCTUNE_USAGE_ERROR(message);
  }
  CCTUNE_CUDA(rc);
  const std::lock_guard lock(mutex);
  checked.insert({device, kernel});
}

}  // namespace cctune::gpu
