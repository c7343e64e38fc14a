// The nccl backend's decisions that need no GPU: the order of a communicator's creation against fake
// NCCL entry points, the fallbacks of an older runtime, and where LL128 may be forced.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "collectives/error.hpp"
#include "collectives/nccl/backend.hpp"
#include "collectives/nccl/runtime.hpp"

namespace cctune::nccl {
namespace {

std::string env_or_unset(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "<unset>";
}

// A non-blocking init, as NCCL_COMM_BLOCKING=0 makes one: ncclCommInitRankConfig returns
// ncclInProgress and NCCL tunes the communicator (reading NCCL_ALGO / NCCL_PROTO) later, here at the
// third poll of the asynchronous error.
struct FakeNccl {
  int polls_left = 3;
  std::string algo_at_tuning = "<never read>", proto_at_tuning = "<never read>";
  std::string blocking_env_at_init;
  int blocking_config_at_init = -7;
  int aborted = 0;
  ncclResult_t finish_with = ncclSuccess;
  ncclComm_t comm = reinterpret_cast<ncclComm_t>(0x1);

  InitEntryPoints entry_points() {
    InitEntryPoints nccl;
    nccl.init_rank_config = [this](ncclComm_t* out, int, ncclUniqueId, int, ncclConfig_t* config) {
      blocking_env_at_init = env_or_unset("NCCL_COMM_BLOCKING");
      blocking_config_at_init = config->blocking;
      *out = comm;
      return ncclInProgress;
    };
    nccl.get_async_error = [this](ncclComm_t, ncclResult_t* state) {
      if (--polls_left > 0) {
        *state = ncclInProgress;
        return ncclSuccess;
      }
      algo_at_tuning = env_or_unset("NCCL_ALGO");
      proto_at_tuning = env_or_unset("NCCL_PROTO");
      *state = finish_with;
      return ncclSuccess;
    };
    nccl.abort = [this](ncclComm_t) { ++aborted; };
    nccl.pause = [] {};
    nccl.seconds = [] { return 0.0; };
    return nccl;
  }
};

Configuration forced(const char* algo, const char* proto) {
  Configuration configuration;
  configuration.algo = algo;
  configuration.proto = proto;
  return configuration;
}

TEST(NcclInit, ForcingStaysInPlaceUntilANonBlockingInitHasCompleted) {
  setenv("NCCL_COMM_BLOCKING", "0", 1);
  setenv("NCCL_ALGO", "Tree", 1);  // the user's own, put back afterwards
  unsetenv("NCCL_PROTO");
  FakeNccl fake;
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  const ncclComm_t comm =
      create_communicator(fake.entry_points(), 2, ncclUniqueId{}, 0, config, forced("Ring", "LL128"), 0);
  EXPECT_EQ(comm, fake.comm);
  EXPECT_EQ(fake.polls_left, 0);
  EXPECT_EQ(fake.algo_at_tuning, "Ring");
  EXPECT_EQ(fake.proto_at_tuning, "LL128");
  // Blocking asked for both ways: NCCL_COMM_BLOCKING overrides the config (init.cc).
  EXPECT_EQ(fake.blocking_env_at_init, "1");
  EXPECT_EQ(fake.blocking_config_at_init, 1);
  EXPECT_EQ(env_or_unset("NCCL_COMM_BLOCKING"), "0");
  EXPECT_EQ(env_or_unset("NCCL_ALGO"), "Tree");
  EXPECT_EQ(env_or_unset("NCCL_PROTO"), "<unset>");
  unsetenv("NCCL_COMM_BLOCKING");
  unsetenv("NCCL_ALGO");
}

TEST(NcclInit, AnInitThatFailsWhileCompletingIsAbortedAndThrows) {
  FakeNccl fake;
  fake.finish_with = ncclSystemError;
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  EXPECT_THROW(create_communicator(fake.entry_points(), 2, ncclUniqueId{}, 0, config, forced(nullptr, nullptr), 0),
               Error);
  EXPECT_EQ(fake.aborted, 1);
  EXPECT_EQ(env_or_unset("NCCL_COMM_BLOCKING"), "<unset>");
}

TEST(NcclInit, AnInitStillInProgressAtTheTimeoutIsAborted) {
  FakeNccl fake;
  fake.polls_left = 1000000;
  InitEntryPoints nccl = fake.entry_points();
  double now = 0;
  nccl.seconds = [&] { return now += 1.0; };  // a clock that moves a second per look
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  EXPECT_THROW(create_communicator(nccl, 2, ncclUniqueId{}, 0, config, forced(nullptr, nullptr), 5), Error);
  EXPECT_EQ(fake.aborted, 1);
}

TEST(NcclRuntime, WithoutNcclAlltoAllTheLibraryPathFallsBackAndNetPeerChannelsAreRefused) {
  const OptionalEntryPoints none = resolve_optional([](const char*) -> void* { return nullptr; });
  EXPECT_EQ(none.alltoall, nullptr);
  const OptionalEntryPoints real = resolve_optional(default_resolver);
  EXPECT_NE(real.alltoall, nullptr) << "the NCCL this test loaded is " << loaded_version();

  // NCCL's own alltoall stays measurable (as grouped send/receive); more net channels per peer do
  // not on 2.27, whose ncclConfig_t has no such field.
  const Configuration& library = find_configuration(Collective::alltoall, "nccl");
  EXPECT_EQ(unsupported_by_runtime(library, NCCL_VERSION(2, 27, 7), none), std::nullopt);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0)
  const Configuration& net_peer = find_configuration(Collective::alltoall, "nccl_net_peer_2ch");
  const auto why = unsupported_by_runtime(net_peer, NCCL_VERSION(2, 27, 7), none);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "the NCCL runtime 2.27.7 ignores ncclConfig_t::nChannelsPerNetPeer (NCCL 2.28 added it)");
  EXPECT_EQ(why->find('\n'), std::string::npos);
  EXPECT_EQ(unsupported_by_runtime(net_peer, NCCL_VERSION(2, 28, 9), real), std::nullopt);
#endif
}

