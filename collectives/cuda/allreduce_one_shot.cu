// One-shot allreduce: every rank reads the whole vector of every peer and reduces it itself. One pass
// over peer memory, the fewest steps: the choice for small messages, where latency rules.
#include "collectives/cuda/algorithm.hpp"
#include "collectives/cuda/device.cuh"
#include "collectives/cuda/dispatch.cuh"

namespace cctune::cuda {
namespace {

template <typename T>
__global__ void __launch_bounds__(kThreads) one_shot_allreduce(const LaunchParams p) {
  const RankView& view = p.view[blockIdx.y];
  // Every input is ready, and no peer still reads what we wrote in the last call.
  if (!device::barrier(view, p.nranks, p.epoch + 1, p.stop)) return;
  T* result = static_cast<T*>(p.in_place ? view.scratch : view.output[view.rank]);
  device::reduce_range<T>(view.input, p.nranks, p.op, 0, p.count, result);
  // In place, our input is our output: overwrite it only once every peer has read it. Out of place,
  // the caller may refill our input as soon as the call returns, so the peers must be done with it.
  if (!device::barrier(view, p.nranks, p.epoch + 2, p.stop)) return;
  if (p.in_place) device::copy_range<T>(result, static_cast<T*>(view.output[view.rank]), 0, p.count);
}

class OneShotAllreduce final : public CudaAlgorithm {
 public:
  const AlgorithmInfo& info() const override { return info_; }
  int barriers() const override { return 2; }
  std::size_t scratch_bytes(const LaunchParams& p) const override {
    return p.in_place ? p.count * size_of(p.type) : 0;
  }
  std::vector<const void*> kernels() const override {
    return {kernel_of<float>(), kernel_of<__half>(), kernel_of<__nv_bfloat16>()};
  }
  void launch(LaunchParams p, const GridLimits& limits, cudaStream_t stream) const override {
    with_reduce_type(p.type, [&](auto element) {
      using T = decltype(element);
      const void* kernel = kernel_of<T>();
      const std::size_t vectors = (p.count + device::Element<T>::kPerVector - 1) / device::Element<T>::kPerVector;
      p.blocks = plan_blocks(vectors, p.views, limits.device_blocks(kernel));
      launch_cooperative(kernel, p, stream);
    });
  }

 private:
  template <typename T>
  static const void* kernel_of() {
    return reinterpret_cast<const void*>(&one_shot_allreduce<T>);
  }
  AlgorithmInfo info_{"one_shot", Collective::allreduce,
                      "each rank reads every peer's whole vector over NVLink and reduces it (small messages)"};
};

}  // namespace

std::unique_ptr<CudaAlgorithm> make_one_shot_allreduce() { return std::make_unique<OneShotAllreduce>(); }

}  // namespace cctune::cuda
