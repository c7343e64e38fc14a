#include "collectives/nccl/runtime.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "collectives/error.hpp"

namespace cctune::nccl {
namespace {

// Sets (value) or removes (nullptr) an environment variable for the lifetime of this object, then
// puts back what was there.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value, bool remove_when_null = false) : name_(name) {
    if (!value && !remove_when_null) return;
    if (const char* old = std::getenv(name)) previous_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
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

std::string failed(const char* call, ncclResult_t rc) {
  return std::string(call) + " failed: " + ncclGetErrorString(rc);
}

}  // namespace

void* default_resolver(const char* name) { return dlsym(RTLD_DEFAULT, name); }

OptionalEntryPoints resolve_optional(const SymbolResolver& resolve) {
  OptionalEntryPoints entry_points;
  entry_points.alltoall = reinterpret_cast<AlltoAllFn>(resolve("ncclAlltoAll"));
  entry_points.mem_alloc = reinterpret_cast<MemAllocFn>(resolve("ncclMemAlloc"));
  entry_points.mem_free = reinterpret_cast<MemFreeFn>(resolve("ncclMemFree"));
  entry_points.comm_register = reinterpret_cast<RegisterFn>(resolve("ncclCommRegister"));
  entry_points.comm_deregister = reinterpret_cast<DeregisterFn>(resolve("ncclCommDeregister"));
  entry_points.window_register = reinterpret_cast<WindowRegisterFn>(resolve("ncclCommWindowRegister"));
  entry_points.window_deregister = reinterpret_cast<WindowDeregisterFn>(resolve("ncclCommWindowDeregister"));
  // Freed memory must go back the way it came: both or neither.
  if (!entry_points.mem_alloc || !entry_points.mem_free) {
    entry_points.mem_alloc = nullptr;
    entry_points.mem_free = nullptr;
  }
  return entry_points;
}

std::string version_text(int code) {
  // Since 2.9 the code is major * 10000 + minor * 100 + patch.
  return std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." + std::to_string(code % 100);
}

std::optional<std::string> unsupported_by_runtime(const Configuration& configuration, int runtime_code,
                                                  const OptionalEntryPoints& entry_points) {
  const std::string runtime = "the NCCL runtime " + version_text(runtime_code);
  if (configuration.channels_per_net_peer > 0 && runtime_code < NCCL_VERSION(2, 28, 0)) {
    return runtime + " ignores ncclConfig_t::nChannelsPerNetPeer (NCCL 2.28 added it)";
  }
  if (configuration.max_channels > 0 && runtime_code < NCCL_VERSION(2, 17, 0)) {
    return runtime + " ignores ncclConfig_t::maxCTAs (NCCL 2.17 added it)";
  }
  // Without ncclAlltoAll, the library path of alltoall is grouped send/receive (what a job on this
  // runtime does too): nothing to refuse.
  (void)entry_points;
  return std::nullopt;
}

std::optional<std::string> launch_unsupported_by_runtime(const LaunchSettings& launch, int runtime_code,
                                                         const OptionalEntryPoints& entry_points) {
  const std::string runtime = "the NCCL runtime " + version_text(runtime_code);
#if NCCL_VERSION_CODE < NCCL_VERSION(2, 27, 0)
  if (launch.cta_policy >= 0) {
    return "-x " + std::to_string(launch.cta_policy) + ": this cctune was built against NCCL headers " +
           version_text(NCCL_VERSION_CODE) + ", whose ncclConfig_t has no CTAPolicy (NCCL 2.27 added it)";
  }
#endif
  if (launch.cta_policy >= 0 && runtime_code < NCCL_VERSION(2, 27, 0)) {
    return "-x " + std::to_string(launch.cta_policy) + ": " + runtime +
           " ignores ncclConfig_t::CTAPolicy (NCCL 2.27 added it)";
  }
  if (launch.cta_policy > 1 && runtime_code < NCCL_VERSION(2, 28, 0)) {
    return "-x " + std::to_string(launch.cta_policy) + ": " + runtime +
           " does not know that CTA policy (NCCL 2.28 added NCCL_CTA_POLICY_ZERO)";
  }
  if (launch.registration == Registration::local &&
      !(entry_points.comm_register && entry_points.comm_deregister && entry_points.mem_alloc)) {
    return "-R 1: " + runtime + " lacks ncclCommRegister or ncclMemAlloc (NCCL 2.19 added them)";
  }
  if (launch.registration == Registration::symmetric &&
      !(entry_points.window_register && entry_points.window_deregister && entry_points.mem_alloc)) {
    return "-R 2: " + runtime + " lacks ncclCommWindowRegister (NCCL 2.27 added symmetric registration)";
  }
  return std::nullopt;
}

InitEntryPoints real_init_entry_points() {
  InitEntryPoints nccl;
  nccl.init_rank_config = [](ncclComm_t* comm, int nranks, ncclUniqueId id, int rank, ncclConfig_t* config) {
    return ncclCommInitRankConfig(comm, nranks, id, rank, config);
  };
  nccl.get_async_error = [](ncclComm_t comm, ncclResult_t* error) { return ncclCommGetAsyncError(comm, error); };
  nccl.abort = [](ncclComm_t comm) { ncclCommAbort(comm); };
  nccl.pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); };
  nccl.seconds = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  return nccl;
}

