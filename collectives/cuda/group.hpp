#pragma once
// What persists between launches of our kernels for the ranks one process drives (one rank per GPU, or
// N virtual ranks on one GPU): the barrier epoch, which every rank advances alike, and each view's
// scratch memory. Nothing here needs MPI.
#include <cstdint>
#include <vector>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/gpu/runtime.hpp"

namespace cctune::cuda {

class LaunchGroup {
 public:
  // limits: the grid every rank agreed on; empty (virtual ranks): this device's own.
  explicit LaunchGroup(GridLimits limits = {}) : limits_(std::move(limits)) {}
  // Queues one call. params: everything but epoch, blocks and the views' scratch, which this fills in.
  void launch(const CudaAlgorithm& algorithm, LaunchParams params, cudaStream_t stream);
  const GridLimits& limits() const { return limits_; }

 private:
  GridLimits limits_;
  std::uint32_t epoch_ = 0;
  std::vector<gpu::DeviceMemory> scratch_;  // by view
};

// N ranks as N buffer sets on the current device, launched together so that all are resident at
// once: the cuda backend's kernels and barriers, testable on a single GPU.
class VirtualRanks {
 public:
  VirtualRanks(int nranks, std::size_t max_bytes);
  int size() const { return nranks_; }
  void* input(int rank) { return inputs_.at(static_cast<std::size_t>(rank)).get(); }
  void* output(int rank) { return outputs_.at(static_cast<std::size_t>(rank)).get(); }
  // One call on every rank; in place, each rank's output is also its input.
  void launch(const CudaAlgorithm& algorithm, std::size_t count, DataType type, ReduceOp op, bool in_place,
              cudaStream_t stream);
  // One out-of-place call that only rank `alone` joins: what a rank whose peers never come sees. It
  // waits at its first barrier until `stop` ends it (the GPU check stops it so); without a stop word
  // it would never end. Later calls of this group still meet (flags only grow).
  void launch_alone(const CudaAlgorithm& algorithm, int alone, std::size_t count, DataType type,
                    const StopWords& stop, cudaStream_t stream);

 private:
  int nranks_;
  std::vector<gpu::DeviceMemory> inputs_, outputs_, flags_;
  LaunchGroup group_;
};

}  // namespace cctune::cuda
