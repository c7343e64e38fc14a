#pragma once
// What one of our CUDA collective kernels implements. Adding one: a new .cu file with a class deriving
// from CudaAlgorithm and a factory, plus one line in registry.cpp. Nothing here needs MPI.
#include <cuda_runtime_api.h>

#include <memory>
#include <span>
#include <vector>

#include "collectives/backend.hpp"
#include "collectives/cuda/launch.hpp"

namespace cctune::cuda {

// How many blocks of each kernel a device holds at once (resident blocks per multiprocessor times
// multiprocessors). Every rank must launch the same grid, since block b of a rank meets block b of
// every peer at each barrier: a job uses what its ranks agreed on (the minimum over ranks, exchanged
// once when the backend is made, collectives/cuda/setup.hpp), since the SKUs, MPS limits and MIG
// slices of a node can differ. Empty: this process's own device (virtual ranks: one device holds all).
class GridLimits {
 public:
  GridLimits() = default;
  GridLimits(std::vector<const void*> kernels, std::vector<int> device_blocks);
  int device_blocks(const void* kernel) const;

 private:
  std::vector<const void*> kernels_;
  std::vector<int> device_blocks_;
};

class CudaAlgorithm {
 public:
  virtual ~CudaAlgorithm() = default;
  virtual const AlgorithmInfo& info() const = 0;
  // Barriers one call passes: the caller advances the epoch by this much after each launch.
  virtual int barriers() const = 0;
  // Bytes of the per-rank scratch a call needs (0: none).
  virtual std::size_t scratch_bytes(const LaunchParams& params) const = 0;
  // Every kernel launch() may start (one per element type it handles), for GridLimits.
  virtual std::vector<const void*> kernels() const = 0;
  // Queues one call on `stream`. params.blocks is ignored: the algorithm chooses it from the size, and
  // from how many blocks the device can hold at once (`limits`: every block of every view must be
  // resident, since blocks wait for each other).
  virtual void launch(LaunchParams params, const GridLimits& limits, cudaStream_t stream) const = 0;
};

// The explicit list, in the order `--algorithm all` runs them.
std::span<const std::unique_ptr<CudaAlgorithm>> registry();
std::span<const AlgorithmInfo> registry_infos();
// Throws UsageError naming the known ones.
const CudaAlgorithm& find_algorithm(Collective collective, std::string_view name);
// Every kernel of the registry, in its order: what the ranks agree on the grid of.
std::vector<const void*> registry_kernels();

std::unique_ptr<CudaAlgorithm> make_one_shot_allreduce();
std::unique_ptr<CudaAlgorithm> make_two_shot_allreduce();
std::unique_ptr<CudaAlgorithm> make_direct_write_alltoall();

// ---- shared by the algorithm files ----

// Blocks per rank: enough for `work_items` items of kThreads threads each, no more than kMaxBlocks,
// and no more than a device holding `device_blocks` of the kernel at once holds for `views` ranks.
int plan_blocks(std::size_t work_items, int views, int device_blocks);

// Launches `kernel(params, more...)` with grid (params.blocks, params.views) as a cooperative launch,
// which fails rather than start blocks that could not all be resident.
void launch_cooperative_with(const void* kernel, const LaunchParams& params, void** arguments, cudaStream_t stream);
template <typename... More>
void launch_cooperative(const void* kernel, LaunchParams& params, cudaStream_t stream, More&... more) {
  void* arguments[] = {&params, &more...};
  launch_cooperative_with(kernel, params, arguments, stream);
}

// How many blocks of `kernel` fit on one multiprocessor of the current device, and its multiprocessor
// count (cached per device).
int resident_blocks_per_sm(const void* kernel);
int multiprocessor_count();
// Their product: what this device holds of `kernel` at once.
int local_device_blocks(const void* kernel);

}  // namespace cctune::cuda
