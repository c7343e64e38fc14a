#pragma once
// Choosing the fastest candidate per message size without paying for the whole cross product.
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace cctune::tuner {

// Per-iteration times (µs) of `iterations` more calls of candidate c at size s. Under MPI it must
// return the same samples on every rank (the slowest rank's), so that every rank decides alike.
// nullopt: the candidate failed (a wrong result, on every rank alike); the search leaves it out of
// this size from then on, and it can win nothing there.
using MeasureFn =
    std::function<std::optional<std::vector<double>>(std::size_t candidate, std::size_t size, int iterations)>;

struct SearchOptions {
  int initial_iterations = 5;  // first round, every candidate
  int rounds = 4;              // survivors get twice the iterations each round
  // Racing stops early once every survivor is this close to the leader (their upper quartiles within
  // this fraction of the leader's lower quartile): telling near-equals apart is not worth the calls.
  double equivalence = 0.03;
};

struct SizeDecision {
  std::size_t winner = 0;
  double winner_median_us = 0;
  std::size_t runner_up = 0;       // == winner when there was one candidate
  double runner_up_median_us = 0;
  std::vector<double> median_us;   // every candidate's median at the end (racing: with the samples it got)
  std::vector<bool> dropped;       // racing: dropped as worse with confidence
  std::vector<bool> failed;        // the measure function failed it (its median is 0)
};

// Marks candidate c failed and chooses the winner and runner-up again among the others (tune does
// this at sizes measured before c failed elsewhere). Candidate 0, the baseline, cannot be failed.
void exclude(SizeDecision& decision, std::size_t c);

struct SearchResult {
  std::vector<SizeDecision> sizes;
  std::uint64_t iterations = 0;    // calls measured in total: the cost of the search
};

// Both strategies: the winner and the runner-up are never failed candidates; with every candidate but
// failed ones dropped, the winner is the best of those measured. Error when every candidate failed.
// Racing: every candidate measured briefly; candidates whose 25th percentile exceeds the leader's
// 75th percentile are dropped as worse with confidence; survivors get twice the iterations per round,
// until one is left, the rounds run out, or the survivors are equivalent (SearchOptions::equivalence).
// Candidates are measured round-robin in blocks of initial_iterations calls, never one after another.
SearchResult race(std::size_t candidates, std::size_t sizes, const MeasureFn& measure, const SearchOptions& options);
// One size of it; adds the calls it measured to `iterations`.
SizeDecision race_size(std::size_t candidates, std::size_t size, const MeasureFn& measure, const SearchOptions& options,
                       std::uint64_t& iterations);

// Every candidate at every size with as many iterations as racing can give one candidate at most.
SearchResult exhaustive(std::size_t candidates, std::size_t sizes, const MeasureFn& measure,
                        const SearchOptions& options);
SizeDecision exhaustive_size(std::size_t candidates, std::size_t size, const MeasureFn& measure,
                             const SearchOptions& options, std::uint64_t& iterations);

}  // namespace cctune::tuner
