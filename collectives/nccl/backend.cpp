#include "collectives/nccl/backend.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "collectives/error.hpp"

namespace cctune::nccl {
namespace {

ncclDataType_t nccl_type(DataType type) {
  switch (type) {
    case DataType::float32: return ncclFloat32;
    case DataType::float64: return ncclFloat64;
    case DataType::int32: return ncclInt32;
    case DataType::float16: return ncclFloat16;
    case DataType::bfloat16: return ncclBfloat16;
  }
  CCTUNE_THROW("no NCCL type for this element type");
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::max: return ncclMax;
    case ReduceOp::min: return ncclMin;
    case ReduceOp::avg: break;
  }
  // NCCL's avg multiplies each input by 1/nranks before the sum: not the one exact answer bench checks.
  CCTUNE_USAGE_ERROR("the nccl backend runs sum, max and min (NCCL's avg is rounded differently on every rank count)");
}

class NcclCall final : public gpu::QueuedCollective {
 public:
  NcclCall(NcclBackend& backend, PeerExchange& peers, const Configuration& configuration)
      : backend_(backend),
        configuration_(configuration),
        registrations_(backend.registrations()),
        comm_(peers, configuration, backend.launch(), backend.timeout_seconds()),
        created_(comm_.get()),
        nranks_(peers.size()) {
    backend.sample_device_memory();
  }
  ~NcclCall() override {
    // Before the communicator goes; an aborted one took its registrations with it.
    registrations_->release(created_, comm_.get() != nullptr);
  }
  NcclCall(const NcclCall&) = delete;
  NcclCall& operator=(const NcclCall&) = delete;

  const AlgorithmInfo& info() const override { return configuration_.info; }

 private:
  cudaStream_t stream() const override { return backend_.stream(); }
  const LaunchSettings& launch() const override { return backend_.launch(); }
  void meet() override { backend_.meet(); }

  void prepare(const CollectiveArgs& args) override {
    // In place, NCCL's alltoall (out of place) sends from a copy. Its memory is found here, outside any
    // graph capture, where cudaMalloc is refused (-G -w 0 would otherwise allocate in the captured
    // call). It is a buffer of the backend's like the others, so -R registers it as it registers them
    // and NCCL sends from registered memory as it does out of place. Every rank stages alike (the same
    // placement and count), so symmetric registration keeps one order on every rank.
    if (configuration_.info.collective == Collective::alltoall && args.send == args.recv) {
      const std::size_t bytes = args.count * size_of(args.type) * static_cast<std::size_t>(nranks_);
      if (!staging_ || staging_->bytes() < bytes) {
        staging_.reset();  // freed, and deregistered, before its successor is allocated
        staging_ = backend_.allocate(bytes);
      }
      registrations_->register_with(comm_.get(), staging_->data());
    }
    if (backend_.launch().registration == Registration::none) return;
    registrations_->register_with(comm_.get(), args.send);
    registrations_->register_with(comm_.get(), args.recv);
  }

  // -m: nccl-tests issues an iteration's calls as one group, which NCCL launches together.
  void queue_iteration(const CollectiveArgs& args, int calls) override {
    if (calls <= 1) {
      queue(args);
      return;
    }
    CCTUNE_NCCL(ncclGroupStart());
    try {
      for (int c = 0; c < calls; ++c) queue(args);
    } catch (...) {
      ncclGroupEnd();  // a group left open would hold every later NCCL call of this thread
      throw;
    }
    CCTUNE_NCCL(ncclGroupEnd());
  }

  void queue(const CollectiveArgs& args) override {
    const cudaStream_t stream = backend_.stream();
    const ncclDataType_t type = nccl_type(args.type);
    if (configuration_.info.collective == Collective::allreduce) {
      CCTUNE_NCCL(ncclAllReduce(args.send, args.recv, args.count, type, nccl_op(args.op), comm_.get(), stream));
      return;
    }
    const std::size_t block = args.count * size_of(args.type);
    const void* send = args.send;
    if (send == args.recv) {  // NCCL's alltoall is out of place: send from the copy prepare() made room for
      const std::size_t bytes = block * static_cast<std::size_t>(nranks_);
      if (!staging_ || staging_->bytes() < bytes) CCTUNE_THROW("nccl backend: in-place alltoall queued before prepare()");
      CCTUNE_CUDA(cudaMemcpyAsync(staging_->data(), args.send, bytes, cudaMemcpyDeviceToDevice, stream));
      send = staging_->data();
    }
    // Through the pointer resolved at run time: a runtime older than 2.28 has no ncclAlltoAll, and
    // then the library path is grouped send/receive, as before 2.28.
    if (configuration_.path == Path::library && backend_.entry_points().alltoall) {
      CCTUNE_NCCL(backend_.entry_points().alltoall(send, args.recv, args.count, type, comm_.get(), stream));
      return;
    }
    CCTUNE_NCCL(ncclGroupStart());
    for (int peer = 0; peer < nranks_; ++peer) {
      const std::size_t at = block * static_cast<std::size_t>(peer);
      CCTUNE_NCCL(ncclSend(static_cast<const std::byte*>(send) + at, args.count, type, peer, comm_.get(), stream));
      CCTUNE_NCCL(ncclRecv(static_cast<std::byte*>(args.recv) + at, args.count, type, peer, comm_.get(), stream));
    }
    CCTUNE_NCCL(ncclGroupEnd());
  }