TEST(NcclRuntime, LaunchOptionsTheRuntimeWouldIgnoreAreRefusedNamingTheVersionThatAddedThem) {
  const OptionalEntryPoints none = resolve_optional([](const char*) -> void* { return nullptr; });
  EXPECT_EQ(none.mem_alloc, nullptr);
  EXPECT_EQ(none.window_register, nullptr);
  const OptionalEntryPoints real = resolve_optional(default_resolver);
  ASSERT_NE(real.mem_alloc, nullptr) << "the NCCL this test loaded is " << loaded_version();
  EXPECT_NE(real.mem_free, nullptr);
  EXPECT_NE(real.comm_register, nullptr);
  EXPECT_NE(real.comm_deregister, nullptr);
  EXPECT_NE(real.window_register, nullptr);
  EXPECT_NE(real.window_deregister, nullptr);
  // Only one of a pair is no allocator: memory must be freed the way it was allocated.
  const OptionalEntryPoints half = resolve_optional([](const char* name) -> void* {
    return std::string(name) == "ncclMemAlloc" ? default_resolver(name) : nullptr;
  });
  EXPECT_EQ(half.mem_alloc, nullptr);

  const auto why = [](LaunchSettings launch, int code, const OptionalEntryPoints& entry_points) {
    return launch_unsupported_by_runtime(launch, code, entry_points).value_or("");
  };
  LaunchSettings launch;
  EXPECT_EQ(why(launch, NCCL_VERSION(2, 18, 1), none), "");  // nothing asked, nothing refused
  launch.cta_policy = 1;
  EXPECT_EQ(why(launch, NCCL_VERSION(2, 26, 2), real),
            "-x 1: the NCCL runtime 2.26.2 ignores ncclConfig_t::CTAPolicy (NCCL 2.27 added it)");
  EXPECT_EQ(why(launch, NCCL_VERSION(2, 27, 7), real), "");
  launch.cta_policy = 2;
  EXPECT_EQ(why(launch, NCCL_VERSION(2, 27, 7), real),
            "-x 2: the NCCL runtime 2.27.7 does not know that CTA policy (NCCL 2.28 added NCCL_CTA_POLICY_ZERO)");
  EXPECT_EQ(why(launch, NCCL_VERSION(2, 28, 9), real), "");
  launch = {};
  launch.registration = Registration::local;
  EXPECT_EQ(why(launch, NCCL_VERSION(2, 28, 9), real), "");
  EXPECT_NE(why(launch, NCCL_VERSION(2, 18, 1), none).find("-R 1: the NCCL runtime 2.18.1 lacks ncclCommRegister"),
            std::string::npos);
  launch.registration = Registration::symmetric;
  EXPECT_EQ(why(launch, NCCL_VERSION(2, 28, 9), real), "");
  OptionalEntryPoints no_windows = real;
  no_windows.window_register = nullptr;
  EXPECT_EQ(why(launch, NCCL_VERSION(2, 26, 2), no_windows),
            "-R 2: the NCCL runtime 2.26.2 lacks ncclCommWindowRegister (NCCL 2.27 added symmetric registration)");
}

