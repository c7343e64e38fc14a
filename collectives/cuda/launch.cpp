#include <algorithm>
#include <map>
#include <mutex>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/error.hpp"
#include "collectives/gpu/runtime.hpp"

namespace cctune::cuda {

GridLimits::GridLimits(std::vector<const void*> kernels, std::vector<int> device_blocks)
    : kernels_(std::move(kernels)), device_blocks_(std::move(device_blocks)) {
  CCTUNE_CHECK(kernels_.size() == device_blocks_.size(), "grid limits: one count per kernel");
}

int GridLimits::device_blocks(const void* kernel) const {
  if (kernels_.empty()) return local_device_blocks(kernel);
  const auto at = std::find(kernels_.begin(), kernels_.end(), kernel);
  // Every kernel an algorithm launches is in the registry's list, which the ranks agreed on whole.
  CCTUNE_CHECK(at != kernels_.end(), "grid limits: a kernel the ranks did not agree on");
  return device_blocks_[static_cast<std::size_t>(at - kernels_.begin())];
}

int plan_blocks(std::size_t work_items, int views, int device_blocks) {
  const std::size_t wanted = std::max<std::size_t>(1, (work_items + kThreads - 1) / kThreads);
  const int resident = std::max(1, device_blocks / std::max(views, 1));
  return static_cast<int>(std::min<std::size_t>({wanted, static_cast<std::size_t>(kMaxBlocks),
                                                 static_cast<std::size_t>(resident)}));
}

int resident_blocks_per_sm(const void* kernel) {
  static std::mutex mutex;
  static std::map<std::pair<const void*, int>, int> known;  // per kernel and device
  int device = 0;
  CCTUNE_CUDA(cudaGetDevice(&device));
  const std::lock_guard lock(mutex);
  auto [it, added] = known.try_emplace({kernel, device}, 0);
  if (added) CCTUNE_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&it->second, kernel, kThreads, 0));
  return it->second;
}

int multiprocessor_count() {
  // Asked at every launch, so asked of CUDA once per device.
  static std::mutex mutex;
  static std::map<int, int> known;
  int device = 0;
  CCTUNE_CUDA(cudaGetDevice(&device));
  const std::lock_guard lock(mutex);
  auto [it, added] = known.try_emplace(device, 0);
  if (added) CCTUNE_CUDA(cudaDeviceGetAttribute(&it->second, cudaDevAttrMultiProcessorCount, device));
  return it->second;
}

int local_device_blocks(const void* kernel) { return resident_blocks_per_sm(kernel) * multiprocessor_count(); }

void launch_cooperative_with(const void* kernel, const LaunchParams& params, void** arguments, cudaStream_t stream) {
  CCTUNE_CUDA(cudaLaunchCooperativeKernel(kernel, dim3(static_cast<unsigned>(params.blocks),
                                                       static_cast<unsigned>(params.views)),
                                          dim3(kThreads), arguments, 0, stream));
}

}  // namespace cctune::cuda
