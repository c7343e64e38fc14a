// Schedules of the host algorithms (collectives/mpi), walked rank by rank, and the fit of their costs.
#include "tuner/cost_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "collectives/error.hpp"

namespace cctune::tuner {

const std::vector<ModeledAlgorithm>& modeled_algorithms() {
  static const std::vector<ModeledAlgorithm> algorithms = {
      {Collective::allreduce, "ring", "2(n-1) steps of S/n to the next rank"},
      {Collective::allreduce, "recursive_doubling", "log2 p steps of S with the partner one bit apart; fold of S in and out"},
      {Collective::allreduce, "rabenseifner", "log2 p halving steps (S/2, S/4, ...), then the same doubling back; fold"},
      {Collective::alltoall, "pairwise", "n-1 steps: S/n to rank+s"},
      {Collective::alltoall, "bruck", "ceil(log2 n) steps: the blocks with bit k, to rank+2^k"},
      {Collective::alltoall, "linear", "one step: S/n to every other rank at once (n-1 messages)"},
  };
  return algorithms;
}

bool is_modeled(Collective collective, std::string_view algorithm) {
  const auto& all = modeled_algorithms();
  return std::any_of(all.begin(), all.end(),
                     [&](const ModeledAlgorithm& m) { return m.collective == collective && m.name == algorithm; });
}

double CostParams::predict_us(const ScheduleCost& s, double bytes) const {
  return s.intra_messages * intra.alpha_us + s.inter_messages * inter.alpha_us +
         bytes * (s.intra_bytes * intra.beta_us_per_b + s.inter_bytes * inter.beta_us_per_b +
                  s.inter_shared_bytes * inter.kappa_us_per_b);
}

namespace {

// Walks the steps rank by rank. No rank waits for a step of the whole job: each starts its part of a
// step once it and the ranks sending to it have finished theirs, and takes as long as the busiest
// resource of its own transfers (a NIC direction of either end, or its node's memory when they stay
// inside the node). The schedule's cost is what lies on the path to the last rank to finish. Where
// loads are even (every rank alike) that is the sum of the steps' busiest resources; where they are
// not (12 ranks folded to 8 on 6 nodes), ranks with lighter steps run ahead instead of waiting for the
// busiest node of every step.
// Transfers are streamed (a linear alltoall over 8,000 ranks is 64 million of them); each step is
// walked twice, once for the loads and once to give each rank its share.
class Walker {
 public:
  explicit Walker(PlanShape shape)
      : shape_(shape), ranks_(static_cast<std::size_t>(shape.ranks())), nodes_(static_cast<std::size_t>(shape.nodes)),
        sends_(ranks_, 0), receives_(ranks_, 0), out_(nodes_, 0), in_(nodes_, 0), memory_(nodes_, 0),
        flows_out_(nodes_, 0), flows_in_(nodes_, 0), exposure_(ranks_, 0), shared_(ranks_, 0),
        part_(ranks_, Part::none), start_(ranks_, 0), finish_(ranks_, 0), from_(ranks_, 0), path_(ranks_),
        next_path_(ranks_) {}