// What the fake NCCL entry points below were asked, in order.
std::vector<std::string> nccl_calls;
std::vector<std::vector<char>> fake_memory;

std::string name_of(const void* p) {
  for (std::size_t i = 0; i < fake_memory.size(); ++i) {
    if (fake_memory[i].data() == p) return "buffer" + std::to_string(i);
  }
  return "?";
}
ncclResult_t fake_alloc(void** p, size_t bytes) {
  fake_memory.emplace_back(bytes);
  *p = fake_memory.back().data();
  nccl_calls.push_back("alloc " + std::to_string(bytes));
  return ncclSuccess;
}
ncclResult_t fake_free(void* p) {
  nccl_calls.push_back("free " + name_of(p));
  return ncclSuccess;
}
ncclResult_t fake_register(ncclComm_t comm, void* p, size_t bytes, void** handle) {
  nccl_calls.push_back("register comm" + std::to_string(reinterpret_cast<std::uintptr_t>(comm)) + " " + name_of(p) +
                       " " + std::to_string(bytes));
  *handle = p;
  return ncclSuccess;
}
ncclResult_t fake_deregister(ncclComm_t comm, void* handle) {
  nccl_calls.push_back("deregister comm" + std::to_string(reinterpret_cast<std::uintptr_t>(comm)) + " " +
                       name_of(handle));
  return ncclSuccess;
}
ncclResult_t fake_window_register(ncclComm_t comm, void* p, size_t bytes, void** window, int flags) {
  nccl_calls.push_back("window comm" + std::to_string(reinterpret_cast<std::uintptr_t>(comm)) + " " + name_of(p) +
                       " " + std::to_string(bytes) + " flags " + std::to_string(flags));
  *window = p;
  return ncclSuccess;
}
ncclResult_t fake_window_deregister(ncclComm_t comm, void* window) {
  nccl_calls.push_back("unwindow comm" + std::to_string(reinterpret_cast<std::uintptr_t>(comm)) + " " +
                       name_of(window));
  return ncclSuccess;
}

OptionalEntryPoints fake_entry_points() {
  nccl_calls.clear();
  fake_memory.clear();
  fake_memory.reserve(16);  // the buffers must not move
  OptionalEntryPoints nccl;
  nccl.mem_alloc = fake_alloc;
  nccl.mem_free = fake_free;
  nccl.comm_register = fake_register;
  nccl.comm_deregister = fake_deregister;
  nccl.window_register = fake_window_register;
  nccl.window_deregister = fake_window_deregister;
  return nccl;
}

ncclComm_t fake_comm(std::uintptr_t n) { return reinterpret_cast<ncclComm_t>(n); }

TEST(NcclRegistration, EachAllocationIsRegisteredOncePerCommunicatorAndReleasedByWhicheverGoesFirst) {
  const OptionalEntryPoints nccl = fake_entry_points();
  RegistrationTable table(nccl, Registration::local);
  void* a = table.allocate(4096);
  void* b = table.allocate(0);  // still an allocation of its own
  EXPECT_NE(a, b);
  table.register_with(fake_comm(1), static_cast<std::byte*>(a) + 1000);  // inside: the whole allocation
  table.register_with(fake_comm(1), a);                                  // already registered
  table.register_with(fake_comm(2), a);
  table.register_with(fake_comm(1), b);
  EXPECT_THROW(table.register_with(fake_comm(1), static_cast<std::byte*>(a) + 4096), Error);  // past its end
  table.release(fake_comm(1), true);   // the communicator goes first: its two
  table.release(fake_comm(9), true);   // nothing registered: nothing called
  table.free(a);                  // the memory goes first: comm 2's, then the memory
  table.register_with(fake_comm(3), b);
  table.release(fake_comm(3), false);  // aborted: its registrations went with it
  table.free(b);
  EXPECT_EQ(nccl_calls, (std::vector<std::string>{
                            "alloc 4096", "alloc 1", "register comm1 buffer0 4096", "register comm2 buffer0 4096",
                            "register comm1 buffer1 1", "deregister comm1 buffer0", "deregister comm1 buffer1",
                            "deregister comm2 buffer0", "free buffer0", "register comm3 buffer1 1", "free buffer1"}));
}

