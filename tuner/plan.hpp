#pragma once
// `cctune plan`: what each algorithm should take at a shape never measured. With measured runs, the
// cost model (cost_model.hpp) is fitted per algorithm and evaluated at the target shape; with a
// topology only, the costs come from its speed of light (bandwidths) and NCCL's per-hop latencies.
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "collectives/types.hpp"
#include "results/record.hpp"
#include "topology/model.hpp"
#include "topology/speed_of_light.hpp"
#include "tuner/cost_model.hpp"
#include "tuner/profile.hpp"

namespace cctune::tuner {

struct PlanInput {
  PlanShape shape;
  std::vector<Collective> collectives;
  std::vector<std::uint64_t> sizes;
  std::vector<results::Record> runs;             // measured; empty: from the speed of light alone
  std::uint64_t fit_min_bytes = 0;               // sizes below are not fitted (--fit-min-bytes)
  std::optional<topology::NodeModel> topology;   // the nodes' topology (--topology)
  topology::SolInputs sol_inputs;                // --link-gbps, --gpu-model (and host memory bandwidth)
};

struct PlanRow {
  Collective collective;
  std::string algorithm;
  std::uint64_t bytes = 0;
  double predicted_us = 0;
  double busbw_gbs = 0;
  std::optional<double> sol_pct;
  bool best = false;  // the fastest predicted at this size
};

struct FitSummary {
  Collective collective;
  std::string algorithm;
  Fit fit;
  std::vector<std::string> shapes;  // "2x2", "3x2": what it was fitted on
  bool intra_from_sol = false;      // no run on one node: intra-node costs from memory bandwidth
};

struct PlanResult {
  PlanShape shape;
  bool from_speed_of_light_only = false;
  topology::SpeedOfLight sol;
  std::vector<FitSummary> fits;
  std::vector<PlanRow> rows;
  std::vector<std::string> notes;  // what was left out and why, for people
};

// Throws UsageError for input it cannot plan from (no run of a modeled algorithm, no topology and no run).
PlanResult plan(const PlanInput& input);

// The plan as rules a profile of `backend` can carry (`plan --add-to`), each marked predicted: per
// collective, the fastest predicted algorithm at each size, neighbouring sizes of one choice merged,
// each rule keeping the sizes and times it was predicted at. An mpi profile takes predictions from
// measured runs (cctune's host algorithms, which libcctune-mpi.so runs); an nccl profile takes those
// from the speed of light alone (NCCL's families; alltoall is not NCCL's tuner's to choose). Throws
// UsageError when the plan holds nothing the backend's jobs could apply.
std::vector<Rule> predicted_rules(const PlanResult& result, std::string_view backend);
// The profile's predicted rules for result's shape and collectives, replaced by `rules`. Throws
// UsageError for the profile's own (measured) shape.
void add_predicted_rules(Profile& profile, const PlanResult& result, std::vector<Rule> rules);

nlohmann::ordered_json to_json(const PlanResult& result);
void print_plan(std::FILE* out, const PlanResult& result);

}  // namespace cctune::tuner
