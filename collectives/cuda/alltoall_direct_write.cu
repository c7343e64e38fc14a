// Direct-write alltoall: every rank stores its block for peer p straight into p's receive buffer over
// NVLink. No staging, one pass; peers are visited in a rotated order so that they are not all written
// by everybody at once.
#include <cuda_runtime.h>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/cuda/device.cuh"

namespace cctune::cuda {
namespace {

// Every rank's thread t handles offset t (mod stride) of every block, in every buffer: so block b of a
// rank writes exactly the offsets that block b of each peer saved (in place) and later reads.
template <typename Unit>
__global__ void __launch_bounds__(kThreads) direct_write_alltoall(const LaunchParams p, std::size_t units_per_peer) {
  const RankView& view = p.view[blockIdx.y];
  const int n = p.nranks;
  Unit* own = static_cast<Unit*>(view.output[view.rank]);
  const Unit* outgoing = static_cast<const Unit*>(view.input[view.rank]);
  if (p.in_place) {  // our outgoing blocks are in the buffer the peers write into: keep a copy first
    Unit* saved = static_cast<Unit*>(view.scratch);
    for (std::size_t k = device::first_thread(); k < units_per_peer; k += device::thread_stride()) {
      for (int peer = 0; peer < n; ++peer) saved[peer * units_per_peer + k] = own[peer * units_per_peer + k];
    }
    outgoing = saved;
  }
  // Every peer has started this call (its receive buffer is ready) and saved its outgoing blocks.
  if (!device::barrier(view, n, p.epoch + 1, p.stop)) return;
  for (std::size_t k = device::first_thread(); k < units_per_peer; k += device::thread_stride()) {
    for (int step = 0; step < n; ++step) {
      const int peer = (view.rank + step) % n;
      static_cast<Unit*>(view.output[peer])[view.rank * units_per_peer + k] =
          __ldcg(outgoing + peer * units_per_peer + k);
    }
  }
  // Everything the peers wrote into our buffer has landed.
  if (!device::barrier(view, n, p.epoch + 2, p.stop)) return;
}

template <typename Unit>
const void* kernel_of() {
  return reinterpret_cast<const void*>(&direct_write_alltoall<Unit>);
}

template <typename Unit>
void launch_with(LaunchParams& p, const GridLimits& limits, std::size_t block_bytes, cudaStream_t stream) {
  const void* kernel = kernel_of<Unit>();
  std::size_t units = block_bytes / sizeof(Unit);
  p.blocks = plan_blocks(units, p.views, limits.device_blocks(kernel));
  launch_cooperative(kernel, p, stream, units);
}

class DirectWriteAlltoall final : public CudaAlgorithm {
 public:
  const AlgorithmInfo& info() const override { return info_; }
  int barriers() const override { return 2; }
  std::size_t scratch_bytes(const LaunchParams& p) const override {
    return p.in_place ? p.count * size_of(p.type) * static_cast<std::size_t>(p.nranks) : 0;
  }
  std::vector<const void*> kernels() const override {
    return {kernel_of<uint4>(), kernel_of<uint2>(), kernel_of<unsigned>(), kernel_of<unsigned short>(),
            kernel_of<unsigned char>()};
  }
  void launch(LaunchParams p, const GridLimits& limits, cudaStream_t stream) const override {
    // The widest access that divides a block: blocks start at multiples of their own size.
    const std::size_t block_bytes = p.count * size_of(p.type);
    if (block_bytes % 16 == 0) return launch_with<uint4>(p, limits, block_bytes, stream);
    if (block_bytes % 8 == 0) return launch_with<uint2>(p, limits, block_bytes, stream);
    if (block_bytes % 4 == 0) return launch_with<unsigned>(p, limits, block_bytes, stream);
    if (block_bytes % 2 == 0) return launch_with<unsigned short>(p, limits, block_bytes, stream);
    launch_with<unsigned char>(p, limits, block_bytes, stream);
  }

 private:
  AlgorithmInfo info_{"direct_write", Collective::alltoall,
                      "each rank stores its block for every peer straight into that peer's buffer over NVLink"};
};

}  // namespace

std::unique_ptr<CudaAlgorithm> make_direct_write_alltoall() { return std::make_unique<DirectWriteAlltoall>(); }

}  // namespace cctune::cuda
