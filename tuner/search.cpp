#include "tuner/search.hpp"

#include <algorithm>

#include "bench/statistics.hpp"
#include "collectives/error.hpp"

namespace cctune::tuner {
namespace {

struct Quartiles {
  double q25, median, q75;
};

Quartiles quartiles(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return {bench::percentile_sorted(samples, 25), bench::summarize(samples).median, bench::percentile_sorted(samples, 75)};
}

void choose(SizeDecision& decision) {
  const std::size_t n = decision.median_us.size();
  std::vector<std::size_t> order(n);
  for (std::size_t c = 0; c < n; ++c) order[c] = c;
  // The winner among survivors; the runner-up among everything measured; failed candidates last.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (decision.failed[a] != decision.failed[b]) return !decision.failed[a];
    if (decision.dropped[a] != decision.dropped[b]) return !decision.dropped[a];
    return decision.median_us[a] < decision.median_us[b];
  });
  if (n == 0 || decision.failed[order[0]]) CCTUNE_THROW("every candidate failed: nothing to choose");
  decision.winner = order[0];
  decision.winner_median_us = decision.median_us[order[0]];
  decision.runner_up = n > 1 && !decision.failed[order[1]] ? order[1] : order[0];
  decision.runner_up_median_us = decision.median_us[decision.runner_up];
}

void finish(SizeDecision& decision, const std::vector<std::vector<double>>& samples) {
  const std::size_t n = samples.size();
  decision.median_us.assign(n, 0);
  for (std::size_t c = 0; c < n; ++c) {
    if (!samples[c].empty() && !decision.failed[c]) decision.median_us[c] = quartiles(samples[c]).median;
  }
  choose(decision);
}

bool out_of_race(const SizeDecision& decision, std::size_t c) { return decision.dropped[c] || decision.failed[c]; }

// One block of calls of candidate c into its samples; false when it failed.
bool measure_block(SizeDecision& decision, std::vector<std::vector<double>>& samples, std::size_t c, std::size_t s,
                   const MeasureFn& measure, int iterations, std::uint64_t& measured) {
  const auto more = measure(c, s, iterations);
  measured += static_cast<std::uint64_t>(iterations);
  if (!more) {
    decision.failed[c] = true;
    samples[c].clear();
    return false;
  }
  samples[c].insert(samples[c].end(), more->begin(), more->end());
  return true;
}

}  // namespace

void exclude(SizeDecision& decision, std::size_t c) {
  if (c == 0) CCTUNE_THROW("the baseline cannot be left out");
  decision.failed[c] = true;
  decision.median_us[c] = 0;
  choose(decision);
}

SizeDecision race_size(std::size_t candidates, std::size_t s, const MeasureFn& measure, const SearchOptions& options,
                       std::uint64_t& measured) {
  SizeDecision decision;
  decision.dropped.assign(candidates, false);
  decision.failed.assign(candidates, false);
  std::vector<std::vector<double>> samples(candidates);
  int iterations = options.initial_iterations;
  for (int round = 0; round < options.rounds; ++round) {
    // Round-robin in blocks of the first round's size, so that a noisy (or quiet) stretch of a
    // shared machine falls on every candidate alike instead of on one candidate's whole block.
    for (int done = 0; done < iterations; done += options.initial_iterations) {
      for (std::size_t c = 0; c < candidates; ++c) {
        if (out_of_race(decision, c)) continue;
        measure_block(decision, samples, c, s, measure, options.initial_iterations, measured);
      }
    }
    std::size_t leader = candidates;
    Quartiles best{};
    for (std::size_t c = 0; c < candidates; ++c) {
      if (out_of_race(decision, c)) continue;
      const Quartiles q = quartiles(samples[c]);
      if (leader == candidates || q.median < best.median) {
        leader = c;
        best = q;
      }
    }
    if (leader == candidates) break;  // every candidate failed: choose() says so
    std::size_t alive = 0;
    bool all_equivalent = true;
    for (std::size_t c = 0; c < candidates; ++c) {
      if (out_of_race(decision, c) || c == leader) {
        alive += !out_of_race(decision, c);
        continue;
      }
      const Quartiles q = quartiles(samples[c]);
      if (q.q25 > best.q75) {
        decision.dropped[c] = true;
      } else {
        ++alive;
        all_equivalent &= q.q75 <= best.q25 * (1.0 + options.equivalence);
      }
    }
    if (alive <= 1 || all_equivalent) break;
    iterations *= 2;
  }
  finish(decision, samples);
  return decision;
}

SearchResult race(std::size_t candidates, std::size_t sizes, const MeasureFn& measure, const SearchOptions& options) {
  SearchResult result;
  for (std::size_t s = 0; s < sizes; ++s) result.sizes.push_back(race_size(candidates, s, measure, options, result.iterations));
  return result;
}

SizeDecision exhaustive_size(std::size_t candidates, std::size_t s, const MeasureFn& measure,
                             const SearchOptions& options, std::uint64_t& measured) {
  int iterations = 0;
  for (int round = 0, n = options.initial_iterations; round < options.rounds; ++round, n *= 2) iterations += n;
  SizeDecision decision;
  decision.dropped.assign(candidates, false);
  decision.failed.assign(candidates, false);
  std::vector<std::vector<double>> samples(candidates);
  // Interleaved in the same blocks as racing.
  for (int done = 0; done < iterations; done += options.initial_iterations) {
    for (std::size_t c = 0; c < candidates; ++c) {
      if (!decision.failed[c]) measure_block(decision, samples, c, s, measure, options.initial_iterations, measured);
    }
  }
  finish(decision, samples);
  return decision;
}

SearchResult exhaustive(std::size_t candidates, std::size_t sizes, const MeasureFn& measure,
                        const SearchOptions& options) {
  SearchResult result;
  for (std::size_t s = 0; s < sizes; ++s) {
    result.sizes.push_back(exhaustive_size(candidates, s, measure, options, result.iterations));
  }
  return result;
}

}  // namespace cctune::tuner