  // A step: `transfers(add)` calls add(from, to, bytes) once per transfer, bytes per byte of the call;
  // it is called more than once. `repeat`: how many identical steps it stands for.
  template <typename Transfers>
  void step(const Transfers& transfers, int repeat = 1) {
    clear();
    bool any = false;
    transfers([&](int from, int to, double bytes) {
      any = true;
      const auto a = node_of(from), b = node_of(to);
      ++sends_[static_cast<std::size_t>(from)];
      ++receives_[static_cast<std::size_t>(to)];
      if (a != b) {
        out_[a] += bytes;
        in_[b] += bytes;
        ++flows_out_[a];
        ++flows_in_[b];
      } else {
        memory_[a] += bytes;
      }
    });
    if (!any) return;
    // Each rank's exposure: the busiest NIC direction any of its transfers uses, and whether several
    // messages share it; ranks whose transfers all stay inside the node pay the node's memory.
    transfers([&](int from, int to, double) {
      const auto a = node_of(from), b = node_of(to);
      for (int rank : {from, to}) {
        const auto r = static_cast<std::size_t>(rank);
        if (a == b) {
          if (part_[r] == Part::none) part_[r] = Part::intra;
          continue;
        }
        part_[r] = Part::inter;  // one transfer leaves the node: the NIC decides
        for (const auto& [load, flows] : {std::pair{out_[a], flows_out_[a]}, std::pair{in_[b], flows_in_[b]}}) {
          const double shared = flows > 1 ? load : 0.0;
          if (load > exposure_[r] || (load == exposure_[r] && shared > shared_[r])) {
            exposure_[r] = load;
            shared_[r] = shared;
          }
        }
      }
    });
    const auto all_equal = [this] {
      return std::adjacent_find(finish_.begin(), finish_.end(), std::not_equal_to<>()) == finish_.end();
    };
    for (int k = 0; k < repeat; ++k) {
      const bool even = all_equal();
      if (!even) {
        // Each rank's part starts when the later of it and its senders has finished the step before,
        // and continues that one's path.
        for (std::size_t r = 0; r < ranks_; ++r) from_[r] = static_cast<int>(r);
        transfers([&](int from, int to, double) {
          const auto t = static_cast<std::size_t>(to);
          if (finish_[static_cast<std::size_t>(from)] > finish_[static_cast<std::size_t>(from_[t])]) from_[t] = from;
        });
        for (std::size_t r = 0; r < ranks_; ++r) {
          const auto at = static_cast<std::size_t>(from_[r]);
          start_[r] = finish_[at];
          next_path_[r] = path_[at];
        }
        std::swap(path_, next_path_);
        std::swap(finish_, start_);
      }
      // Everyone ready at once: no one waits for a sender, and each path goes on in place.
      for (std::size_t r = 0; r < ranks_; ++r) finish_[r] += add_part(path_[r], r, 1);
      steps_ += 1;
      const int rest = repeat - k - 1;
      if (even && rest > 0 && all_equal()) {
        // Still even after one: the rest of the repeats are alike, and only add up.
        for (std::size_t r = 0; r < ranks_; ++r) finish_[r] += add_part(path_[r], r, rest);
        steps_ += rest;
        break;
      }
    }
  }

  ScheduleCost cost() const {
    if (ranks_ == 0) return {};
    const auto last = static_cast<std::size_t>(std::max_element(finish_.begin(), finish_.end()) - finish_.begin());
    ScheduleCost cost = path_[last];
    cost.steps = steps_;
    return cost;
  }

 private:
  // How a byte through a node's memory compares with one through its NIC when the path to the last
  // rank is chosen (this machine: 0.0001 against 0.08 us; NVLink against a NIC: about 1 to 20). Only
  // the choice of path uses it: the costs along the path are the schedule's, for the fit.
  static constexpr double kNominalIntra = 0.01;

  std::size_t node_of(int rank) const { return static_cast<std::size_t>(rank / shape_.ranks_per_node); }
  void clear() {
    std::fill(sends_.begin(), sends_.end(), 0);
    std::fill(receives_.begin(), receives_.end(), 0);
    std::fill(flows_out_.begin(), flows_out_.end(), 0);
    std::fill(flows_in_.begin(), flows_in_.end(), 0);
    std::fill(part_.begin(), part_.end(), Part::none);
    for (auto* v : {&out_, &in_, &memory_, &exposure_, &shared_}) std::fill(v->begin(), v->end(), 0.0);
  }
  // Adds `times` x rank r's part of the step to its path; returns its nominal time.
  double add_part(ScheduleCost& path, std::size_t r, int times) const {
    const double messages = times * static_cast<double>(std::max(sends_[r], receives_[r]));
    if (part_[r] == Part::inter) {
      path.inter_messages += messages;
      path.inter_bytes += times * exposure_[r];
      path.inter_shared_bytes += times * shared_[r];
      return times * exposure_[r];
    }
    if (part_[r] == Part::intra) {
      const double bytes = memory_[node_of(static_cast<int>(r))];
      path.intra_messages += messages;
      path.intra_bytes += times * bytes;
      return times * kNominalIntra * bytes;
    }
    return 0;
  }

