#pragma once
// What one of our CUDA collective kernels implements. Adding one: a new .cu file with a class deriving
// from CudaAlgorithm and a factory, plus one line in registry.cpp. Nothing here needs MPI.
#include <cuda_runtime_api.h>

#include <memory>
#include <span>

#include "collectives/backend.hpp"
#include "collectives/cuda/launch.hpp"

namespace cctune::cuda {

class CudaAlgorithm {
 public:
  virtual ~CudaAlgorithm() = default;
  virtual const AlgorithmInfo& info() const = 0;
  // Barriers one call passes: the caller advances the epoch by this much after each launch.
  virtual int barriers() const = 0;
  // Bytes of the per-rank scratch a call needs (0: none).
  virtual std::size_t scratch_bytes(const LaunchParams& params) const = 0;
  // Queues one call on `stream`. params.blocks is ignored: the algorithm chooses it from the size, and
  // from how many blocks the device can hold at once (every block of every view must be resident, since
  // blocks wait for each other).
  virtual void launch(LaunchParams params, cudaStream_t stream) const = 0;
};

// The explicit list, in the order `--algorithm all` runs them.
std::span<const std::unique_ptr<CudaAlgorithm>> registry();
std::span<const AlgorithmInfo> registry_infos();
// Throws UsageError naming the known ones.
const CudaAlgorithm& find_algorithm(Collective collective, std::string_view name);

std::unique_ptr<CudaAlgorithm> make_one_shot_allreduce();
std::unique_ptr<CudaAlgorithm> make_two_shot_allreduce();
std::unique_ptr<CudaAlgorithm> make_direct_write_alltoall();

// ---- shared by the algorithm files ----

// Blocks per rank: enough for `work_items` items of kThreads threads each, no more than kMaxBlocks,
// and no more than the device holds at once for `views` ranks with `resident_per_sm` blocks per
// multiprocessor.
int plan_blocks(std::size_t work_items, int views, int resident_per_sm, int multiprocessors);

// Launches `kernel(params, more...)` with grid (params.blocks, params.views) as a cooperative launch,
// which fails rather than start blocks that could not all be resident.
void launch_cooperative_with(const void* kernel, const LaunchParams& params, void** arguments, cudaStream_t stream);
template <typename... More>
void launch_cooperative(const void* kernel, LaunchParams& params, cudaStream_t stream, More&... more) {
  void* arguments[] = {&params, &more...};
  launch_cooperative_with(kernel, params, arguments, stream);
}

// How many blocks of `kernel` fit on one multiprocessor, and the device's multiprocessor count (cached).
int resident_blocks_per_sm(const void* kernel);
int multiprocessor_count();

}  // namespace cctune::cuda
