// What each backend's search space holds, and that every candidate survives the trip through a profile
// rule and back: tune writes the rule, verify (and the plugin) read it.
#include <gtest/gtest.h>

#include <set>

#include "collectives/backends.hpp"
#include "collectives/error.hpp"
#include "tuner/profile.hpp"
#include "tuner/search_space.hpp"
#if CCTUNE_HAVE_NCCL
#include "collectives/nccl/configurations.hpp"
#include "tuner/nccl_plugin/rule_table.hpp"
#endif

namespace cctune::tuner {
namespace {

bool built(std::string_view backend) {
  for (const auto& entry : backend_registry()) {
    if (entry.name == backend) return true;
  }
  return false;
}

// The rule tune would write for a candidate, read back from the profile's JSON.
Rule round_trip(const Candidate& candidate, Collective collective) {
  Profile profile;
  profile.shape.nranks = 4;
  profile.shape.nnodes = 1;
  Rule rule;
  rule.collective = std::string(to_string(collective));
  rule.backend = candidate.backend;
  rule.max_bytes = UINT64_MAX;
  rule.choice = candidate.choice;
  profile.rules = {rule};
  return parse_profile(profile_to_json(profile), "round trip").rules.at(0);
}

void expect_every_candidate_found_again(const std::vector<Candidate>& space, Collective collective) {
  std::set<std::string> labels;
  for (const Candidate& candidate : space) {
    EXPECT_TRUE(labels.insert(label(candidate)).second) << "two candidates labelled " << label(candidate);
    const Rule rule = round_trip(candidate, collective);
    const Candidate* found = find_candidate(space, rule);
    ASSERT_NE(found, nullptr) << label(candidate);
    EXPECT_EQ(found, &candidate) << label(candidate) << " is read back as " << label(*found);
  }
}

TEST(SearchSpace, MpiStartsWithOpenMpisOwnDecisionThenItsAlgorithmsThenOurs) {
  for (Collective collective : {Collective::allreduce, Collective::alltoall}) {
    const auto space = search_space("mpi", collective);
    ASSERT_GE(space.size(), 3u);
    EXPECT_EQ(space[0].algorithm, "mpi");
    EXPECT_EQ(label(space[0]), "ompi:0");
    bool ours_seen = false;
    for (const Candidate& candidate : space) {
      EXPECT_EQ(candidate.backend, "mpi");
      const bool library = runs_in_mpi_library(candidate.algorithm);
      EXPECT_FALSE(library && ours_seen) << candidate.algorithm << " after one of ours";
      ours_seen |= !library;
    }
    EXPECT_TRUE(ours_seen);
    expect_every_candidate_found_again(space, collective);
    for (const Candidate& candidate : search_space("mpi", collective, true)) {
      EXPECT_TRUE(runs_in_mpi_library(candidate.algorithm)) << candidate.algorithm << " with library_only";
    }
  }
}

TEST(SearchSpace, AGpuBackendThisBinaryLacksIsOneClearError) {
  for (const char* backend : {"nccl", "cuda"}) {
    if (built(backend)) continue;
    EXPECT_THROW(search_space(backend, Collective::allreduce), UsageError);
  }
  EXPECT_THROW(search_space("gloo", Collective::allreduce), UsageError);
}

#if CCTUNE_HAVE_NCCL
TEST(SearchSpace, NcclAllreduceIsTheCrossProductTheTunerPluginCanForce) {
  const auto space = search_space("nccl", Collective::allreduce);
  ASSERT_FALSE(space.empty());
  EXPECT_EQ(space[0].algorithm, "nccl");
  EXPECT_EQ(space[0].choice.algorithm, "any");
  EXPECT_EQ(space[0].choice.protocol, "any");
  EXPECT_EQ(space[0].choice.channels, 0);
  std::set<std::string> algorithms, protocols;
  std::set<int> caps;
  for (const Candidate& candidate : space) {
    EXPECT_EQ(candidate.backend, "nccl");
    const auto& configuration = nccl::find_configuration(Collective::allreduce, candidate.algorithm);
    EXPECT_EQ(candidate.choice.channels, configuration.max_channels);
    // What the plugin will force is what bench measured: the same algorithm and protocol as NCCL_ALGO
    // / NCCL_PROTO spelled them (-1 where NCCL chose).
    EXPECT_EQ(nccl_algorithm_index(candidate.choice.algorithm) == -1, configuration.algo == nullptr) << candidate.algorithm;
    EXPECT_GE(nccl_algorithm_index(candidate.choice.algorithm), -1) << candidate.algorithm;
    EXPECT_GE(nccl_protocol_index(candidate.choice.protocol), -1) << candidate.algorithm;
    algorithms.insert(candidate.choice.algorithm);
    protocols.insert(candidate.choice.protocol);
    caps.insert(candidate.choice.channels);
  }
  EXPECT_EQ(algorithms, (std::set<std::string>{"any", "ring", "tree"}));
  EXPECT_EQ(protocols, (std::set<std::string>{"any", "ll", "ll128", "simple"}));
  EXPECT_GE(caps.size(), 2u);
  EXPECT_EQ(space.size(), 7 * caps.size());  // NCCL's choice and 6 forced pairs, each at every cap
  expect_every_candidate_found_again(space, Collective::allreduce);
}

TEST(SearchSpace, NcclAlltoallHoldsOnlyWhatAJobImportsThroughItsEnvironment) {
  const auto space = search_space("nccl", Collective::alltoall);
  ASSERT_GE(space.size(), 2u);
  EXPECT_EQ(space[0].algorithm, "nccl");
  for (const Candidate& candidate : space) {
    const auto& configuration = nccl::find_configuration(Collective::alltoall, candidate.algorithm);
    EXPECT_EQ(configuration.path, nccl::Path::library) << candidate.algorithm;
    EXPECT_EQ(configuration.max_channels, 0) << candidate.algorithm;
    EXPECT_EQ(candidate.choice.channels_per_net_peer, configuration.channels_per_net_peer);
  }
  EXPECT_GT(space.back().choice.channels_per_net_peer, 0);
  expect_every_candidate_found_again(space, Collective::alltoall);
}

TEST(SearchSpace, CudaKernelsAreJudgedAgainstNcclsOwnChoice) {
  for (Collective collective : {Collective::allreduce, Collective::alltoall}) {
    const auto space = search_space("cuda", collective);
    ASSERT_GE(space.size(), 2u);
    EXPECT_EQ(space[0].backend, "nccl");
    EXPECT_EQ(space[0].algorithm, "nccl");
    for (std::size_t c = 1; c < space.size(); ++c) EXPECT_EQ(space[c].backend, "cuda");
    expect_every_candidate_found_again(space, collective);
  }
}
#endif

}  // namespace
}  // namespace cctune::tuner
