#include "collectives/nccl/backend.hpp"

#include <cstdlib>
#include <optional>
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

// Sets an environment variable for the lifetime of this object (NCCL reads NCCL_ALGO and NCCL_PROTO
// while a communicator is created), then puts back what was there.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value) : name_(name) {
    if (!value) return;
    if (const char* old = std::getenv(name)) previous_ = old;
    setenv(name, value, 1);
    active_ = true;
  }
  ~ScopedEnvironment() {
    if (!active_) return;
    if (previous_) {
      setenv(name_, previous_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> previous_;
  bool active_ = false;
};

class NcclCall final : public gpu::QueuedCollective {
 public:
  NcclCall(NcclBackend& backend, PeerExchange& peers, const Configuration& configuration)
      : backend_(backend), configuration_(configuration), comm_(peers, configuration), nranks_(peers.size()) {}

  const AlgorithmInfo& info() const override { return configuration_.info; }

 private:
  cudaStream_t stream() const override { return backend_.stream(); }

  void queue(const CollectiveArgs& args) override {
    const cudaStream_t stream = backend_.stream();
    const ncclDataType_t type = nccl_type(args.type);
    if (configuration_.info.collective == Collective::allreduce) {
      CCTUNE_NCCL(ncclAllReduce(args.send, args.recv, args.count, type, nccl_op(args.op), comm_.get(), stream));
      return;
    }
    const std::size_t block = args.count * size_of(args.type);
    const void* send = args.send;
    if (send == args.recv) {  // NCCL's alltoall is out of place: send from a copy
      staging_.reserve(block * static_cast<std::size_t>(nranks_));
      CCTUNE_CUDA(cudaMemcpyAsync(staging_.get(), args.send, block * static_cast<std::size_t>(nranks_),
                                  cudaMemcpyDeviceToDevice, stream));
      send = staging_.get();
    }
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0)
    if (configuration_.path == Path::library) {
      CCTUNE_NCCL(ncclAlltoAll(send, args.recv, args.count, type, comm_.get(), stream));
      return;
    }
#endif
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
  NcclCommunicator comm_;
  int nranks_;
  gpu::DeviceMemory staging_;
};

}  // namespace

void check_nccl(ncclResult_t rc, std::string_view call, const char* file, int line) {
  if (rc == ncclSuccess || rc == ncclInProgress) return;
  throw Error(std::string(call) + " failed: " + ncclGetErrorString(rc), file, line);
}

std::string loaded_version() {
  int code = 0;
  CCTUNE_NCCL(ncclGetVersion(&code));
  // Since 2.9 the code is major * 10000 + minor * 100 + patch.
  return std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." + std::to_string(code % 100);
}

NcclCommunicator::NcclCommunicator(PeerExchange& peers, const Configuration& configuration) {
  ncclUniqueId id{};
  if (peers.rank() == 0) CCTUNE_NCCL(ncclGetUniqueId(&id));
  peers.broadcast(&id, sizeof id, 0);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  if (configuration.max_channels > 0) config.maxCTAs = configuration.max_channels;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0)
  if (configuration.channels_per_net_peer > 0) config.nChannelsPerNetPeer = configuration.channels_per_net_peer;
#endif
  const ScopedEnvironment algo("NCCL_ALGO", configuration.algo);
  const ScopedEnvironment proto("NCCL_PROTO", configuration.proto);
  CCTUNE_NCCL(ncclCommInitRankConfig(&comm_, peers.size(), id, peers.rank(), &config));
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

NcclBackend::NcclBackend(std::unique_ptr<PeerExchange> peers, const BackendSettings& settings)
    : peers_(std::move(peers)), settings_(settings), device_(peers_->local_rank()) {}

std::unique_ptr<Buffer> NcclBackend::allocate(std::size_t bytes) {
  return std::make_unique<gpu::DeviceBuffer>(gpu::DeviceMemory(bytes));
}

std::unique_ptr<BoundCollective> NcclBackend::bind(Collective collective, std::string_view algorithm) {
  return std::make_unique<NcclCall>(*this, *peers_, find_configuration(collective, algorithm));
}

}  // namespace cctune::nccl
