#include "collectives/cuda/group.hpp"

#include "collectives/error.hpp"

namespace cctune::cuda {

void LaunchGroup::launch(const CudaAlgorithm& algorithm, LaunchParams params, cudaStream_t stream) {
  params.epoch = epoch_;
  const std::size_t scratch = algorithm.scratch_bytes(params);
  if (scratch > 0) {
    if (scratch_.size() < static_cast<std::size_t>(params.views)) scratch_.resize(static_cast<std::size_t>(params.views));
    for (int v = 0; v < params.views; ++v) {
      scratch_[static_cast<std::size_t>(v)].reserve(scratch);
      params.view[v].scratch = scratch_[static_cast<std::size_t>(v)].get();
    }
  }
  algorithm.launch(params, limits_, stream);
  CCTUNE_CUDA(cudaGetLastError());
  // Only once the launch is queued: a launch that failed passed no barrier, on any rank.
  epoch_ += static_cast<std::uint32_t>(algorithm.barriers());
}

VirtualRanks::VirtualRanks(int nranks, std::size_t max_bytes) : nranks_(nranks) {
  if (nranks < 1 || nranks > kMaxRanks) {
    CCTUNE_USAGE_ERROR("virtual ranks: " + std::to_string(nranks) + " is outside 1.." + std::to_string(kMaxRanks));
  }
  for (int r = 0; r < nranks; ++r) {
    inputs_.emplace_back(max_bytes);
    outputs_.emplace_back(max_bytes);
    flags_.emplace_back(kFlagsPerRank * sizeof(std::uint32_t));
    CCTUNE_CUDA(cudaMemset(flags_.back().get(), 0, flags_.back().bytes()));
  }
  // cudaMemset runs on the legacy stream, which does not order against the non-blocking stream the
  // kernels run on: the flags must be zero before the first launch reads them.
  CCTUNE_CUDA(cudaDeviceSynchronize());
}

void VirtualRanks::launch(const CudaAlgorithm& algorithm, std::size_t count, DataType type, ReduceOp op,
                          bool in_place, cudaStream_t stream) {
  LaunchParams params;
  params.nranks = nranks_;
  params.count = count;
  params.type = type;
  params.op = op;
  params.in_place = in_place;
  params.views = nranks_;
  for (int v = 0; v < nranks_; ++v) {
    RankView& view = params.view[v];
    view.rank = v;
    for (int r = 0; r < nranks_; ++r) {
      view.output[r] = output(r);
      view.input[r] = in_place ? output(r) : input(r);
      view.flags[r] = static_cast<std::uint32_t*>(flags_[static_cast<std::size_t>(r)].get());
    }
  }
  group_.launch(algorithm, params, stream);
}

void VirtualRanks::launch_alone(const CudaAlgorithm& algorithm, int alone, std::size_t count, DataType type,
                                const StopWords& stop, cudaStream_t stream) {
  CCTUNE_CHECK(alone >= 0 && alone < nranks_ && nranks_ > 1, "virtual ranks: a rank alone needs peers to miss");
  LaunchParams params;
  params.nranks = nranks_;
  params.count = count;
  params.type = type;
  params.views = 1;
  params.stop = stop;
  RankView& view = params.view[0];
  view.rank = alone;
  for (int r = 0; r < nranks_; ++r) {
    view.output[r] = output(r);
    view.input[r] = input(r);
    view.flags[r] = static_cast<std::uint32_t*>(flags_[static_cast<std::size_t>(r)].get());
  }
  group_.launch(algorithm, params, stream);
}

}  // namespace cctune::cuda
