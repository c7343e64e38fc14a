#pragma once
// The nccl backend: NCCL's collectives on device buffers, one GPU per rank chosen by local rank. Each
// bound configuration gets its own communicator, created with that configuration's settings; the
// unique id travels over the PeerExchange (MPI in cctune).
#include <nccl.h>

#include <cstddef>
#include <map>
#include <memory>
#include <vector>

#include "collectives/backend.hpp"
#include "collectives/gpu/device_backend.hpp"
#include "collectives/gpu/runtime.hpp"
#include "collectives/nccl/configurations.hpp"
#include "collectives/nccl/runtime.hpp"
#include "collectives/peer_exchange.hpp"

namespace cctune::nccl {

// Throws cctune::Error naming the call and NCCL's message when rc is neither success nor in progress.
void check_nccl(ncclResult_t rc, std::string_view call, const char* file, int line);
#define CCTUNE_NCCL(call) ::cctune::nccl::check_nccl((call), #call, __FILE__, __LINE__)

// "2.28.9": the NCCL library this process loaded (not the header it was built against).
std::string loaded_version();
int loaded_version_code();

// Why a configuration cannot be measured for what it is on this runtime and hardware, or nullopt.
std::optional<std::string> why_unavailable(const Configuration& configuration, int runtime_code,
                                           const OptionalEntryPoints& entry_points,
                                           const std::optional<std::string>& ll128_unavailable);

class NcclCommunicator {
 public:
  // Collective over `peers`; timeout_seconds > 0 bounds a non-blocking init's completion. The launch's
  // CTA policy (-x) goes into its ncclConfig_t.
  NcclCommunicator(PeerExchange& peers, const Configuration& configuration, const LaunchSettings& launch,
                   double timeout_seconds);
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ~NcclCommunicator();
  ncclComm_t get() const { return comm_; }
  // Ends every operation in flight: what a timeout does, so that no rank waits for ever.
  void abort() noexcept;
  // NCCL's asynchronous error, ncclSuccess while healthy.
  ncclResult_t async_error() const;

 private:
  ncclComm_t comm_ = nullptr;
};

// The memory an NcclBackend allocated and what of it is registered with which communicator (-R),
// shared with its buffers and bound calls so that whichever goes first deregisters what it must.
class RegistrationTable {
 public:
  RegistrationTable(const OptionalEntryPoints& entry_points, Registration kind)
      : nccl_(entry_points), kind_(kind) {}
  RegistrationTable(const RegistrationTable&) = delete;
  RegistrationTable& operator=(const RegistrationTable&) = delete;

  // ncclMemAlloc where the runtime has it (what nccl-tests allocates), else cudaMalloc.
  void* allocate(std::size_t bytes);
  // Deregisters `base` from every communicator, then frees it.
  void free(void* base) noexcept;
  // Registers the allocation holding `pointer` with `comm`, once per pair; nothing without -R. The
  // symmetric kind is a collective call: every rank binds and runs alike, so all make it in one order.
  void register_with(ncclComm_t comm, const void* pointer);
  // Before `comm` is destroyed: deregisters what it holds (alive false: an aborted communicator,
  // whose registrations went with it).
  void release(ncclComm_t comm, bool alive) noexcept;

 private:
  struct Registered {
    ncclComm_t comm;
    void* base;
    void* handle;
  };
  void deregister(const Registered& entry) noexcept;

  OptionalEntryPoints nccl_;
  Registration kind_;
  std::map<const std::byte*, std::size_t> allocations_;  // base -> bytes
  std::vector<Registered> registered_;
};

class NcclBackend final : public gpu::DeviceBackend {
 public:
  NcclBackend(std::unique_ptr<PeerExchange> peers, const BackendSettings& settings);
  std::string_view name() const override { return "nccl"; }
  std::string device() const override { return device_.describe(); }
  std::string library_version() const override { return loaded_version(); }
  int rank() const override { return peers_->rank(); }
  int size() const override { return peers_->size(); }
  std::span<const AlgorithmInfo> algorithms() const override { return configuration_infos(); }
  std::unique_ptr<Buffer> allocate(std::size_t bytes) override;
  // Collective: creates the configuration's communicator. UsageError for one this runtime cannot honour.
  std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) override;
  std::optional<std::string> unavailable(Collective collective, std::string_view algorithm) const override;
  // A communicator per bound configuration: tune keeps at most four alive instead of one per candidate
  // (21 for allreduce). Racing's survivors of the first round mostly fit; while more race, each block
  // of calls may have to create its communicator again (outside the timing).
  static constexpr std::size_t kMaxLiveCommunicators = 4;
  std::size_t max_live_bound() const override { return kMaxLiveCommunicators; }
  // cudaMemGetInfo's memory in use on this rank's device (every process's), the most seen after the
  // backend's set-up and after each communicator's creation.
  std::uint64_t peak_device_bytes() const override { return peak_device_bytes_; }
  void sample_device_memory();

  // -y 1: CUDA's legacy default stream, as nccl-tests passes NULL.
  cudaStream_t stream() const { return settings_.launch.null_stream ? nullptr : stream_.get(); }
  double timeout_seconds() const { return settings_.timeout_seconds; }
  const LaunchSettings& launch() const { return settings_.launch; }
  void meet() { peers_->any(false); }  // -z 1 and 3, between calls
  const OptionalEntryPoints& entry_points() const { return entry_points_; }
  const std::shared_ptr<RegistrationTable>& registrations() const { return registrations_; }

 private:
  std::unique_ptr<PeerExchange> peers_;
  BackendSettings settings_;
  gpu::CurrentDevice device_;
  gpu::Stream stream_;
  int runtime_code_;
  OptionalEntryPoints entry_points_;
  std::optional<std::string> ll128_;  // why NCCL would not enable LL128 here
  std::shared_ptr<RegistrationTable> registrations_;
  std::uint64_t peak_device_bytes_ = 0;
};

}  // namespace cctune::nccl
