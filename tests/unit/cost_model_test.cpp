// The cost model's schedules counted by hand for small shapes, its fit recovering known parameters,
// and `plan` from the speed of light alone.
#include <gtest/gtest.h>

#include <filesystem>

#include "collectives/error.hpp"
#include "topology/sources.hpp"
#include "tuner/cost_model.hpp"
#include "tuner/plan.hpp"

namespace cctune::tuner {
namespace {

TEST(CostModel, RingAcrossTwoNodesIsAllNetworkSteps) {
  const ScheduleCost s = schedule_cost(Collective::allreduce, "ring", {2, 2});
  EXPECT_EQ(s.steps, 6);                        // 2(n-1)
  EXPECT_DOUBLE_EQ(s.inter_messages, 6);
  EXPECT_DOUBLE_EQ(s.inter_bytes, 6 * 0.25);    // one ring edge leaves each node per step, S/4 each
  EXPECT_EQ(s.intra_messages, 0);
  const ScheduleCost one = schedule_cost(Collective::allreduce, "ring", {1, 4});
  EXPECT_DOUBLE_EQ(one.intra_bytes, 6 * 4 * 0.25);  // all four ranks' S/4 through the node's memory
}

TEST(CostModel, RecursiveDoublingKeepsTheFirstBitInsideANodeAndFoldsNonPowersOfTwo) {
  const ScheduleCost s = schedule_cost(Collective::allreduce, "recursive_doubling", {2, 2});
  EXPECT_DOUBLE_EQ(s.intra_messages, 1);   // partner one bit apart: the same node
  EXPECT_DOUBLE_EQ(s.intra_bytes, 2.0);    // both ranks' S through the node's memory
  EXPECT_DOUBLE_EQ(s.inter_messages, 1);
  EXPECT_DOUBLE_EQ(s.inter_bytes, 2.0);    // both ranks' S leave the node
  // 3 ranks on 3 nodes: 0 folds into 1, then 1 and 2 exchange, then 1 hands 0 the result.
  const ScheduleCost odd = schedule_cost(Collective::allreduce, "recursive_doubling", {3, 1});
  EXPECT_EQ(odd.steps, 3);
  EXPECT_DOUBLE_EQ(odd.inter_bytes, 3.0);
}

TEST(CostModel, RabenseifnerHalvesThenDoublesBack) {
  const ScheduleCost s = schedule_cost(Collective::allreduce, "rabenseifner", {4, 1});
  EXPECT_EQ(s.steps, 4);
  EXPECT_DOUBLE_EQ(s.inter_bytes, 2 * (0.5 + 0.25));
}

TEST(CostModel, RanksWithLighterStepsRunAheadInsteadOfWaitingForTheBusiestNode) {
  // 12 ranks on 6 nodes fold to 8: ranks 1, 3, 5, 7 take part alone on nodes 1-4, ranks 8-11 two to a
  // node on nodes 5 and 6. Halving: (1) nodes 1-4 exchange S/2 with a neighbour while nodes 5 and 6
  // stay inside; (2) nodes 5 and 6 exchange 2 x S/4, having started at once, nodes 1-4 S/4;
  // (3) each of nodes 1-4 S/8 with node 5 or 6, whose NIC carries two of them. Then the same back.
  // The last rank's path: S/2 + S/4 + S/4 (shared) each way. Every step at its busiest node would be
  // S/2 + S/2 + S/4 each way.
  const ScheduleCost s = schedule_cost(Collective::allreduce, "rabenseifner", {6, 2});
  EXPECT_DOUBLE_EQ(s.inter_bytes, 2 * (0.5 + 0.25 + 0.25));
  EXPECT_DOUBLE_EQ(s.inter_shared_bytes, 2 * 0.25);
  EXPECT_DOUBLE_EQ(s.intra_bytes, 2.0);  // the fold in and out, inside nodes 1-4
  EXPECT_EQ(s.steps, 8);
  // On 4 nodes every rank's steps are alike: the path is every step's busiest NIC.
  const ScheduleCost even = schedule_cost(Collective::allreduce, "rabenseifner", {4, 2});
  EXPECT_DOUBLE_EQ(even.inter_bytes, 2 * (0.5 + 0.25));
}

TEST(CostModel, AlltoallSchedules) {
  const ScheduleCost pairwise = schedule_cost(Collective::alltoall, "pairwise", {2, 2});
  EXPECT_EQ(pairwise.steps, 3);
  // Step 1: ranks 1 and 3 send off their node, step 2: all four, step 3: ranks 0 and 2.
  EXPECT_DOUBLE_EQ(pairwise.inter_bytes, 0.25 + 0.5 + 0.25);
  // Only step 2 puts two messages on one NIC direction.
  EXPECT_DOUBLE_EQ(pairwise.inter_shared_bytes, 0.5);
  const ScheduleCost bruck = schedule_cost(Collective::alltoall, "bruck", {4, 1});
  EXPECT_EQ(bruck.steps, 2);
  EXPECT_DOUBLE_EQ(bruck.inter_bytes, 0.5 + 0.5);  // blocks 1,3 then 2,3
  const ScheduleCost linear = schedule_cost(Collective::alltoall, "linear", {3, 1});
  EXPECT_DOUBLE_EQ(linear.inter_messages, 2);
  EXPECT_DOUBLE_EQ(linear.inter_bytes, 2.0 / 3);
  EXPECT_THROW(schedule_cost(Collective::alltoall, "mpi", {2, 1}), Error);
}

TEST(CostModel, FitRecoversTheParametersThatMadeTheTimes) {
  const CostParams truth{{3.0, 1e-4}, {40.0, 8e-2}};
  std::vector<Observation> observations;
  // A run on one node pins the intra-node costs: on 2 and 3 nodes alone the two latencies grow alike.
  for (PlanShape shape : {PlanShape{1, 2}, PlanShape{2, 2}, PlanShape{3, 2}}) {
    const ScheduleCost s = schedule_cost(Collective::allreduce, "recursive_doubling", shape);
    for (double bytes : {1024.0, 65536.0, 1048576.0}) observations.push_back({shape, bytes, truth.predict_us(s, bytes)});
  }
  const Fit fitted = fit(Collective::allreduce, "recursive_doubling", observations);
  EXPECT_NEAR(fitted.params.inter.alpha_us, 40.0, 1e-6);
  EXPECT_NEAR(fitted.params.inter.beta_us_per_b, 8e-2, 1e-9);
  EXPECT_NEAR(fitted.params.intra.beta_us_per_b, 1e-4, 1e-9);
  EXPECT_LT(fitted.worst_error_pct, 1e-6);
  // And what it predicts at 8 nodes is what the truth gives there.
  const ScheduleCost at8 = schedule_cost(Collective::allreduce, "recursive_doubling", {8, 2});
  EXPECT_NEAR(fitted.params.predict_us(at8, 1048576.0), truth.predict_us(at8, 1048576.0), 1e-6);
  EXPECT_THROW(fit(Collective::allreduce, "ring", {}), Error);
}

TEST(CostModel, WithTheIntraNodeCostsGivenOnlyTheNetworksAreFitted) {
  // Recursive doubling on 2 and 3 nodes alone: its intra- and inter-node steps grow alike, so the
  // intra-node costs come from elsewhere (plan: the memory bandwidth) and the rest is fitted.
  const CostParams truth{{0.0, 1e-4}, {40.0, 2e-2, 6e-2}};
  std::vector<Observation> observations;
  for (PlanShape shape : {PlanShape{2, 2}, PlanShape{3, 2}}) {
    const ScheduleCost s = schedule_cost(Collective::allreduce, "recursive_doubling", shape);
    for (double bytes : {1024.0, 65536.0, 1048576.0}) observations.push_back({shape, bytes, truth.predict_us(s, bytes)});
  }
  const Fit fitted = fit(Collective::allreduce, "recursive_doubling", observations, truth.intra);
  EXPECT_DOUBLE_EQ(fitted.params.intra.beta_us_per_b, 1e-4);
  EXPECT_NEAR(fitted.params.inter.alpha_us, 40.0, 1e-6);
  EXPECT_NEAR(fitted.params.inter.beta_us_per_b, 2e-2, 1e-9);
  EXPECT_NEAR(fitted.params.inter.kappa_us_per_b, 6e-2, 1e-9);
}

TEST(Plan, FromTheSpeedOfLightAloneNeverBeatsTheBound) {
  PlanInput input;
  input.shape = {1000, 8};
  input.collectives = {Collective::allreduce};
  input.sizes = {1 << 20, 1ull << 33};
  input.topology = topology::load_nccl_xml(std::string(CCTUNE_FIXTURES_DIR) + "/nccl-azure-ndv5-8xH100-8xIB.xml");
  input.sol_inputs.gpu_model = "H100-SXM5";
  input.sol_inputs.link_gbps = 400;
  const PlanResult result = plan(input);
  EXPECT_TRUE(result.from_speed_of_light_only);
  std::vector<std::string> names;
  for (const PlanRow& row : result.rows) {
    ASSERT_TRUE(row.sol_pct.has_value());
    EXPECT_LE(*row.sol_pct, 100.0 + 1e-9) << row.algorithm << " " << row.bytes;
    if (row.bytes == (1ull << 33)) names.push_back(row.algorithm + (row.best ? "*" : ""));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"ring", "tree", "nvls_tree*"}));
  PlanInput nothing;
  nothing.shape = {2, 1};
  nothing.collectives = {Collective::allreduce};
  nothing.sizes = {1024};
  EXPECT_THROW(plan(nothing), UsageError);
}

