#pragma once
// What the nccl backend learns about the NCCL library it loaded, kept apart from the device so that
// it can be tested without one: the entry points newer than the oldest runtime we run on (resolved at
// run time), the order of a communicator's creation with its forced settings, and where NCCL itself
// would enable LL128.
#include <nccl.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "collectives/launch.hpp"
#include "collectives/nccl/configurations.hpp"

namespace cctune::nccl {

// dlsym(RTLD_DEFAULT, name) in cctune; tests inject one that answers nullptr.
using SymbolResolver = std::function<void*(const char* name)>;
void* default_resolver(const char* name);

using AlltoAllFn = ncclResult_t (*)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t);
using MemAllocFn = ncclResult_t (*)(void**, size_t);
using MemFreeFn = ncclResult_t (*)(void*);
using RegisterFn = ncclResult_t (*)(ncclComm_t, void*, size_t, void**);
using DeregisterFn = ncclResult_t (*)(ncclComm_t, void*);
// ncclWindow_t is an opaque pointer; as void* the code also builds against headers older than 2.27.
using WindowRegisterFn = ncclResult_t (*)(ncclComm_t, void*, size_t, void**, int);
using WindowDeregisterFn = ncclResult_t (*)(ncclComm_t, void*);

// The optional entry points of the loaded runtime. Our binaries must not name them as undefined
// symbols: an older libnccl (PyTorch's 2.27 wheel under 2.28 headers) would refuse to load them.
struct OptionalEntryPoints {
  AlltoAllFn alltoall = nullptr;  // ncclAlltoAll, NCCL 2.28
  // ncclMemAlloc / ncclMemFree (NCCL 2.19): the memory nccl-tests allocates (cuMem, which NCCL can
  // register for NVLS and the network); without them, cudaMalloc.
  MemAllocFn mem_alloc = nullptr;
  MemFreeFn mem_free = nullptr;
  RegisterFn comm_register = nullptr;      // ncclCommRegister, NCCL 2.19 (-R 1)
  DeregisterFn comm_deregister = nullptr;
  WindowRegisterFn window_register = nullptr;  // ncclCommWindowRegister, NCCL 2.27 (-R 2)
  WindowDeregisterFn window_deregister = nullptr;
};
OptionalEntryPoints resolve_optional(const SymbolResolver& resolve);

// Why `runtime_code` (ncclGetVersion's, major*10000+minor*100+patch) cannot honour `configuration`
// with these entry points, or nullopt. An older runtime copies only the ncclConfig_t prefix it knows
// (NCCL 2.28.9 src/init.cc: realSize is capped at its own sizeof, and fields newer than the caller's
// version are reset), so a field it lacks is silently ignored: the configuration would measure NCCL's
// default under another name.
std::optional<std::string> unsupported_by_runtime(const Configuration& configuration, int runtime_code,
                                                  const OptionalEntryPoints& entry_points);
// Why `runtime_code` with these entry points cannot honour `launch` (-R, -x), or nullopt. The runtime's
// ncclConfig_t would silently drop a CTAPolicy it lacks (2.27) or a policy it does not know (ZERO, 2.28),
// and an -R without its entry points would measure unregistered buffers under the option's name.
std::optional<std::string> launch_unsupported_by_runtime(const LaunchSettings& launch, int runtime_code,
                                                         const OptionalEntryPoints& entry_points);
// "2.27.7".
std::string version_text(int code);

// The calls a communicator's creation makes, injectable so that their order can be tested.
struct InitEntryPoints {
  std::function<ncclResult_t(ncclComm_t*, int, ncclUniqueId, int, ncclConfig_t*)> init_rank_config;
  std::function<ncclResult_t(ncclComm_t, ncclResult_t*)> get_async_error;
  std::function<void(ncclComm_t)> abort;
  std::function<void()> pause;  // between two polls of a non-blocking init
  std::function<double()> seconds;  // a steady clock, for the deadline
};
InitEntryPoints real_init_entry_points();

// Creates the communicator with `configuration`'s settings. NCCL reads NCCL_ALGO and NCCL_PROTO while
// it tunes the new communicator, which a non-blocking init does on its own thread after
// ncclCommInitRankConfig returned; and NCCL_COMM_BLOCKING overrides config.blocking (NCCL 2.28.9
// src/init.cc, envConfigOverride). So the forcing variables stay set, and NCCL_COMM_BLOCKING is set to
// 1, until the init has completed: blocking is asked for both ways, and should NCCL still answer
// ncclInProgress its asynchronous error is polled until it is not. The environment is put back
// afterwards. timeout_seconds > 0: an init still in progress then is aborted and throws.
ncclComm_t create_communicator(const InitEntryPoints& nccl, int nranks, const ncclUniqueId& id, int rank,
                               ncclConfig_t config, const Configuration& configuration, double timeout_seconds);

// What decides whether NCCL enables LL128 by default (NCCL 2.28.9 src/graph/tuning.cc, the protoEnable
// loop), as far as a process can know it before any communicator exists.
struct Ll128Facts {
  std::vector<int> compute_capability;  // per rank, 10 * major + minor
  int nnodes = 1;
  int min_gpus_per_node = 1;  // the fewest distinct GPUs the ranks use on any one node
  // Every two GPUs that ranks on one node use are joined by NVLink (CUDA: native peer atomics, which
  // PCIe peer access lacks). True with one GPU per node.
  bool nvlink_within_nodes = true;
  bool peer_hidden = false;  // some rank cannot see a GPU of its node (CUDA_VISIBLE_DEVICES per task)
  bool ll128_c2c = true;  // NCCL_LL128_C2C (default 1)
};
// nullopt where NCCL would enable LL128 by default, else why not (one clause). Where we cannot tell
// (the NIC's path across nodes), LL128 is left out: forcing it skips NCCL's safety check.
std::optional<std::string> ll128_unavailable(const Ll128Facts& facts);

}  // namespace cctune::nccl
