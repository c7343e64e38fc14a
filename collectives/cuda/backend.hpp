#pragma once
// The cuda backend: our own kernels (registry.cpp), one process per GPU of one node. Each buffer it
// allocates is shared with every peer through a CUDA IPC handle, so the kernels read and write peer
// memory directly over NVLink.
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "collectives/backend.hpp"
#include "collectives/cuda/group.hpp"
#include "collectives/gpu/device_backend.hpp"
#include "collectives/gpu/runtime.hpp"
#include "collectives/peer_exchange.hpp"

namespace cctune::cuda {

// One allocation as every rank addresses it: this rank's memory, exported to every peer, and this
// rank's mappings of the peers' memory of the same allocation.
struct SharedAllocation {
  gpu::DeviceMemory memory;
  const void* local = nullptr;  // memory.get()
  std::size_t bytes = 0;
  std::vector<void*> by_rank;  // this rank's own pointer at its index
  std::vector<gpu::OpenedPeerMemory> opened;
};

// The allocations this rank shares with its peers (the exported-handle table). A buffer's memory
// outlives the buffer: freeing memory that a peer still maps is undefined in CUDA, and a peer closes
// its mapping only when its backend ends. So a released entry is no longer found (nothing may use
// it), and its memory, still held, cannot come back at the same address as a later allocation.
class SharedTable {
 public:
  // Returns the entry's id: the same on every rank, since allocations are collective and in order.
  std::size_t add(std::unique_ptr<SharedAllocation> allocation);
  // The buffer of entry `id` is gone.
  void release(std::size_t id);
  // The live entry holding `pointer`, and the offset of `pointer` in it; throws if none does.
  std::pair<const SharedAllocation*, std::size_t> find(const void* pointer) const;
  std::size_t entries() const { return entries_.size(); }  // live and released
  std::size_t live() const;
  std::size_t mappings() const;  // of peers' memory, still open

  // The end, on the normal path: every rank closes its mappings, `barrier` waits until every peer has
  // closed its own, and only then is this rank's memory freed. On an error path (healthy false: a call
  // was stopped, a CUDA error, an exception on its way to MPI_Abort) a peer may be dead or never come,
  // so nothing waits for one, and nothing that could wait for the device is called: the mappings and
  // the memory are left to the process's exit.
  void tear_down(bool healthy, const std::function<void()>& barrier) noexcept;

 private:
  struct Entry {
    std::unique_ptr<SharedAllocation> allocation;
    bool released = false;
  };
  std::vector<Entry> entries_;
};

class CudaBackend final : public gpu::DeviceBackend {
 public:
  // Collective over `peers`: one set-up step (collectives/cuda/setup.hpp) in which every rank learns
  // every rank's GPU, so that all refuse alike (UsageError, one line) when the ranks span nodes, are
  // more than kMaxRanks, cannot use a GPU, have one older than sm_80, share one, or lack peer-to-peer
  // access between two; and agree on the grid.
  CudaBackend(std::unique_ptr<PeerExchange> peers, const BackendSettings& settings);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string_view name() const override { return "cuda"; }
  std::string device() const override { return device_.describe(); }
  int rank() const override { return peers_->rank(); }
  int size() const override { return peers_->size(); }
  std::span<const AlgorithmInfo> algorithms() const override { return registry_infos(); }
  // Collective: every rank allocates, in the same order.
  std::unique_ptr<Buffer> allocate(std::size_t bytes) override;
  std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) override;

  // The shared allocation holding `pointer`, with the offset of `pointer` in it; throws if none does.
  std::pair<const SharedAllocation*, std::size_t> find_shared(const void* pointer) const {
    return shared_->find(pointer);
  }
  const std::vector<std::uint32_t*>& flags() const { return flags_by_rank_; }
  LaunchGroup& group() { return group_; }
  cudaStream_t stream() const { return stream_->get(); }
  double timeout_seconds() const { return settings_.timeout_seconds; }
  const LaunchSettings& launch() const { return settings_.launch; }
  // Every rank meets (-z 1 and 3), between calls.
  void meet() { peers_->any(false); }
  StopWords stop_words() const;

  // After a stopped call or a CUDA error the ranks' barrier epochs no longer agree: no call runs again,
  // and the end skips the collective teardown.
  bool failed() const { return failed_; }
  void mark_failed() noexcept { failed_ = true; }
  // Ends every call queued on the stream (StopWords) and waits a bounded time for the stream to drain.
  // false: it did not drain, and the device is abandoned (gpu::abandon_device), so that nothing on the
  // way to MPI_Abort waits for it.
  bool stop_calls() noexcept;
  // A kernel gave up at a barrier since the backend was made (its results are not to be trusted).
  bool calls_were_stopped() const;

 private:
  // Exports `memory` to every peer and opens theirs. Collective; a rank that cannot open a peer's
  // memory refuses with every other (UsageError naming the pair).
  std::unique_ptr<SharedAllocation> share(gpu::DeviceMemory memory);

  std::unique_ptr<PeerExchange> peers_;
  BackendSettings settings_;
  gpu::CurrentDevice device_;
  bool failed_ = false;
  // Made once the ranks agreed that the device may be used, in this order.
  std::optional<gpu::Stream> stream_;
  gpu::MappedHostWords stop_;  // [0] set by the host: stop; [1] set by a kernel: stopped
  gpu::DeviceMemory sticky_;   // StopWords::sticky
  std::shared_ptr<SharedTable> shared_ = std::make_shared<SharedTable>();  // buffers hold a weak reference
  std::vector<std::uint32_t*> flags_by_rank_;
  LaunchGroup group_;
};

}  // namespace cctune::cuda