ncclComm_t create_communicator(const InitEntryPoints& nccl, int nranks, const ncclUniqueId& id, int rank,
                               ncclConfig_t config, const Configuration& configuration, double timeout_seconds) {
  config.blocking = 1;
  // Every variable this process's NCCL reads while it creates the communicator and that decides what
  // is measured stays as we set it until the init has completed (the guards outlive the polling).
  const ScopedEnvironment blocking("NCCL_COMM_BLOCKING", "1");
  const ScopedEnvironment algo("NCCL_ALGO", configuration.algo);
  const ScopedEnvironment proto("NCCL_PROTO", configuration.proto);
  ncclComm_t comm = nullptr;
  const ncclResult_t rc = nccl.init_rank_config(&comm, nranks, id, rank, &config);
  if (rc != ncclSuccess && rc != ncclInProgress) {
    // A failed blocking init leaves nothing to free; a non-blocking one may have left a communicator.
    if (comm) nccl.abort(comm);
    CCTUNE_THROW(failed("ncclCommInitRankConfig", rc));
  }
  const double start = nccl.seconds();
  for (ncclResult_t state = rc; state == ncclInProgress;) {
    const ncclResult_t polled = nccl.get_async_error(comm, &state);
    if (polled != ncclSuccess) {
      nccl.abort(comm);
      CCTUNE_THROW(failed("ncclCommGetAsyncError", polled));
    }
    if (state != ncclSuccess && state != ncclInProgress) {
      nccl.abort(comm);
      CCTUNE_THROW(failed("ncclCommInitRankConfig (completing)", state));
    }
    if (state == ncclInProgress) {
      if (timeout_seconds > 0 && nccl.seconds() - start > timeout_seconds) {
        nccl.abort(comm);
        CCTUNE_THROW("ncclCommInitRankConfig did not complete within " + std::to_string(timeout_seconds) +
                     " s; the communicator was aborted");
      }
      nccl.pause();
    }
  }
  return comm;
}

std::optional<std::string> ll128_unavailable(const Ll128Facts& facts) {
  if (facts.compute_capability.empty()) return "no rank's compute capability is known";
  const auto [low, high] = std::minmax_element(facts.compute_capability.begin(), facts.compute_capability.end());
  const auto sm = [](int cc) { return "sm_" + std::to_string(cc); };
  // NCCL 2.28.9 src/graph/tuning.cc: LL128 only where every rank has the same compute capability, of
  // at least 7.0, and the algorithm's intra-node path is NVLink (typeIntra <= PATH_NVB).
  if (*low != *high) return "the ranks' GPUs differ (" + sm(*low) + " to " + sm(*high) + ")";
  if (*low < 70) return "the GPUs are older than sm_70";
  // A GPU hidden from a process (Slurm's --gpus-per-task=1) cannot be asked about: NCCL itself sees
  // the links through NVML, we cannot, and forcing LL128 on a PCIe node is what must not happen.
  if (!facts.nvlink_within_nodes && facts.peer_hidden) {
    return "NVLink between a node's GPUs cannot be confirmed: each process sees only its own GPU "
           "(CUDA_VISIBLE_DEVICES); let every rank see the node's GPUs to offer LL128";
  }
  if (!facts.nvlink_within_nodes) return "the GPUs of a node are not all joined by NVLink";
  if (facts.nnodes == 1) return std::nullopt;
  // Across nodes NCCL also needs the NIC's path to be at most PXN (sm_90 and newer with
  // NCCL_LL128_C2C on) or PXB. We cannot see that path; an NVLink-joined node of sm_90+ GPUs reaches a
  // PCIe-near NIC through PXN on every system we know (HGX, DGX, GB200), so that case is offered and
  // every other one is left out.
  if (!facts.ll128_c2c) return "across nodes with NCCL_LL128_C2C=0, NCCL's rule depends on the NIC's PCIe path";
  if (*low < 90) return "across nodes before sm_90, NCCL's rule depends on the NIC's PCIe path";
  if (facts.min_gpus_per_node < 2) return "across nodes with one GPU per node, NCCL's rule depends on the NIC's path";
  return std::nullopt;
}

}  // namespace cctune::nccl
