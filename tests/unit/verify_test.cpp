// The decisions of tune and verify that do not need ranks: range merging and the noise rule.
#include <gtest/gtest.h>

#include "collectives/error.hpp"
#include "tuner/tune.hpp"
#include "tuner/verify.hpp"

namespace cctune::tuner {
namespace {

SizeDecision decided(std::size_t winner, std::size_t runner_up) {
  SizeDecision d;
  d.winner = winner;
  d.runner_up = runner_up;
  d.winner_median_us = 1;
  d.runner_up_median_us = 2;
  d.median_us = {3, 2, 1};
  d.dropped = {false, false, false};
  return d;
}

TEST(MergeIntoRules, NeighbouringSizesWithOneWinnerBecomeOneRangeFromZeroToOpen) {
  CollectiveReport report;
  report.collective = Collective::allreduce;
  report.space = {{"mpi", "mpi", Choice{"ompi:0"}}, {"mpi", "ompi:1", Choice{"ompi:1"}}, {"mpi", "ompi:6", Choice{"ompi:6"}}};
  report.bytes = {8, 16, 32, 64, 128};
  for (std::size_t w : {1, 1, 0, 2, 2}) report.chosen.sizes.push_back(decided(w, w == 0 ? 1 : 0));
  const auto rules = merge_into_rules(report);
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].choice.algorithm, "ompi:1");
  EXPECT_EQ(rules[0].backend, "mpi");
  EXPECT_EQ(rules[0].min_bytes, 0u);
  EXPECT_EQ(rules[0].max_bytes, 31u);
  EXPECT_EQ(rules[1].choice.algorithm, "ompi:0");
  EXPECT_EQ(rules[1].min_bytes, 32u);
  EXPECT_EQ(rules[1].max_bytes, 63u);
  EXPECT_EQ(rules[2].min_bytes, 64u);
  EXPECT_EQ(rules[2].max_bytes, UINT64_MAX);
  ASSERT_TRUE(rules[0].runner_up.has_value());
  EXPECT_EQ(rules[0].runner_up->algorithm, "ompi:0");
}

TEST(Verify, SpeedupRangeAndTheNoiseRule) {
  const VerifyRow faster = judge({10, 11, 12, 13}, {5, 5.5, 6, 6.5}, {11, 12}, {5.5, 6});
  EXPECT_NEAR(faster.speedup, 11.5 / 5.75, 1e-9);
  EXPECT_NEAR(faster.speedup_low, 2.0, 1e-9);
  EXPECT_FALSE(faster.slower);
  // Tuned lost one round of three: drift, not a verdict.
  const VerifyRow mixed = judge({10, 11, 12, 13}, {11, 12, 13, 14}, {10, 12, 11}, {12, 11, 12});
  EXPECT_LT(mixed.speedup, 1.0);
  EXPECT_FALSE(mixed.slower);
  // Lost every round, but by 2% only: below the practical threshold.
  const VerifyRow slight = judge({100, 100}, {102, 102}, {100, 100, 100}, {102, 102, 102});
  EXPECT_FALSE(slight.slower);
  const VerifyRow slower = judge({10, 10, 11, 11}, {20, 21, 22, 23}, {10, 11, 10}, {21, 22, 20});
  EXPECT_TRUE(slower.slower);
  EXPECT_FALSE(slower.confirmed());
}

TEST(Verify, ConfirmationKeepsWhatIsFasterPooledAndInMostRounds) {
  EXPECT_TRUE(judge({10, 11, 12, 13}, {5, 5.5, 6, 6.5}, {11, 12}, {5.5, 6}).confirmed());
  // One preempted round of three does not undo a clear gain.
  const VerifyRow preempted = judge({10, 10, 10, 10, 10, 10}, {8, 8, 8, 8, 8, 30}, {10, 10, 10}, {8, 8, 30});
  EXPECT_EQ(preempted.rounds_won, 2);
  EXPECT_TRUE(preempted.confirmed());
  // Faster in one round of three only: not confirmed, even when the pooled median says faster.
  const VerifyRow lucky = judge({10, 10, 10}, {9, 9, 9}, {10, 10, 10}, {9, 11, 11});
  EXPECT_FALSE(lucky.confirmed());
  // Most rounds but slower pooled: not confirmed.
  EXPECT_FALSE(judge({10, 10, 10}, {11, 11, 11}, {10, 10, 10}, {9, 9, 30}).confirmed());
  // Faster everywhere, but by 2%: below the margin, not worth the risk of the next launch.
  EXPECT_FALSE(judge({10, 10, 10}, {9.8, 9.8, 9.8}, {10, 10, 10}, {9.8, 9.8, 9.8}).confirmed());
}

TEST(MergeIntoRules, CandidatesOfTwoBackendsKeepTheirBackendAndSettings) {
  CollectiveReport report;
  report.collective = Collective::allreduce;
  Choice capped{"ring", "ll128", 8};
  Choice nccls_own{"any", "any"};
  report.space = {{"nccl", "nccl", nccls_own}, {"nccl", "ring_ll128_8ch", capped}, {"cuda", "one_shot", Choice{"one_shot"}}};
  report.bytes = {8, 16, 32};
  for (std::size_t w : {2, 1, 1}) report.chosen.sizes.push_back(decided(w, 0));
  const auto rules = merge_into_rules(report);
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].backend, "cuda");
  EXPECT_EQ(rules[1].backend, "nccl");
  EXPECT_EQ(rules[1].choice, capped);
  EXPECT_EQ(rules[1].min_bytes, 16u);
  ASSERT_TRUE(rules[1].runner_up.has_value());
  EXPECT_EQ(*rules[1].runner_up, nccls_own);
}

TEST(Verify, TunedChoiceIsTheCoveringRuleOrTheLibrarysOwn) {
  const auto space = search_space("mpi", Collective::allreduce);
  Profile profile;
  Rule rule;
  rule.collective = "allreduce";
  rule.backend = "mpi";
  rule.min_bytes = 100;
  rule.max_bytes = 199;
  rule.choice.algorithm = "ompi:3";
  profile.rules = {rule};
  EXPECT_EQ(tuned_candidate(space, profile, Collective::allreduce, 150).algorithm, "ompi:3");
  EXPECT_EQ(tuned_candidate(space, profile, Collective::allreduce, 200).algorithm, "mpi");
  EXPECT_EQ(label(tuned_candidate(space, profile, Collective::allreduce, 200)), "ompi:0");
  EXPECT_EQ(tuned_candidate(search_space("mpi", Collective::alltoall), profile, Collective::alltoall, 150).algorithm, "mpi");
  EXPECT_NO_THROW(check_runnable(profile, {Collective::allreduce, Collective::alltoall}));
  // A rule no candidate of this build matches is refused up front, naming it.
  profile.rules[0].choice.algorithm = "ring_of_my_own";
  try {
    check_runnable(profile, {Collective::allreduce});
    FAIL() << "an unknown choice was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("ring_of_my_own"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cctune::tuner
