#include "tuner/tune.hpp"

#include <algorithm>
#include <chrono>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <memory>

#include "bench/measure.hpp"
#include "bench/size_plan.hpp"
#include "tuner/verify.hpp"
#include "collectives/error.hpp"

namespace cctune::tuner {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::vector<std::string> CollectiveReport::labels() const {
  std::vector<std::string> all;
  for (const Candidate& candidate : space) all.push_back(tuner::label(candidate));
  return all;
}

std::vector<Rule> merge_into_rules(const CollectiveReport& report) {
  std::vector<Rule> rules;
  for (std::size_t s = 0; s < report.chosen.sizes.size(); ++s) {
    const SizeDecision& decision = report.chosen.sizes[s];
    const Candidate& winner = report.space[decision.winner];
    if (!rules.empty() && rules.back().backend == winner.backend && rules.back().choice == winner.choice) {
      rules.back().max_bytes = s + 1 < report.bytes.size() ? report.bytes[s + 1] - 1 : UINT64_MAX;
      continue;
    }
    Rule rule;
    rule.collective = std::string(to_string(report.collective));
    rule.backend = winner.backend;
    rule.min_bytes = rules.empty() ? 0 : report.bytes[s];
    rule.max_bytes = s + 1 < report.bytes.size() ? report.bytes[s + 1] - 1 : UINT64_MAX;
    rule.choice = winner.choice;
    rule.median_us = decision.winner_median_us;
    if (decision.runner_up != decision.winner) {
      rule.runner_up = report.space[decision.runner_up].choice;
      rule.runner_up_median_us = decision.runner_up_median_us;
    }
    rules.push_back(rule);
  }
  return rules;
}

TuneReport tune(CandidateRunner& runner, const Communicator& world, const TuneOptions& options,
                const bench::RunInfo& info, const std::string& fingerprint) {
  TuneReport report;
  for (Collective collective : options.collectives) {
    CollectiveReport part;
    part.collective = collective;
    part.space = search_space(options.backend, collective, options.library_only, info.nnodes);
    // Before anything is bound: what this runtime or hardware cannot honour is left out, said once.
    part.left_out = drop_unavailable(part.space, runner, collective);
    for (const std::string& why : part.left_out) {
      if (options.note) options.note(fmt::format("tune {}: leaving out {}", to_string(collective), why));
    }
    // Each collective starts on fresh bound collectives, and leaves none behind for the next.
    runner.release_all();
    std::vector<bench::MessageShape> shapes;
    for (std::uint64_t size : options.sizes) {
      // Alltoall floors small sizes to whole blocks per peer: skip sizes that move nothing or the same
      // bytes as the previous one (they would make empty or inverted ranges).
      const auto shape = bench::shape_of(size, collective, options.bench.type, world.size());
      if (shape.bytes == 0 || (!part.bytes.empty() && shape.bytes == part.bytes.back())) continue;
      shapes.push_back(shape);
      part.bytes.push_back(shape.bytes);
    }
    if (shapes.empty()) {
      throw UsageError(fmt::format("no size in the plan moves any data for {} on {} ranks; raise -e",
                                   to_string(collective), world.size()),
                       __FILE__, __LINE__);
    }
    // Every (candidate, size) is checked bit for bit the first time it is measured. A candidate with a
    // wrong result (a forced protocol the hardware does not carry safely) is left out from then on, at
    // every size, with one line; the baseline's wrong result ends the run (nothing to fall back to).
    const std::size_t n = part.space.size();
    std::vector<std::vector<bool>> checked(n, std::vector<bool>(shapes.size(), false));
    std::vector<bool> broken(n, false);
    const MeasureFn measure = [&](std::size_t c, std::size_t s, int iterations) -> std::optional<std::vector<double>> {
      if (broken[c]) return std::nullopt;
      const int checks = checked[c][s] ? 0 : 1;
      checked[c][s] = true;
      const auto result = runner.measure(part.space[c], shapes[s], bench::Repetitions{iterations, 1, checks}, collective);
      if (result.wrong.value_or(0) == 0) return result.samples_us;
      const std::string what = fmt::format("{} {} returned {} wrong elements at {} B", to_string(collective),
                                           part.label(c), *result.wrong, shapes[s].bytes);
      if (c == 0) throw Error(what + ": not tuning against a broken baseline", __FILE__, __LINE__);
      broken[c] = true;
      runner.release(part.space[c], collective);
      part.failed.push_back(what);
      if (options.note) options.note("tune " + what + ": leaving it out of every size");
      return std::nullopt;
    };
    // Size by size, so that with `both` racing and exhaustive search meet each size in the same state
    // of the communicators (a candidate's speed can depend on what its communicator ran before:
    // docs/perf.md); which of the two goes first alternates, so neither always profits from the other.
    const bool run_exhaustive = options.strategy != Strategy::racing;
    const bool run_racing = options.strategy != Strategy::exhaustive;
    for (std::size_t s = 0; s < shapes.size(); ++s) {
      for (int turn = 0; turn < 2; ++turn) {
        const bool exhaustive_turn = (turn == 0) == (s % 2 == 0);
        if (exhaustive_turn && run_exhaustive) {
          const auto start = std::chrono::steady_clock::now();
          part.exhaustive.sizes.push_back(exhaustive_size(n, s, measure, options.search, part.exhaustive.iterations));
          part.exhaustive_seconds += seconds_since(start);
        } else if (!exhaustive_turn && run_racing) {
          const auto start = std::chrono::steady_clock::now();
          part.chosen.sizes.push_back(race_size(n, s, measure, options.search, part.chosen.iterations));
          part.chosen_seconds += seconds_since(start);
        }
      }
    }
    // A candidate that failed at one size wins no other: the sizes measured before it failed choose
    // again among the rest.
    for (std::size_t c = 1; c < n; ++c) {
      if (!broken[c]) continue;
      for (auto* result : {&part.chosen, &part.exhaustive}) {
        for (SizeDecision& decision : result->sizes) {
          if (!decision.failed[c]) exclude(decision, c);
        }
      }
    }
    if (!run_racing) {
      part.chosen = part.exhaustive;
      part.chosen_seconds = part.exhaustive_seconds;
    }
    runner.release_all();
    report.collectives.push_back(std::move(part));
  }

  Profile& profile = report.profile;
  profile.created = info.start_time;
  profile.cctune_version = info.cctune_version;
  profile.git_revision = info.git_revision;
  profile.shape.nranks = info.nranks;
  profile.shape.nnodes = info.nnodes;
  profile.shape.ranks_per_node = *std::max_element(info.ranks_per_node.begin(), info.ranks_per_node.end());
  profile.shape.fingerprint = fingerprint;
  profile.shape.mpi_library = info.mpi_library;
  profile.shape.nccl_version = info.nccl_version;
  profile.backend = options.backend;
  auto rebuild_rules = [&] {
    profile.rules.clear();
    for (const auto& part : report.collectives) {
      for (Rule& rule : merge_into_rules(part)) profile.rules.push_back(std::move(rule));
    }
  };
  rebuild_rules();
  for (auto& part : report.collectives) {
    part.reverted.assign(part.bytes.size(), false);
    profile.measurements += part.chosen.iterations;
    profile.measurement_seconds += part.chosen_seconds;
  }
  if (options.confirm_rounds > 0) {
    // The search measured each candidate in its own order and state; a communicator's history can
    // change its speed (docs/perf.md). So tune ends by verifying itself, as a later `verify` launch
    // would: the profile against the library's default, interleaved, in ascending sizes, on fresh
    // communicators. A choice that is not faster both pooled and in most rounds falls back to the
    // library's own decision. (Winning every round of a few short ones was too strict on a shared machine:
    // one preempted round reverted real 1.3x gains.)
    VerifyOptions confirm;
    confirm.sizes = options.sizes;
    confirm.rounds = options.confirm_rounds;
    confirm.iterations = options.confirm_iterations;
    confirm.bench = options.bench;
    const auto start = std::chrono::steady_clock::now();
    const VerifyReport verdict = verify(runner, world, profile, confirm);
    const double seconds = seconds_since(start);
    for (auto& part : report.collectives) {
      part.confirm_seconds = seconds / static_cast<double>(report.collectives.size());
      part.confirmed_speedup.assign(part.bytes.size(), 0.0);
      for (const VerifyRow& row : verdict.rows) {
        if (row.collective != to_string(part.collective)) continue;
        const auto at = std::find(part.bytes.begin(), part.bytes.end(), row.bytes);
        if (at == part.bytes.end()) continue;
        const auto s = static_cast<std::size_t>(at - part.bytes.begin());
        part.confirmed_speedup[s] = row.speedup;
        if (row.same_as_default || row.confirmed()) continue;
        SizeDecision& decision = part.chosen.sizes[s];
        decision.runner_up = decision.winner;
        decision.runner_up_median_us = decision.winner_median_us;
        decision.winner = 0;  // the library's own decision
        decision.winner_median_us = decision.median_us[0];
        part.reverted[s] = true;
      }
      profile.measurements += 2ull * static_cast<std::uint64_t>(confirm.rounds * confirm.iterations) * part.bytes.size();
    }
    profile.measurement_seconds += seconds;
    rebuild_rules();
  }
  report.peak_live = runner.peak_live();
  report.binds = runner.binds();
  report.peak_device_bytes = static_cast<std::uint64_t>(world.max(static_cast<double>(runner.peak_device_bytes())));
  return report;
}

}  // namespace cctune::tuner
