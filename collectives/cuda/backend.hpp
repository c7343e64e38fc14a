#pragma once
// The cuda backend: our own kernels (registry.cpp), one process per GPU of one node. Each buffer it
// allocates is shared with every peer through a CUDA IPC handle, so the kernels read and write peer
// memory directly over NVLink.
#include <memory>
#include <vector>

#include "collectives/backend.hpp"
#include "collectives/cuda/group.hpp"
#include "collectives/gpu/device_backend.hpp"
#include "collectives/gpu/runtime.hpp"
#include "collectives/peer_exchange.hpp"

namespace cctune::cuda {

// One allocation as every rank addresses it.
struct SharedAllocation {
  const void* local = nullptr;
  std::size_t bytes = 0;
  std::vector<void*> by_rank;  // this rank's own pointer at its index
  std::vector<gpu::OpenedPeerMemory> opened;
};

class CudaBackend final : public gpu::DeviceBackend {
 public:
  // Collective over `peers`. Throws UsageError when the ranks span nodes or are more than kMaxRanks.
  CudaBackend(std::unique_ptr<PeerExchange> peers, const BackendSettings& settings);
  std::string_view name() const override { return "cuda"; }
  std::string device() const override { return device_.describe(); }
  int rank() const override { return peers_->rank(); }
  int size() const override { return peers_->size(); }
  std::span<const AlgorithmInfo> algorithms() const override { return registry_infos(); }
  // Collective: every rank allocates, in the same order.
  std::unique_ptr<Buffer> allocate(std::size_t bytes) override;
  std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) override;

  // The shared allocation holding `pointer`, with the offset of `pointer` in it; throws if none does.
  std::pair<const SharedAllocation*, std::size_t> find_shared(const void* pointer) const;
  const std::vector<std::uint32_t*>& flags() const { return flags_by_rank_; }
  LaunchGroup& group() { return group_; }
  cudaStream_t stream() const { return stream_.get(); }
  double timeout_seconds() const { return settings_.timeout_seconds; }

 private:
  // Exports `memory` to every peer and opens theirs.
  std::unique_ptr<SharedAllocation> share(const gpu::DeviceMemory& memory);

  std::unique_ptr<PeerExchange> peers_;
  BackendSettings settings_;
  gpu::CurrentDevice device_;
  gpu::DeviceMemory flags_;
  std::unique_ptr<SharedAllocation> shared_flags_;
  std::vector<std::uint32_t*> flags_by_rank_;
  std::vector<std::unique_ptr<SharedAllocation>> shared_;
  gpu::Stream stream_;
  LaunchGroup group_;
};

}  // namespace cctune::cuda
