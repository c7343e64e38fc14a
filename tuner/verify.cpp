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

std::string tuned_choice(const Profile& profile, const std::string& collective, std::uint64_t bytes) {
  for (const Rule& rule : profile.rules) {
    if (rule.backend == "mpi" && rule.collective == collective && rule.min_bytes <= bytes && bytes <= rule.max_bytes) {
      return rule.choice.algorithm;
    }
  }
  return "ompi:0";
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

VerifyReport verify(Backend& backend, const Communicator& world, const Profile& profile, const VerifyOptions& options) {
  VerifyReport report;
  bench::Measurer measurer(backend, world, options.bench, nullptr);
  measurer.allocate(*std::max_element(options.sizes.begin(), options.sizes.end()));
  double log_sum = 0;
  for (const auto& selection : options.bench.selections) {
    const Collective collective = selection.collective;
    const std::string name(to_string(collective));
    // One bound communicator per distinct choice; "ompi:0" is the library's own decision ("mpi").
    std::map<std::string, std::unique_ptr<BoundCollective>> bound;
    auto bind = [&](const std::string& choice) -> BoundCollective& {
      const std::string algorithm = choice == "ompi:0" ? "mpi" : choice;
      auto& slot = bound[algorithm];
      if (!slot) slot = backend.bind(collective, algorithm);
      return *slot;
    };
    BoundCollective& baseline = bind("ompi:0");
    std::uint64_t previous = 0;
    for (std::uint64_t size : options.sizes) {
      const bench::MessageShape shape = bench::shape_of(size, collective, options.bench.type, world.size());
      if (shape.bytes == 0 || shape.bytes == previous) continue;  // alltoall floors small sizes to nothing
      previous = shape.bytes;
      const std::string choice = tuned_choice(profile, name, shape.bytes);
      BoundCollective& tuned = bind(choice);
      std::vector<double> base_samples, tuned_samples, base_medians, tuned_medians;
      if (&tuned == &baseline) {
        // The profile keeps Open MPI's own decision here: the job runs exactly the default, so the
        // speedup is 1 by construction. Comparing the default with itself would only report noise
        // (as "slower beyond noise" once in a while); its time is measured for the table.
        const auto result = measurer.measure(baseline, shape, false,
                                             bench::Repetitions{options.iterations * options.rounds, 1, 1});
        if (result.wrong.value_or(0) != 0) CCTUNE_THROW(name + " ompi:0 returned wrong elements");
        VerifyRow row;
        row.collective = name;
        row.bytes = shape.bytes;
        row.tuned = choice;
        row.same_as_default = true;
        row.default_median_us = row.tuned_median_us = result.slowest.median;
        report.rows.push_back(row);
        continue;
      }
      for (int round = 0; round < options.rounds; ++round) {
        const bench::Repetitions repetitions{options.iterations, 1, round == 0 ? 1 : 0};
        // Alternate who goes first, so that neither profits from the other's warm caches.
        for (int turn = 0; turn < 2; ++turn) {
          const bool measure_tuned = (turn == 1) == (round % 2 == 0);
          const auto result = measurer.measure(measure_tuned ? tuned : baseline, shape, false, repetitions);
          if (result.wrong.value_or(0) != 0) {
            CCTUNE_THROW(name + " " + (measure_tuned ? choice : std::string("ompi:0")) + " returned wrong elements");
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
      log_sum += std::log(row.speedup);
      report.any_slower |= row.slower;
      report.rows.push_back(row);
    }
  }
  if (!report.rows.empty()) report.geometric_mean_speedup = std::exp(log_sum / static_cast<double>(report.rows.size()));
  return report;
}

}  // namespace cctune::tuner
