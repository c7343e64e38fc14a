#include "tests/gpu/gpu_environment.hpp"

namespace cctune::gpu_check {

std::string cuda_version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

namespace {

// The first driver series of each CUDA major version (NVIDIA's CUDA toolkit release notes), for a
// message a cluster engineer can act on without looking it up.
std::string driver_series_for(int runtime_version) {
  switch (runtime_version / 1000) {
    case 11: return "450";
    case 12: return "525";
    case 13: return "580";
    default: return "";
  }
}

std::string driver_too_old(const Environment& e) {
  std::string text = "the NVIDIA driver here supports CUDA " + cuda_version_text(e.driver_version) +
                     ", older than this build's CUDA runtime " + cuda_version_text(e.runtime_version);
  const std::string series = driver_series_for(e.runtime_version);
  if (!series.empty()) text += ": install driver " + series + " or newer";
  text += " (or build with a CUDA toolkit no newer than " + cuda_version_text(e.driver_version) + ")";
  return text;
}

}  // namespace

Decision decide(const Environment& e, const std::string& error_text) {
  const std::string versions = " (driver for CUDA " + cuda_version_text(e.driver_version) + ", runtime CUDA " +
                               cuda_version_text(e.runtime_version) + ")";
  // No libcuda.so.1 at all: the runtime then also answers "insufficient driver", which is what hid
  // the difference between a machine without GPUs and a driver to upgrade.
  if (e.driver_version == 0) {
    return {Verdict::no_gpu, "no NVIDIA driver here (libcuda.so.1 cannot be loaded; this build's CUDA runtime is " +
                                 cuda_version_text(e.runtime_version) + ")"};
  }
  // Another major version cannot run at all; an older minor of the same major runs (CUDA's minor
  // version compatibility) unless the runtime itself says otherwise below.
  if (e.driver_version / 1000 < e.runtime_version / 1000 ||
      (e.count_rc == cudaErrorInsufficientDriver && e.driver_version < e.runtime_version)) {
    return {Verdict::cannot_use, driver_too_old(e)};
  }
  if (e.count_rc == cudaErrorNoDevice || (e.count_rc == cudaSuccess && e.count == 0)) {
    std::string text = "the NVIDIA driver sees no GPU" + versions;
    if (e.visible_devices_set) text += "; CUDA_VISIBLE_DEVICES is \"" + e.visible_devices + "\"";
    return {Verdict::no_gpu, text};
  }
  if (e.count_rc != cudaSuccess) {
    return {Verdict::cannot_use, "CUDA cannot use the GPUs here: " + error_text + versions};
  }
  return {};
}

Decision decide_device(int index, const std::string& name, int major, int minor, cudaError_t context_rc,
                       const std::string& error_text, int oldest_runnable) {
  const std::string gpu = "GPU " + std::to_string(index) + " (" + name + ", sm_" + std::to_string(major) +
                          std::to_string(minor) + ")";
  if (context_rc != cudaSuccess) {
    return {Verdict::cannot_use, gpu + " cannot be used: " + error_text +
                                     (context_rc == cudaErrorDevicesUnavailable
                                          ? " (exclusive-process mode with another process on it, or a MIG GPU without an instance)"
                                          : "")};
  }
  if (oldest_runnable > 0 && major * 10 + minor < oldest_runnable) {
    return {Verdict::cannot_use, gpu + " is older than anything this build runs: its oldest kernels need sm_" +
                                     std::to_string(oldest_runnable) +
                                     ", and a GPU older than that needs a build with a CUDA toolkit that still supports it"};
  }
  return {};
}

std::string cuda_backend_skip_reason(int index, const std::string& name, int major, int minor) {
  if (major >= 8) return "";
  return "GPU " + std::to_string(index) + " (" + name + ", sm_" + std::to_string(major) + std::to_string(minor) +
         ") is older than the sm_80 the cuda backend's kernels need";
}

}  // namespace cctune::gpu_check