// A burst (a shaped link's token bucket, a switch buffer) carries the small calls at once: fitted
// freely, the network comes out faster than its line rate; with the NIC's rate as the floor, the
// per-byte cost stays at or above it and the larger calls are predicted at the rate they ran.
TEST(CostModel, TheNetworksCostPerByteIsNeverFittedBelowTheLinksRate) {
  const double line = 8e-2;  // us per byte: 12.5 MB/s
  const CostParams truth{{0.0, 1e-4}, {0.0, line, 3e-2}};
  std::vector<Observation> observations;
  for (PlanShape shape : {PlanShape{2, 2}, PlanShape{3, 2}}) {
    const ScheduleCost s = schedule_cost(Collective::alltoall, "bruck", shape);
    observations.push_back({shape, 65536.0, 0.5 * truth.predict_us(s, 65536.0)});  // through the burst
    for (double bytes : {262144.0, 1048576.0}) observations.push_back({shape, bytes, truth.predict_us(s, bytes)});
  }
  const Fit free = fit(Collective::alltoall, "bruck", observations, truth.intra);
  EXPECT_LT(free.params.inter.beta_us_per_b, line);
  const Fit floored = fit(Collective::alltoall, "bruck", observations, truth.intra, line);
  EXPECT_GE(floored.params.inter.beta_us_per_b, line);
  const ScheduleCost at8 = schedule_cost(Collective::alltoall, "bruck", {8, 2});
  const double truth8 = truth.predict_us(at8, 1048576.0);
  EXPECT_LT(std::abs(floored.params.predict_us(at8, 1048576.0) - truth8),
            std::abs(free.params.predict_us(at8, 1048576.0) - truth8));
}