  static bool healthy(void* context) { return static_cast<NcclCall*>(context)->comm_.async_error() == ncclSuccess; }

  void wait() override {
    if (wait_for_calls(backend_.timeout_seconds(), healthy, this)) return;
    const ncclResult_t error = comm_.async_error();
    comm_.abort();
    if (error != ncclSuccess) {
      CCTUNE_THROW(what() + " failed: " + ncclGetErrorString(error) + "; the communicator was aborted");
    }
    CCTUNE_THROW(what() + " did not finish within " + gpu::seconds_text(backend_.timeout_seconds()) +
                 "; the communicator was aborted");
  }

  std::string what() const {
    return "nccl " + std::string(to_string(configuration_.info.collective)) + " " + std::string(configuration_.info.name);
  }

  NcclBackend& backend_;
  const Configuration& configuration_;
  std::shared_ptr<RegistrationTable> registrations_;  // outlives comm_, which is destroyed first
  NcclCommunicator comm_;
  ncclComm_t created_;  // comm_ as created, to release its registrations after an abort cleared it
  int nranks_;
  std::unique_ptr<Buffer> staging_;  // in-place alltoall's copy; freed before comm_ goes
};

// Memory from the backend's RegistrationTable, which it goes back to (deregistered, then freed).
class NcclBuffer final : public gpu::DeviceBufferView {
 public:
  NcclBuffer(std::shared_ptr<RegistrationTable> table, std::size_t bytes)
      : DeviceBufferView(table->allocate(bytes), bytes), table_(std::move(table)) {}
  NcclBuffer(const NcclBuffer&) = delete;
  NcclBuffer& operator=(const NcclBuffer&) = delete;
  ~NcclBuffer() override { table_->free(data()); }

 private:
  std::shared_ptr<RegistrationTable> table_;
};

}  // namespace

void check_nccl(ncclResult_t rc, std::string_view call, const char* file, int line) {
  if (rc == ncclSuccess || rc == ncclInProgress) return;
  throw Error(std::string(call) + " failed: " + ncclGetErrorString(rc), file, line);
}

int loaded_version_code() {
  int code = 0;
  CCTUNE_NCCL(ncclGetVersion(&code));
  return code;
}

std::string loaded_version() { return version_text(loaded_version_code()); }

NcclCommunicator::NcclCommunicator(PeerExchange& peers, const Configuration& configuration,
                                   const LaunchSettings& launch, double timeout_seconds) {
  ncclUniqueId id{};
  if (peers.rank() == 0) CCTUNE_NCCL(ncclGetUniqueId(&id));
  peers.broadcast(&id, sizeof id, 0);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  if (configuration.max_channels > 0) config.maxCTAs = configuration.max_channels;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 27, 0)
  if (launch.cta_policy >= 0) config.CTAPolicy = launch.cta_policy;
#else
  (void)launch;  // refused before this point on such a runtime (launch_unsupported_by_runtime)
#endif
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0)
  if (configuration.channels_per_net_peer > 0) config.nChannelsPerNetPeer = configuration.channels_per_net_peer;
#endif
  comm_ = create_communicator(real_init_entry_points(), peers.size(), id, peers.rank(), config, configuration,
                              timeout_seconds);
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_) ncclCommDestroy(comm_);
}

void NcclCommunicator::abort() noexcept {
  if (comm_) ncclCommAbort(comm_);
  comm_ = nullptr;
}

ncclResult_t NcclCommunicator::async_error() const {
  ncclResult_t error = ncclSuccess;
  if (comm_ && ncclCommGetAsyncError(comm_, &error) != ncclSuccess) return ncclInternalError;
  return error == ncclInProgress ? ncclSuccess : error;
}

