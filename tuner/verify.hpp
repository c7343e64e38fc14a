#pragma once
// `cctune verify`: does the tuned configuration beat the library's own decision (Open MPI's, NCCL's)
// on these ranks?
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "bench/options.hpp"
#include "collectives/backend.hpp"
#include "collectives/bootstrap.hpp"
#include "tuner/profile.hpp"
#include "tuner/search_space.hpp"

namespace cctune::tuner {

struct VerifyOptions {
  std::vector<std::uint64_t> sizes;
  int rounds = 5;       // default and tuned alternate, round after round
  int iterations = 10;  // per candidate per round
  bench::BenchOptions bench;
  int nnodes = 0;  // the run's: which of the profile's rules apply (0: the profile's shape)
};

// How far a predicted rule's measured time may be from its prediction and still have held: the
// worst error `cctune plan` is held to (docs/perf.md).
inline constexpr double kPredictionTolerance = 0.30;

struct VerifyRow {
  std::string collective;
  std::uint64_t bytes = 0;
  std::string tuned;  // the label of the profile's choice at this size
  double default_median_us = 0, tuned_median_us = 0;
  double speedup = 1, speedup_low = 1, speedup_high = 1;  // pooled medians; range over rounds
  int rounds_won = 0;    // rounds where tuned's median beat default's
  int rounds = 0;
  bool slower = false;  // tuned lost every round, and by more than 3% overall
  bool same_as_default = false;  // the profile keeps the library's decision: measured once, speedup 1
  bool predicted = false;        // the rule is a predicted one (`cctune plan --add-to`)
  std::optional<double> predicted_us;  // what plan predicted at this very size, when it planned it
  // A predicted rule held: its choice is not slower than the default beyond noise and, where plan
  // predicted this size, the time measured is within kPredictionTolerance of the prediction.
  bool held() const {
    return !slower && (!predicted_us || std::abs(tuned_median_us - *predicted_us) <= kPredictionTolerance * tuned_median_us);
  }
  // What tune's confirmation keeps: faster by a practical margin over all calls pooled, and faster in
  // most rounds. The margin mirrors `slower`'s: a gain of 1-2% can turn into a loss in the next launch
  // (on an oversubscribed machine the scheduler places ranks anew each time), and is not worth it.
  static constexpr double kMargin = 1.05;
  bool confirmed() const { return speedup >= kMargin && 2 * rounds_won > rounds; }
};

struct VerifyReport {
  std::string default_label;  // what tuned is compared with: "ompi:0", "nccl"
  std::vector<VerifyRow> rows;
  double geometric_mean_speedup = 1;
  bool any_slower = false;
  bool predicted_shape = false;  // the run's shape is not the profile's: its predicted rules were verified
  int predicted_sizes = 0, predictions_held = 0;  // rows of predicted rules, and of those that held
};

// The candidate of `space` (search_space() of the profile's backend) that the profile chose for a
// collective at a size; the baseline, space[0], where no rule covers the size. Throws UsageError for a
// rule this build cannot run.
const Candidate& tuned_candidate(const std::vector<Candidate>& space, const Profile& profile, Collective collective,
                                 std::uint64_t bytes);
// The rule of the profile for that collective and size on nranks ranks on nnodes nodes; nullptr: none.
const Rule* rule_at(const Profile& profile, Collective collective, std::uint64_t bytes, int nranks, int nnodes);
// Every rule of the profile for these collectives is one this build can run; UsageError naming the first that
// is not. Needs no ranks: run it before any rank communicates.
void check_runnable(const Profile& profile, const std::vector<Collective>& collectives);

// The verdict on one size from the pooled samples and the per-round medians of both candidates.
VerifyRow judge(std::vector<double> default_samples, std::vector<double> tuned_samples,
                const std::vector<double>& default_round_medians, const std::vector<double>& tuned_round_medians);

VerifyReport verify(CandidateRunner& runner, const Communicator& world, const Profile& profile, const VerifyOptions& options);

}  // namespace cctune::tuner