TEST(NcclRegistration, SymmetricIsAWindowAndWithoutRegistrationNothingIsAsked) {
  const OptionalEntryPoints nccl = fake_entry_points();
  {
    RegistrationTable table(nccl, Registration::symmetric);
    void* a = table.allocate(64);
    table.register_with(fake_comm(4), a);
    table.free(a);
  }
  {
    RegistrationTable plain(nccl, Registration::none);
    void* a = plain.allocate(64);
    plain.register_with(fake_comm(4), a);
    plain.free(a);
  }
  EXPECT_EQ(nccl_calls, (std::vector<std::string>{"alloc 64", "window comm4 buffer0 64 flags 1", "unwindow comm4 buffer0",
                                                  "free buffer0", "alloc 64", "free buffer1"}));
}

Ll128Facts hopper_node(int ranks) {
  Ll128Facts facts;
  facts.compute_capability.assign(static_cast<std::size_t>(ranks), 90);
  facts.min_gpus_per_node = ranks;
  return facts;
}

TEST(NcclLl128, OfferedOnlyWhereNcclWouldEnableItItself) {
  EXPECT_EQ(ll128_unavailable(hopper_node(8)), std::nullopt);  // HGX H100: NVLink, one compute capability

  Ll128Facts pcie = hopper_node(4);
  pcie.nvlink_within_nodes = false;
  EXPECT_EQ(ll128_unavailable(pcie), "the GPUs of a node are not all joined by NVLink");
  Ll128Facts per_task = pcie;  // --gpus-per-task=1: NVLink cannot be asked about, and is not assumed
  per_task.peer_hidden = true;
  ASSERT_TRUE(ll128_unavailable(per_task).has_value());
  EXPECT_NE(ll128_unavailable(per_task)->find("CUDA_VISIBLE_DEVICES"), std::string::npos);

  Ll128Facts mixed = hopper_node(2);
  mixed.compute_capability = {80, 90};
  EXPECT_EQ(ll128_unavailable(mixed), "the ranks' GPUs differ (sm_80 to sm_90)");

  Ll128Facts volta_before = hopper_node(2);
  volta_before.compute_capability = {61, 61};
  EXPECT_TRUE(ll128_unavailable(volta_before).has_value());

  Ll128Facts cluster = hopper_node(16);
  cluster.nnodes = 2;
  cluster.min_gpus_per_node = 8;
  EXPECT_EQ(ll128_unavailable(cluster), std::nullopt);
  cluster.ll128_c2c = false;  // then NCCL needs the NIC within PXB, which we cannot see
  EXPECT_TRUE(ll128_unavailable(cluster).has_value());
  Ll128Facts ampere_cluster = cluster;
  ampere_cluster.ll128_c2c = true;
  ampere_cluster.compute_capability.assign(16, 80);
  EXPECT_TRUE(ll128_unavailable(ampere_cluster).has_value());
  Ll128Facts one_gpu_nodes = hopper_node(2);
  one_gpu_nodes.nnodes = 2;
  one_gpu_nodes.min_gpus_per_node = 1;
  EXPECT_TRUE(ll128_unavailable(one_gpu_nodes).has_value());

  // Only LL128 configurations are refused, in one line.
  const auto why = std::optional<std::string>("the GPUs of a node are not all joined by NVLink");
  const OptionalEntryPoints real = resolve_optional(default_resolver);
  const int runtime = NCCL_VERSION(2, 28, 9);
  const auto refused = why_unavailable(find_configuration(Collective::allreduce, "ring_ll128_8ch"), runtime, real, why);
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->find("LL128"), std::string::npos);
  EXPECT_EQ(refused->find('\n'), std::string::npos);
  EXPECT_EQ(why_unavailable(find_configuration(Collective::allreduce, "ring_ll"), runtime, real, why), std::nullopt);
  EXPECT_EQ(why_unavailable(find_configuration(Collective::allreduce, "nccl"), runtime, real, why), std::nullopt);
  EXPECT_EQ(why_unavailable(find_configuration(Collective::allreduce, "tree_ll128"), runtime, real, std::nullopt),
            std::nullopt);
}

}  // namespace
}  // namespace cctune::nccl