namespace {

// What every rank says about its GPU, for the LL128 rule.
struct GpuFacts {
  int compute_capability = 0;
  std::uint64_t host = 0;
  std::array<char, 32> bus{};
};

std::uint64_t host_hash() {
  std::array<char, 256> name{};
  gethostname(name.data(), name.size() - 1);
  return std::hash<std::string>{}(std::string(name.data()));
}

// Collective. NVLink is judged from CUDA's peer attributes of the pairs this process can see: a peer
// GPU hidden from it (CUDA_VISIBLE_DEVICES) counts as not joined, so LL128 is then left out.
Ll128Facts gather_ll128_facts(PeerExchange& peers, int device) {
  GpuFacts mine;
  int major = 0, minor = 0;
  CCTUNE_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CCTUNE_CUDA(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  mine.compute_capability = 10 * major + minor;
  mine.host = host_hash();
  cudaDeviceGetPCIBusId(mine.bus.data(), static_cast<int>(mine.bus.size()) - 1, device);
  std::vector<GpuFacts> all(static_cast<std::size_t>(peers.size()));
  peers.allgather(&mine, all.data(), sizeof mine);

  Ll128Facts facts;
  std::set<std::uint64_t> hosts;
  std::map<std::uint64_t, std::set<std::string>> gpus;
  bool joined = true, hidden = false;
  for (const GpuFacts& peer : all) {
    facts.compute_capability.push_back(peer.compute_capability);
    hosts.insert(peer.host);
    gpus[peer.host].insert(std::string(peer.bus.data()));
    if (peer.host != mine.host || std::strcmp(peer.bus.data(), mine.bus.data()) == 0) continue;
    int other = -1, atomics = 0;
    const bool visible = cudaDeviceGetByPCIBusId(&other, peer.bus.data()) == cudaSuccess;
    hidden = hidden || !visible;
    joined = joined && visible &&
             cudaDeviceGetP2PAttribute(&atomics, cudaDevP2PAttrNativeAtomicSupported, device, other) == cudaSuccess &&
             atomics == 1;
  }
  cudaGetLastError();  // a failed query above is an answer, not an error for the next call to find
  facts.nnodes = static_cast<int>(hosts.size());
  facts.min_gpus_per_node = static_cast<int>(peers.size());
  for (const auto& [host, buses] : gpus) facts.min_gpus_per_node = std::min(facts.min_gpus_per_node, static_cast<int>(buses.size()));
  facts.nvlink_within_nodes = !peers.any(!joined);
  facts.peer_hidden = peers.any(hidden);
  // Each rank's own environment, but one answer for all: ranks must offer the same candidates.
  const char* c2c = std::getenv("NCCL_LL128_C2C");
  facts.ll128_c2c = !peers.any(c2c && std::atoi(c2c) == 0);
  return facts;
}

}  // namespace

NcclBackend::NcclBackend(std::unique_ptr<PeerExchange> peers, const BackendSettings& settings)
    : peers_(std::move(peers)),
      settings_(settings),
      device_(peers_->local_rank()),
      runtime_code_(loaded_version_code()),
      entry_points_(resolve_optional(default_resolver)),
      ll128_(ll128_unavailable(gather_ll128_facts(*peers_, device_.index))) {
  // unavailable() must answer alike on every rank, or ranks would bind different configurations in a
  // different order and NCCL's inits would pair up wrongly (a hang): where ranks loaded different
  // NCCL libraries (a wheel on some nodes, the system's on others), the oldest runtime and the entry
  // points every rank has decide.
  struct RuntimeFacts {
    int code;
    int has_alltoall;
    int has_mem_alloc;
    int has_register;
    int has_window_register;
  };
  const auto has = [](auto... functions) { return ((functions != nullptr) && ...) ? 1 : 0; };
  const RuntimeFacts mine{runtime_code_, has(entry_points_.alltoall),
                          has(entry_points_.mem_alloc, entry_points_.mem_free),
                          has(entry_points_.comm_register, entry_points_.comm_deregister),
                          has(entry_points_.window_register, entry_points_.window_deregister)};
  std::vector<RuntimeFacts> all(static_cast<std::size_t>(peers_->size()));
  peers_->allgather(&mine, all.data(), sizeof mine);
  for (const RuntimeFacts& peer : all) {
    runtime_code_ = std::min(runtime_code_, peer.code);
    if (!peer.has_alltoall) entry_points_.alltoall = nullptr;
    if (!peer.has_mem_alloc) {
      entry_points_.mem_alloc = nullptr;
      entry_points_.mem_free = nullptr;
    }
    if (!peer.has_register) {
      entry_points_.comm_register = nullptr;
      entry_points_.comm_deregister = nullptr;
    }
    if (!peer.has_window_register) {
      entry_points_.window_register = nullptr;
      entry_points_.window_deregister = nullptr;
    }
  }
  // Every rank decides alike on the facts agreed above, before any communicator exists.
  if (const auto why = launch_unsupported_by_runtime(settings_.launch, runtime_code_, entry_points_)) {
    CCTUNE_USAGE_ERROR(*why);
  }
  registrations_ = std::make_shared<RegistrationTable>(entry_points_, settings_.launch.registration);
  sample_device_memory();
}

std::optional<std::string> NcclBackend::unavailable(Collective collective, std::string_view algorithm) const {
  return why_unavailable(find_configuration(collective, algorithm), runtime_code_, entry_points_, ll128_);
}

void NcclBackend::sample_device_memory() {
  std::size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  peak_device_bytes_ = std::max<std::uint64_t>(peak_device_bytes_, total - free);
}

std::unique_ptr<Buffer> NcclBackend::allocate(std::size_t bytes) {
  return std::make_unique<NcclBuffer>(registrations_, bytes);
}

void* RegistrationTable::allocate(std::size_t bytes) {
  const std::size_t size = bytes ? bytes : 1;  // a distinct address for every buffer, as DeviceMemory
  void* base = nullptr;
  if (nccl_.mem_alloc) {
    CCTUNE_NCCL(nccl_.mem_alloc(&base, size));
  } else {
    CCTUNE_CUDA(cudaMalloc(&base, size));
  }
  allocations_[static_cast<const std::byte*>(base)] = size;
  return base;
}

void RegistrationTable::free(void* base) noexcept {
  std::erase_if(registered_, [&](const Registered& entry) {
    if (entry.base != base) return false;
    deregister(entry);
    return true;
  });
  allocations_.erase(static_cast<const std::byte*>(base));
  if (gpu::device_abandoned()) return;  // freeing would wait for a kernel that never ends
  if (nccl_.mem_free) {
    nccl_.mem_free(base);
  } else {
    cudaFree(base);
  }
}

void RegistrationTable::register_with(ncclComm_t comm, const void* pointer) {
  if (kind_ == Registration::none || !comm) return;
  const auto* at = static_cast<const std::byte*>(pointer);
  auto it = allocations_.upper_bound(at);
  if (it == allocations_.begin() || at >= std::prev(it)->first + std::prev(it)->second) {
    CCTUNE_THROW("nccl backend: a buffer to register was not allocated by this backend");
  }
  --it;
  void* base = const_cast<std::byte*>(it->first);
  for (const Registered& entry : registered_) {
    if (entry.comm == comm && entry.base == base) return;
  }
  void* handle = nullptr;
  if (kind_ == Registration::local) {
    CCTUNE_NCCL(nccl_.comm_register(comm, base, it->second, &handle));
  } else {
#ifdef NCCL_WIN_COLL_SYMMETRIC
    constexpr int kSymmetric = NCCL_WIN_COLL_SYMMETRIC;
#else
    constexpr int kSymmetric = 0x01;  // NCCL 2.27's value, for headers older than the runtime
#endif
    CCTUNE_NCCL(nccl_.window_register(comm, base, it->second, &handle, kSymmetric));
  }
  registered_.push_back({comm, base, handle});
}

void RegistrationTable::release(ncclComm_t comm, bool alive) noexcept {
  std::erase_if(registered_, [&](const Registered& entry) {
    if (entry.comm != comm) return false;
    if (alive) deregister(entry);
    return true;
  });
}

void RegistrationTable::deregister(const Registered& entry) noexcept {
  if (gpu::device_abandoned()) return;
  // Errors cannot be reported from a teardown; the process keeps running either way.
  if (kind_ == Registration::local) {
    nccl_.comm_deregister(entry.comm, entry.handle);
  } else {
    nccl_.window_deregister(entry.comm, entry.handle);
  }
}

std::unique_ptr<BoundCollective> NcclBackend::bind(Collective collective, std::string_view algorithm) {
  const Configuration& configuration = find_configuration(collective, algorithm);
  // What the runtime would silently ignore is refused, on every rank alike (one runtime). A forced
  // LL128 that NCCL would not enable stays runnable here: bench asked for it by name, and a wrong
  // result is then what it reports; tune leaves it out beforehand (unavailable()).
  if (const auto why = unsupported_by_runtime(configuration, runtime_code_, entry_points_)) {
    CCTUNE_USAGE_ERROR("nccl " + std::string(to_string(collective)) + " " + std::string(algorithm) + ": " + *why);
  }
  return std::make_unique<NcclCall>(*this, *peers_, configuration);
}

std::optional<std::string> why_unavailable(const Configuration& configuration, int runtime_code,
                                           const OptionalEntryPoints& entry_points,
                                           const std::optional<std::string>& ll128_unavailable) {
  if (auto why = unsupported_by_runtime(configuration, runtime_code, entry_points)) return why;
  if (ll128_unavailable && configuration.proto && std::string_view(configuration.proto) == "LL128") {
    return "NCCL would not enable LL128 here (" + *ll128_unavailable + "), and forcing it skips NCCL's check";
  }
  return std::nullopt;
}

}  // namespace cctune::nccl
