#include "tuner/verify.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "bench/measure.hpp"
#include "bench/size_plan.hpp"
#include "bench/statistics.hpp"
#include "collectives/error.hpp"

namespace cctune::tuner {

namespace {

std::string describe(const Rule& rule) {
  std::string text = rule.backend + " " + rule.collective + " " + rule.choice.algorithm;
  if (rule.backend == "nccl") {
    text += "/" + rule.choice.protocol;
    if (rule.choice.channels > 0) text += ", " + std::to_string(rule.choice.channels) + " channels";
    if (rule.choice.channels_per_net_peer > 0) {
      text += ", " + std::to_string(rule.choice.channels_per_net_peer) + " channels per net peer";
    }
  }
  if (rule.choice.segsize > 0 || rule.choice.fanout > 0) text += " with segsize/fanout";
  return text;
}

const Candidate& candidate_of(const std::vector<Candidate>& space, const Rule& rule) {
  if (const Candidate* candidate = find_candidate(space, rule)) return *candidate;
  CCTUNE_USAGE_ERROR("the profile chooses " + describe(rule) + " for " + std::to_string(rule.min_bytes) + "-" +
                     std::to_string(rule.max_bytes) + " B, which is not a candidate this cctune measures");
}

}  // namespace

const Rule* rule_at(const Profile& profile, Collective collective, std::uint64_t bytes, int nranks, int nnodes) {
  const std::string name(to_string(collective));
  for (const Rule& rule : profile.rules) {
    if (rule.collective == name && rule.min_bytes <= bytes && bytes <= rule.max_bytes &&
        applies_to(profile, rule, nranks, nnodes)) {
      return &rule;
    }
  }
  return nullptr;
}

const Candidate& tuned_candidate(const std::vector<Candidate>& space, const Profile& profile, Collective collective,
                                 std::uint64_t bytes) {
  const Rule* rule = rule_at(profile, collective, bytes, profile.shape.nranks, profile.shape.nnodes);
  return rule ? candidate_of(space, *rule) : space.front();
}

void check_runnable(const Profile& profile, const std::vector<Collective>& collectives) {
  for (Collective collective : collectives) {
    const auto space = search_space(profile.backend, collective);
    if (space.empty()) {
      CCTUNE_USAGE_ERROR("backend " + profile.backend + " has no " + std::string(to_string(collective)) + " to verify");
    }
    for (const Rule& rule : profile.rules) {
      if (rule.collective == to_string(collective)) candidate_of(space, rule);
    }
  }
}

VerifyRow judge(std::vector<double> default_samples, std::vector<double> tuned_samples,
                const std::vector<double>& default_round_medians, const std::vector<double>& tuned_round_medians) {
  VerifyRow row;
  std::sort(default_samples.begin(), default_samples.end());
  std::sort(tuned_samples.begin(), tuned_samples.end());
  row.default_median_us = bench::summarize(default_samples).median;
  row.tuned_median_us = bench::summarize(tuned_samples).median;
  row.speedup = row.default_median_us / row.tuned_median_us;
  row.speedup_low = row.speedup_high = row.speedup;
  for (std::size_t r = 0; r < default_round_medians.size(); ++r) {
    const double ratio = default_round_medians[r] / tuned_round_medians[r];
    row.speedup_low = std::min(row.speedup_low, ratio);
    row.speedup_high = std::max(row.speedup_high, ratio);
    row.rounds_won += ratio > 1.0 ? 1 : 0;
  }
  row.rounds = static_cast<int>(default_round_medians.size());
  // Slower beyond noise: tuned lost every round (a sign test: by chance with probability 2^-rounds),
  // and by more than a practical 3%. Calls within one round vary far less than rounds do on a shared
  // machine, so quartiles of the pooled calls would flag differences that are only drift.
  row.slower = row.speedup_high < 1.0 && row.speedup < 0.97;
  return row;
}

VerifyReport verify(CandidateRunner& runner, const Communicator& world, const Profile& profile,
                    const VerifyOptions& options) {
  VerifyReport report;
  const int nranks = world.size(), nnodes = options.nnodes > 0 ? options.nnodes : profile.shape.nnodes;
  report.predicted_shape = nranks != profile.shape.nranks || nnodes != profile.shape.nnodes;
  double log_sum = 0;
  for (const auto& selection : options.bench.selections) {
    const Collective collective = selection.collective;
    const std::string name(to_string(collective));
    const std::vector<Candidate> space = search_space(profile.backend, collective);
    // Fresh bound collectives (communicators), made when a size first needs them; the runner's pool
    // keeps the baseline and the choice of the moment alive, and bounds how many more (NCCL's four).
    runner.release_all();
    const Candidate& default_candidate = space.front();
    const std::string default_label = label(default_candidate);
    report.default_label = default_label;
    runner.acquire(default_candidate, collective);
    std::uint64_t previous = 0;
    for (std::uint64_t size : options.sizes) {
      const bench::MessageShape shape = bench::shape_of(size, collective, options.bench.type, world.size());
      if (shape.bytes == 0 || shape.bytes == previous) continue;  // alltoall floors small sizes to nothing
      previous = shape.bytes;
      const Rule* rule = rule_at(profile, collective, shape.bytes, nranks, nnodes);
      const Candidate& tuned_choice = rule ? candidate_of(space, *rule) : default_candidate;
      const std::string choice = label(tuned_choice);
      // What plan said of this size, for a predicted rule planned at it.
      auto mark_predicted = [&](VerifyRow& row) {
        if (!rule || rule->predicted.empty()) return;
        row.predicted = true;
        for (const PredictedPoint& point : rule->predicted) {
          if (point.bytes == shape.bytes) row.predicted_us = point.us;
        }
      };
      std::vector<double> base_samples, tuned_samples, base_medians, tuned_medians;
      if (&tuned_choice == &default_candidate) {
        // The profile keeps the library's own decision here: the job runs exactly the default, so the
        // speedup is 1 by construction. Comparing the default with itself would only report noise
        // (as "slower beyond noise" once in a while); its time is measured for the table.
        const auto result = runner.measure(default_candidate, shape,
                                           bench::Repetitions{options.iterations * options.rounds, 1, 1}, collective);
        if (result.wrong.value_or(0) != 0) CCTUNE_THROW(name + " " + default_label + " returned wrong elements");
        VerifyRow row;
        row.collective = name;
        row.bytes = shape.bytes;
        row.tuned = choice;
        row.same_as_default = true;
        row.default_median_us = row.tuned_median_us = result.slowest.median;
        mark_predicted(row);
        report.rows.push_back(row);
        continue;
      }
      for (int round = 0; round < options.rounds; ++round) {
        const bench::Repetitions repetitions{options.iterations, 1, round == 0 ? 1 : 0};
        // Alternate who goes first, so that neither profits from the other's warm caches.
        for (int turn = 0; turn < 2; ++turn) {
          const bool measure_tuned = (turn == 1) == (round % 2 == 0);
          const auto result = runner.measure(measure_tuned ? tuned_choice : default_candidate, shape, repetitions,
                                             collective);
          if (result.wrong.value_or(0) != 0) {
            CCTUNE_THROW(name + " " + (measure_tuned ? choice : default_label) + " returned wrong elements");
          }
          auto& pool = measure_tuned ? tuned_samples : base_samples;
          pool.insert(pool.end(), result.samples_us.begin(), result.samples_us.end());
          (measure_tuned ? tuned_medians : base_medians).push_back(result.slowest.median);
        }
      }
      VerifyRow row = judge(base_samples, tuned_samples, base_medians, tuned_medians);
      row.collective = name;
      row.bytes = shape.bytes;
      row.tuned = choice;
      mark_predicted(row);
      log_sum += std::log(row.speedup);
      report.any_slower |= row.slower;
      report.rows.push_back(row);
    }
    runner.release_all();
  }
  for (const VerifyRow& row : report.rows) {
    report.predicted_sizes += row.predicted ? 1 : 0;
    report.predictions_held += row.predicted && row.held() ? 1 : 0;
  }
  if (!report.rows.empty()) report.geometric_mean_speedup = std::exp(log_sum / static_cast<double>(report.rows.size()));
  return report;
}

}  // namespace cctune::tuner