  PlanShape shape_;
  std::size_t ranks_, nodes_;
  std::vector<int> sends_, receives_;
  std::vector<double> out_, in_, memory_;
  std::vector<int> flows_out_, flows_in_;
  std::vector<double> exposure_, shared_;
  // A rank's part of the step: none, all of its transfers inside its node, or one of them leaving it.
  enum class Part : unsigned char { none, intra, inter };
  std::vector<Part> part_;
  std::vector<double> start_, finish_;  // nominal: inter bytes, intra bytes at kNominalIntra
  std::vector<int> from_;        // whose finish a rank's part of the step waits for
  std::vector<ScheduleCost> path_, next_path_;
  int steps_ = 0;
};

// collectives/mpi/helpers.cpp's fold: the first 2*extra ranks pair up, the even one handing its
// vector to the odd one, which takes part as virtual rank rank/2; the rest are rank - extra.
struct Fold {
  int participants, extra;
  int real_rank(int virtual_rank) const { return virtual_rank < extra ? 2 * virtual_rank + 1 : virtual_rank + extra; }
};
Fold fold_of(int n) {
  const int participants = static_cast<int>(std::bit_floor(static_cast<unsigned>(n)));
  return {participants, n - participants};
}

void fold_step(Walker& w, const Fold& fold, bool in) {
  w.step([&](auto&& add) {
    for (int k = 0; k < fold.extra; ++k) in ? add(2 * k, 2 * k + 1, 1.0) : add(2 * k + 1, 2 * k, 1.0);
  });
}

void ring(Walker& w, int n) {
  w.step([&](auto&& add) {
    for (int r = 0; r < n; ++r) add(r, (r + 1) % n, 1.0 / n);
  }, 2 * (n - 1));  // every step the same
}

void recursive_doubling(Walker& w, int n) {
  const Fold fold = fold_of(n);
  fold_step(w, fold, true);
  for (int mask = 1; mask < fold.participants; mask <<= 1) {
    w.step([&](auto&& add) {
      for (int v = 0; v < fold.participants; ++v) add(fold.real_rank(v), fold.real_rank(v ^ mask), 1.0);
    });
  }
  fold_step(w, fold, false);
}

void rabenseifner(Walker& w, int n) {
  const Fold fold = fold_of(n);
  fold_step(w, fold, true);
  // Halving: the step with mask m sends S/2m; the allgather then retraces the same pairs backwards.
  std::vector<std::pair<int, double>> halving;
  double share = 1.0;
  for (int mask = 1; mask < fold.participants; mask <<= 1) halving.emplace_back(mask, share /= 2);
  std::vector<std::pair<int, double>> both = halving;
  both.insert(both.end(), halving.rbegin(), halving.rend());
  for (const auto& step : both) {
    const int mask = step.first;
    const double part = step.second;
    w.step([&](auto&& add) {
      for (int v = 0; v < fold.participants; ++v) add(fold.real_rank(v), fold.real_rank(v ^ mask), part);
    });
  }
  fold_step(w, fold, false);
}

void pairwise(Walker& w, int n) {
  for (int s = 1; s < n; ++s) {
    w.step([&](auto&& add) {
      for (int r = 0; r < n; ++r) add(r, (r + s) % n, 1.0 / n);
    });
  }
}

void bruck(Walker& w, int n) {
  for (int distance = 1; distance < n; distance <<= 1) {
    int blocks = 0;
    for (int i = distance; i < n; ++i) blocks += (i & distance) != 0;
    w.step([&](auto&& add) {
      for (int r = 0; r < n; ++r) add(r, (r + distance) % n, static_cast<double>(blocks) / n);
    });
  }
}

void linear(Walker& w, int n) {
  w.step([&](auto&& add) {
    for (int r = 0; r < n; ++r) {
      for (int s = 1; s < n; ++s) add(r, (r + s) % n, 1.0 / n);
    }
  });
}

}  // namespace

ScheduleCost schedule_cost(Collective collective, std::string_view algorithm, PlanShape shape) {
  if (shape.nodes < 1 || shape.ranks_per_node < 1 || shape.ranks() > (1 << 20)) {
    CCTUNE_THROW(fmt::format("cost model: {} nodes x {} ranks is not a shape it can walk", shape.nodes, shape.ranks_per_node));
  }
  Walker w(shape);
  const int n = shape.ranks();
  if (n == 1) return w.cost();
  using Walk = void (*)(Walker&, int);
  static const std::map<std::pair<Collective, std::string_view>, Walk> walks = {
      {{Collective::allreduce, "ring"}, ring},
      {{Collective::allreduce, "recursive_doubling"}, recursive_doubling},
      {{Collective::allreduce, "rabenseifner"}, rabenseifner},
      {{Collective::alltoall, "pairwise"}, pairwise},
      {{Collective::alltoall, "bruck"}, bruck},
      {{Collective::alltoall, "linear"}, linear},
  };
  const auto found = walks.find({collective, algorithm});
  if (found == walks.end()) CCTUNE_THROW(fmt::format("cost model: no schedule for {} {}", to_string(collective), algorithm));
  found->second(w, n);
  return w.cost();
}

namespace {

// Solves the normal equations of the columns in `use` (Gaussian elimination with pivoting); false
// when they are singular.
constexpr std::size_t kParams = 5;
using Row = std::array<double, kParams>;

bool solve_subset(const std::vector<Row>& rows, const std::vector<double>& targets, unsigned use, Row& x) {
  std::array<int, kParams> index{};
  int k = 0;
  for (int j = 0; j < static_cast<int>(kParams); ++j) {
    if (use & (1u << j)) index[static_cast<std::size_t>(k++)] = j;
  }
  std::vector<std::vector<double>> a(static_cast<std::size_t>(k), std::vector<double>(static_cast<std::size_t>(k) + 1, 0));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const Row& row = rows[r];
    for (int p = 0; p < k; ++p) {
      for (int q = 0; q < k; ++q) a[p][q] += row[index[p]] * row[index[q]];
      a[p][k] += row[index[p]] * targets[r];  // predicted / measured should come to the target
    }
  }
  for (int c = 0; c < k; ++c) {
    int pivot = c;
    for (int r = c + 1; r < k; ++r) {
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    }
    if (std::abs(a[pivot][c]) < 1e-300) return false;
    std::swap(a[c], a[pivot]);
    for (int r = 0; r < k; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (int q = c; q <= k; ++q) a[r][q] -= f * a[c][q];
    }
  }
  x.fill(0);
  for (int c = 0; c < k; ++c) x[static_cast<std::size_t>(index[c])] = a[c][k] / a[c][c];
  return true;
}

}  // namespace

