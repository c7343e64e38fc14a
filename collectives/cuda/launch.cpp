#include <algorithm>
#include <map>
#include <mutex>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/gpu/runtime.hpp"

namespace cctune::cuda {

int plan_blocks(std::size_t work_items, int views, int resident_per_sm, int multiprocessors) {
  const std::size_t wanted = std::max<std::size_t>(1, (work_items + kThreads - 1) / kThreads);
  const int resident = std::max(1, resident_per_sm * multiprocessors / std::max(views, 1));
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

void launch_cooperative_with(const void* kernel, const LaunchParams& params, void** arguments, cudaStream_t stream) {
  CCTUNE_CUDA(cudaLaunchCooperativeKernel(kernel, dim3(static_cast<unsigned>(params.blocks),
                                                       static_cast<unsigned>(params.views)),
                                          dim3(kThreads), arguments, 0, stream));
}

}  // namespace cctune::cuda
