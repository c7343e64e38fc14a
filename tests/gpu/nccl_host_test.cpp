// The nccl backend's decisions that need no GPU: the order of a communicator's creation against fake
// NCCL entry points, the fallbacks of an older runtime, and where LL128 may be forced.
#include <gtest/gtest.h>

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
