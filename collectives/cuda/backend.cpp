#include "collectives/cuda/backend.hpp"

#include <algorithm>
#include <new>

#include "collectives/error.hpp"

namespace cctune::cuda {
namespace {

class BoundKernel final : public gpu::QueuedCollective {
 public:
  BoundKernel(CudaBackend& backend, const CudaAlgorithm& algorithm) : backend_(backend), algorithm_(algorithm) {}
  const AlgorithmInfo& info() const override { return algorithm_.info(); }

 private:
  cudaStream_t stream() const override { return backend_.stream(); }

  void queue(const CollectiveArgs& args) override {
    const auto [send, send_offset] = backend_.find_shared(args.send);
    const auto [recv, recv_offset] = backend_.find_shared(args.recv);
    if (send_offset % 16 != 0 || recv_offset % 16 != 0) {
      CCTUNE_THROW("cuda backend: buffers must start on a 16-byte boundary");
    }
    LaunchParams params;
    params.nranks = backend_.size();
    params.count = args.count;
    params.type = args.type;
    params.op = args.op;
    params.in_place = args.send == args.recv;
    params.views = 1;
    RankView& view = params.view[0];
    view.rank = backend_.rank();
    for (int r = 0; r < params.nranks; ++r) {
      const auto index = static_cast<std::size_t>(r);
      view.input[r] = static_cast<const std::byte*>(send->by_rank[index]) + send_offset;
      view.output[r] = static_cast<std::byte*>(recv->by_rank[index]) + recv_offset;
      view.flags[r] = backend_.flags()[index];
    }
    backend_.group().launch(algorithm_, params, backend_.stream());
  }

  void wait() override {
    if (!gpu::wait_for_stream(backend_.stream(), backend_.timeout_seconds())) {
      CCTUNE_THROW("cuda " + std::string(to_string(algorithm_.info().collective)) + " " +
                   std::string(algorithm_.info().name) + " did not finish within " +
                   gpu::seconds_text(backend_.timeout_seconds()) + ": a peer never reached its barrier");
    }
  }

  CudaBackend& backend_;
  const CudaAlgorithm& algorithm_;
};

}  // namespace

CudaBackend::CudaBackend(std::unique_ptr<PeerExchange> peers, const BackendSettings& settings)
    : peers_(std::move(peers)), settings_(settings), device_(peers_->local_rank()) {
  if (peers_->local_size() != peers_->size()) {
    CCTUNE_USAGE_ERROR("the cuda backend's kernels reach their peers over NVLink inside one node, and this job "
                       "spans nodes (use --backend nccl)");
  }
  if (peers_->size() > kMaxRanks) {
    CCTUNE_USAGE_ERROR("the cuda backend runs up to " + std::to_string(kMaxRanks) + " ranks, not " +
                       std::to_string(peers_->size()));
  }
  flags_ = gpu::DeviceMemory(kFlagsPerRank * sizeof(std::uint32_t));
  CCTUNE_CUDA(cudaMemset(flags_.get(), 0, flags_.bytes()));
  CCTUNE_CUDA(cudaDeviceSynchronize());
  shared_flags_ = share(flags_);
  for (void* pointer : shared_flags_->by_rank) flags_by_rank_.push_back(static_cast<std::uint32_t*>(pointer));
}

std::unique_ptr<SharedAllocation> CudaBackend::share(const gpu::DeviceMemory& memory) {
  cudaIpcMemHandle_t mine{};
  CCTUNE_CUDA(cudaIpcGetMemHandle(&mine, memory.get()));
  std::vector<cudaIpcMemHandle_t> all(static_cast<std::size_t>(size()));
  peers_->allgather(&mine, all.data(), sizeof mine);
  auto shared = std::make_unique<SharedAllocation>();
  shared->local = memory.get();
  shared->bytes = memory.bytes();
  for (int r = 0; r < size(); ++r) {
    if (r == rank()) {
      shared->by_rank.push_back(memory.get());
    } else {
      shared->opened.emplace_back(all[static_cast<std::size_t>(r)]);
      shared->by_rank.push_back(shared->opened.back().get());
    }
  }
  return shared;
}

std::unique_ptr<Buffer> CudaBackend::allocate(std::size_t bytes) {
  // A rank that cannot allocate must still take part in the exchange, or its peers would wait for it.
  gpu::DeviceMemory memory;
  bool failed = false;
  try {
    memory = gpu::DeviceMemory(bytes);
  } catch (const Error&) {
    failed = true;
  }
  if (peers_->any(failed)) throw std::bad_alloc();
  shared_.push_back(share(memory));
  return std::make_unique<gpu::DeviceBuffer>(std::move(memory));
}

std::pair<const SharedAllocation*, std::size_t> CudaBackend::find_shared(const void* pointer) const {
  const auto* byte = static_cast<const std::byte*>(pointer);
  for (const auto& shared : shared_) {
    const auto* base = static_cast<const std::byte*>(shared->local);
    if (byte >= base && byte < base + std::max<std::size_t>(shared->bytes, 1)) {
      return {shared.get(), static_cast<std::size_t>(byte - base)};
    }
  }
  CCTUNE_THROW("cuda backend: a buffer it did not allocate was passed to a collective");
}

std::unique_ptr<BoundCollective> CudaBackend::bind(Collective collective, std::string_view algorithm) {
  return std::make_unique<BoundKernel>(*this, find_algorithm(collective, algorithm));
}

}  // namespace cctune::cuda
