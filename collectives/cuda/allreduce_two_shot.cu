// Two-shot allreduce: a reduce-scatter (rank r reduces chunk r of every peer's vector) then an
// all-gather (every rank copies each reduced chunk from its owner). Each rank reads about twice its
// vector instead of nranks times: the choice for large messages, where bandwidth rules.
#include "collectives/cuda/algorithm.hpp"
#include "collectives/cuda/device.cuh"
#include "collectives/cuda/dispatch.cuh"

namespace cctune::cuda {
namespace {

// Chunk length in elements, a whole number of 16-byte vectors so that every chunk starts aligned.
__host__ __device__ inline std::size_t chunk_elements(std::size_t count, int nranks, std::size_t per_vector) {
  const std::size_t vectors = (count + per_vector - 1) / per_vector;
  return (vectors + static_cast<std::size_t>(nranks) - 1) / static_cast<std::size_t>(nranks) * per_vector;
}

struct Range {
  std::size_t begin, end;
};

// Rank `rank`'s chunk of the vector; the last ones may be short or empty.
__device__ inline Range chunk_of(int rank, std::size_t chunk, std::size_t count) {
  const std::size_t begin = static_cast<std::size_t>(rank) * chunk;
  if (begin >= count) return {count, count};
  return {begin, begin + chunk < count ? begin + chunk : count};
}

template <typename T>
__global__ void __launch_bounds__(kThreads) two_shot_allreduce(const LaunchParams p) {
  const RankView& view = p.view[blockIdx.y];
  const std::size_t chunk = chunk_elements(p.count, p.nranks, device::Element<T>::kPerVector);
  T* mine = static_cast<T*>(view.output[view.rank]);

  // Inputs ready; last call's readers are done.
  if (!device::barrier(view, p.nranks, p.epoch + 1, p.stop)) return;
  // Reduce-scatter. In place this is safe: chunk r of any rank's buffer is read only by rank r here.
  const Range own = chunk_of(view.rank, chunk, p.count);
  device::reduce_range<T>(view.input, p.nranks, p.op, own.begin, own.end, mine);
  if (!device::barrier(view, p.nranks, p.epoch + 2, p.stop)) return;  // every chunk reduced; every input read
  // All-gather, starting with the next rank so that the ranks do not all read the same peer at once.
  for (int step = 1; step < p.nranks; ++step) {
    const int owner = (view.rank + step) % p.nranks;
    const Range theirs = chunk_of(owner, chunk, p.count);
    device::copy_range<T>(static_cast<const T*>(view.output[owner]), mine, theirs.begin, theirs.end);
  }
  // The caller may overwrite our output (the next input, in place) once the call returns.
  if (!device::barrier(view, p.nranks, p.epoch + 3, p.stop)) return;
}

class TwoShotAllreduce final : public CudaAlgorithm {
 public:
  const AlgorithmInfo& info() const override { return info_; }
  int barriers() const override { return 3; }
  std::size_t scratch_bytes(const LaunchParams&) const override { return 0; }
  std::vector<const void*> kernels() const override {
    return {kernel_of<float>(), kernel_of<__half>(), kernel_of<__nv_bfloat16>()};
  }
  void launch(LaunchParams p, const GridLimits& limits, cudaStream_t stream) const override {
    with_reduce_type(p.type, [&](auto element) {
      using T = decltype(element);
      const void* kernel = kernel_of<T>();
      const std::size_t chunk_vectors =
          chunk_elements(p.count, p.nranks, device::Element<T>::kPerVector) / device::Element<T>::kPerVector;
      p.blocks = plan_blocks(chunk_vectors, p.views, limits.device_blocks(kernel));
      launch_cooperative(kernel, p, stream);
    });
  }

 private:
  template <typename T>
  static const void* kernel_of() {
    return reinterpret_cast<const void*>(&two_shot_allreduce<T>);
  }
  AlgorithmInfo info_{"two_shot", Collective::allreduce,
                      "reduce-scatter then all-gather through peer memory; each rank reads ~2x its vector "
                      "(large messages)"};
};

}  // namespace

std::unique_ptr<CudaAlgorithm> make_two_shot_allreduce() { return std::make_unique<TwoShotAllreduce>(); }

}  // namespace cctune::cuda