// Predicted rules: the plan's best per size, neighbours of one choice merged, each keeping the sizes
// and times it was predicted at; an mpi profile takes them from runs, an nccl one from a topology.
TEST(Plan, BestPredictionsBecomeRulesMarkedPredictedForTheirShape) {
  PlanResult result;
  result.shape = {8, 2};
  auto row = [](Collective c, const char* algorithm, std::uint64_t bytes, double us, bool best) {
    PlanRow r;
    r.collective = c;
    r.algorithm = algorithm;
    r.bytes = bytes;
    r.predicted_us = us;
    r.best = best;
    return r;
  };
  result.rows = {row(Collective::allreduce, "recursive_doubling", 1024, 10, true),
                 row(Collective::allreduce, "ring", 1024, 30, false),
                 row(Collective::allreduce, "recursive_doubling", 4096, 20, true),
                 row(Collective::allreduce, "ring", 16384, 40, true),
                 row(Collective::alltoall, "bruck", 1024, 15, true)};
  const std::vector<Rule> rules = predicted_rules(result, "mpi");
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].choice.algorithm, "recursive_doubling");
  EXPECT_EQ(rules[0].min_bytes, 0u);
  EXPECT_EQ(rules[0].max_bytes, 16383u);
  EXPECT_EQ(rules[0].nranks, 16);
  EXPECT_EQ(rules[0].nnodes, 8);
  ASSERT_EQ(rules[0].predicted.size(), 2u);
  EXPECT_EQ(rules[0].predicted[1].bytes, 4096u);
  EXPECT_EQ(rules[0].predicted[1].us, 20);
  EXPECT_EQ(rules[1].choice.algorithm, "ring");
  EXPECT_EQ(rules[1].min_bytes, 16384u);
  EXPECT_EQ(rules[1].max_bytes, UINT64_MAX);
  EXPECT_EQ(rules[2].collective, "alltoall");
  // From runs: not NCCL's algorithms; and the other way round.
  EXPECT_THROW(predicted_rules(result, "nccl"), UsageError);
  result.from_speed_of_light_only = true;
  EXPECT_THROW(predicted_rules(result, "mpi"), UsageError);
  // A host topology's plan: recursive doubling is no NCCL algorithm, and the profile could not be read back.
  EXPECT_THROW(predicted_rules(result, "nccl"), UsageError);
  PlanResult gpus = result;
  gpus.rows[0].algorithm = gpus.rows[2].algorithm = "tree";
  EXPECT_EQ(predicted_rules(gpus, "nccl").size(), 2u);  // tree, then ring; alltoall is not NCCL's tuner's

  // Into a profile measured on 2 x 2: earlier predictions for this shape and collective are replaced,
  // others kept; the profile written reads back with its predictions.
  Profile profile;
  profile.shape = {4, 2, 2, "", "", ""};
  Rule measured;
  measured.collective = "allreduce";
  measured.backend = "mpi";
  measured.max_bytes = UINT64_MAX;
  measured.choice.algorithm = "ring";
  profile.rules = {measured};
  result.from_speed_of_light_only = false;
  add_predicted_rules(profile, result, predicted_rules(result, "mpi"));
  add_predicted_rules(profile, result, predicted_rules(result, "mpi"));
  EXPECT_EQ(profile.rules.size(), 4u);
  EXPECT_EQ(predicted_rules_for(profile, 16, 8), 3u);
  EXPECT_EQ(predicted_rules_for(profile, 4, 2), 0u);
  const Profile back = parse_profile(profile_to_json(profile), "p.json");
  ASSERT_EQ(back.rules.size(), 4u);
  EXPECT_EQ(back.rules[1].predicted.size(), 2u);
  EXPECT_TRUE(applies_to(back, back.rules[0], 4, 2));
  EXPECT_FALSE(applies_to(back, back.rules[1], 4, 2));
  EXPECT_TRUE(applies_to(back, back.rules[1], 16, 8));
  // Never at the shape that was measured.
  result.shape = {2, 2};
  EXPECT_THROW(add_predicted_rules(profile, result, predicted_rules(result, "mpi")), UsageError);
}

}  // namespace
}  // namespace cctune::tuner
