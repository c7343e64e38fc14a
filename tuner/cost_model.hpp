#pragma once
// A latency-bandwidth model of each host algorithm at any shape (nodes x ranks per node), from the
// algorithm's own schedule: which rank sends how much to which in each step. A rank's part of a step
// costs
//   alpha(class) x messages + beta(class) x bytes on the busiest resource its transfers use
//   (+ kappa x those bytes when several messages share that NIC direction, between nodes),
// the class being "inter" when one of its transfers leaves the node (the resource: a NIC direction at
// either end) and "intra" otherwise (its node's memory, all its ranks' bytes together). A rank's part
// starts once it and the ranks sending to it have finished the step before; the schedule's cost is
// the path to the last rank to finish. The five parameters per algorithm are fitted to measured runs
// (fit), or come from the topology's speed of light (from_speed_of_light). docs/tune.md ("cctune
// plan") states it with its limits.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectives/types.hpp"

namespace cctune::tuner {

struct PlanShape {
  int nodes = 1;
  int ranks_per_node = 1;  // ranks placed by node (block distribution), as mpirun --map-by node:slot does
  int ranks() const { return nodes * ranks_per_node; }
};

// What a schedule costs per unit of each parameter, along the path to its last rank: T(S) =
// intra_messages a_i + inter_messages a_x + S (intra_bytes b_i + inter_bytes b_x + inter_shared_bytes k),
// bytes per byte of the call's size S.
struct ScheduleCost {
  double intra_messages = 0, inter_messages = 0;
  double intra_bytes = 0, inter_bytes = 0;
  // Between nodes, the busiest NIC direction's bytes where more than one message shares it, summed along
  // the path: what sharing a link costs where flows do not share it perfectly (TCP; zero on fair fabrics).
  double inter_shared_bytes = 0;
  int steps = 0;  // of the whole schedule
};

struct PathCost {
  double alpha_us = 0;        // per message
  double beta_us_per_b = 0;   // per byte on the step's busiest resource
  double kappa_us_per_b = 0;  // per byte on the busiest NIC when messages share it (inter only)
};

struct CostParams {
  PathCost intra, inter;
  double predict_us(const ScheduleCost& schedule, double bytes) const;
};

struct ModeledAlgorithm {
  Collective collective;
  std::string_view name;  // as bench names it
  std::string_view structure;  // the schedule, for people
};
// The algorithms the model knows the schedule of, in one list.
const std::vector<ModeledAlgorithm>& modeled_algorithms();
bool is_modeled(Collective collective, std::string_view algorithm);

// Walks the algorithm's schedule over shape.ranks() ranks. Throws Error for an algorithm not modeled.
ScheduleCost schedule_cost(Collective collective, std::string_view algorithm, PlanShape shape);

struct Observation {
  PlanShape shape;
  double bytes = 0;
  double time_us = 0;
};

struct Fit {
  CostParams params;
  std::size_t observations = 0;
  double median_error_pct = 0, worst_error_pct = 0;  // on the observations it was fitted to
};
// Least squares on relative error, every parameter >= 0 (all subsets of free parameters tried: five
// unknowns). Throws Error with no observation.
// fixed_intra: intra-node costs known otherwise (from the speed of light, where no run was on one
// node: runs at several node counts alone cannot tell intra from inter for algorithms whose steps of
// both kinds grow alike); only the inter-node ones are fitted.
// inter_beta_floor: the least a byte through a node's NIC can cost (1 / its rate, where the speed of
// light knows it): the network's per-byte cost is fitted above it, never below. Without it, calls small
// enough to pass a shaped link's burst (or a switch's buffer) at once can fit a network faster than
// its line rate, which then under-predicts every larger call.
Fit fit(Collective collective, std::string_view algorithm, const std::vector<Observation>& observations,
        std::optional<PathCost> fixed_intra = std::nullopt, double inter_beta_floor = 0);

}  // namespace cctune::tuner