Fit fit(Collective collective, std::string_view algorithm, const std::vector<Observation>& observations,
        std::optional<PathCost> fixed_intra, double inter_beta_floor) {
  if (observations.empty()) CCTUNE_THROW(fmt::format("cost model: nothing measured for {} {}", to_string(collective), algorithm));
  // Each observation as a row of features divided by its time: a fit of relative error.
  std::vector<Row> rows;
  std::vector<double> targets;  // 1, less what the fixed intra-node costs and the floor already explain
  std::map<std::pair<int, int>, ScheduleCost> schedules;
  for (const Observation& o : observations) {
    if (!(o.time_us > 0) || !(o.bytes >= 0)) CCTUNE_THROW("cost model: an observation without a positive time");
    const auto key = std::pair{o.shape.nodes, o.shape.ranks_per_node};
    if (!schedules.count(key)) schedules[key] = schedule_cost(collective, algorithm, o.shape);
    const ScheduleCost& s = schedules[key];
    rows.push_back({s.intra_messages / o.time_us, o.bytes * s.intra_bytes / o.time_us, s.inter_messages / o.time_us,
                    o.bytes * s.inter_bytes / o.time_us, o.bytes * s.inter_shared_bytes / o.time_us});
    targets.push_back(1.0 - inter_beta_floor * o.bytes * s.inter_bytes / o.time_us);
    if (fixed_intra) {
      targets.back() -= (s.intra_messages * fixed_intra->alpha_us + o.bytes * s.intra_bytes * fixed_intra->beta_us_per_b) / o.time_us;
      rows.back()[0] = rows.back()[1] = 0;
    }
  }
  // Columns scaled to unit size, so that microseconds per message and per byte solve alike.
  Row scale{};
  for (const auto& row : rows) {
    for (std::size_t j = 0; j < kParams; ++j) scale[j] = std::max(scale[j], std::abs(row[j]));
  }
  for (auto& row : rows) {
    for (std::size_t j = 0; j < kParams; ++j) row[j] = scale[j] > 0 ? row[j] / scale[j] : 0;
  }
  double best_residual = std::numeric_limits<double>::infinity();
  Row best{};
  for (unsigned use = 1; use < (1u << kParams); ++use) {
    bool usable = true;
    for (std::size_t j = 0; j < kParams; ++j) usable &= !(use & (1u << j)) || scale[j] > 0;
    Row x{};
    if (!usable || !solve_subset(rows, targets, use, x)) continue;
    if (std::any_of(x.begin(), x.end(), [](double v) { return v < 0; })) continue;
    double residual = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      double predicted = 0;
      for (std::size_t j = 0; j < kParams; ++j) predicted += rows[r][j] * x[j];
      residual += (predicted - targets[r]) * (predicted - targets[r]);
    }
    if (residual < best_residual) {
      best_residual = residual;
      best = x;
    }
  }
  Fit out;
  for (std::size_t j = 0; j < kParams; ++j) best[j] = scale[j] > 0 ? best[j] / scale[j] : 0;
  out.params = {{best[0], best[1], 0}, {best[2], best[3] + inter_beta_floor, best[4]}};
  if (fixed_intra) out.params.intra = *fixed_intra;
  out.observations = observations.size();
  std::vector<double> errors;
  for (const Observation& o : observations) {
    const double predicted = out.params.predict_us(schedules[{o.shape.nodes, o.shape.ranks_per_node}], o.bytes);
    errors.push_back(100.0 * std::abs(predicted - o.time_us) / o.time_us);
  }
  std::sort(errors.begin(), errors.end());
  out.median_error_pct = errors[errors.size() / 2];
  out.worst_error_pct = errors.back();
  return out;
}

}  // namespace cctune::tuner
