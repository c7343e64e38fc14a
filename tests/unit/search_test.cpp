// The search strategies on synthetic, seeded measurements: racing must find the same winner as
// exhaustive search when one candidate is clearly faster, keep close ones alive, and cost less.
#include "tuner/search.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "collectives/error.hpp"

namespace cctune::tuner {
namespace {

// Candidate c at size s takes base[s][c] µs with ±spread multiplicative noise.
MeasureFn synthetic(const std::vector<std::vector<double>>& base, std::uint64_t seed, double spread = 0.05) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  return [base, rng, spread](std::size_t c, std::size_t s, int iterations) {
    std::uniform_real_distribution<double> noise(1.0 - spread, 1.0 + spread);
    std::vector<double> samples;
    for (int i = 0; i < iterations; ++i) samples.push_back(base[s][c] * noise(*rng));
    return samples;
  };
}

TEST(Search, RacingFindsTheExhaustiveWinnerForLessWork) {
  const std::vector<std::vector<double>> base = {
      {10, 20, 30, 40, 11.5},  // candidate 4 is within noise of 0 at first, clearly worse later
      {50, 20, 60, 70, 80},
      {90, 80, 70, 60, 10},
  };
  const SearchOptions options;
  const SearchResult raced = race(5, 3, synthetic(base, 1), options);
  const SearchResult full = exhaustive(5, 3, synthetic(base, 2), options);
  ASSERT_EQ(raced.sizes.size(), 3u);
  EXPECT_EQ(raced.sizes[0].winner, 0u);
  EXPECT_EQ(raced.sizes[1].winner, 1u);
  EXPECT_EQ(raced.sizes[2].winner, 4u);
  for (std::size_t s = 0; s < 3; ++s) EXPECT_EQ(raced.sizes[s].winner, full.sizes[s].winner) << s;
  EXPECT_EQ(raced.sizes[0].runner_up, 4u);
  EXPECT_TRUE(raced.sizes[0].dropped[3]);  // 4x slower: gone after the first round
  EXPECT_LT(static_cast<double>(raced.iterations), 0.4 * static_cast<double>(full.iterations));
}

TEST(Search, ASingleCandidateIsItsOwnRunnerUp) {
  const SearchResult result = race(1, 1, synthetic({{5}}, 3), SearchOptions{});
  EXPECT_EQ(result.sizes[0].winner, 0u);
  EXPECT_EQ(result.sizes[0].runner_up, 0u);
  EXPECT_EQ(result.iterations, 5u);  // alone from the start: one round
}

TEST(Search, TiedCandidatesSurviveEveryRound) {
  const SearchResult result = race(2, 1, synthetic({{10, 10}}, 4), SearchOptions{5, 4});
  EXPECT_FALSE(result.sizes[0].dropped[0]);
  EXPECT_FALSE(result.sizes[0].dropped[1]);
  EXPECT_EQ(result.iterations, 2u * (5 + 10 + 20 + 40));
}

TEST(Search, EquivalentCandidatesEndTheRaceEarly) {
  // Within 1% of each other, with 0.5% noise: nothing to choose between, so one round is enough.
  const SearchResult result = race(3, 1, synthetic({{10, 10.1, 10.05}}, 5, 0.005), SearchOptions{5, 4});
  EXPECT_EQ(result.iterations, 3u * 5);
  // 10% apart with the same tight noise: the slower one is dropped, not declared equivalent.
  const SearchResult apart = race(2, 1, synthetic({{10, 11}}, 6, 0.005), SearchOptions{5, 4});
  EXPECT_EQ(apart.sizes[0].winner, 0u);
  EXPECT_TRUE(apart.sizes[0].dropped[1]);
  // 2% apart in 3% noise: neither dropped in the first round nor equivalent, so the race goes on.
  SearchOptions strict{5, 4};
  strict.equivalence = 0.01;
  const SearchResult close = race(2, 1, synthetic({{10, 10.2}}, 7, 0.03), strict);
  EXPECT_GT(close.iterations, 2u * 5);
  EXPECT_EQ(close.sizes[0].winner, 0u);
}

TEST(Search, AFailedCandidateIsLeftOutAndTheRestStillRaceFairly) {
  // Candidate 1 would win by far, but fails at its first block at size 1: the others still race in
  // turn, and the winner is the best of them; at size 0 it is measured and wins.
  const std::vector<std::vector<double>> base = {{30, 10, 20, 40}, {30, 10, 20, 40}};
  const MeasureFn timed = synthetic(base, 6);
  std::vector<std::pair<std::size_t, std::size_t>> order;
  const MeasureFn measure = [&](std::size_t c, std::size_t s, int iterations) -> std::optional<std::vector<double>> {
    order.emplace_back(c, s);
    if (c == 1 && s == 1) return std::nullopt;
    return timed(c, s, iterations);
  };
  for (const bool racing : {true, false}) {
    order.clear();
    const SearchResult result = racing ? race(4, 2, measure, SearchOptions{5, 3}) : exhaustive(4, 2, measure, SearchOptions{5, 3});
    EXPECT_EQ(result.sizes[0].winner, 1u);
    const SizeDecision& broken = result.sizes[1];
    EXPECT_TRUE(broken.failed[1]);
    EXPECT_EQ(broken.median_us[1], 0.0);
    EXPECT_EQ(broken.winner, 2u);
    EXPECT_NE(broken.runner_up, 1u);
    // Measured once at size 1, never again, while the others go on there (exhaustive: every block).
    EXPECT_EQ(std::count(order.begin(), order.end(), std::make_pair(std::size_t{1}, std::size_t{1})), 1);
    if (!racing) {
      EXPECT_EQ(std::count(order.begin(), order.end(), std::make_pair(std::size_t{2}, std::size_t{1})), 7);
    }
  }
  // A candidate found broken elsewhere is excluded afterwards, at a size it had won.
  SearchResult earlier = race(4, 2, measure, SearchOptions{5, 3});
  exclude(earlier.sizes[0], 1);
  EXPECT_EQ(earlier.sizes[0].winner, 2u);
  EXPECT_TRUE(earlier.sizes[0].failed[1]);
  EXPECT_THROW(exclude(earlier.sizes[0], 0), Error);
}

TEST(Search, EveryCandidateFailingIsAnError) {
  const MeasureFn failing = [](std::size_t, std::size_t, int) -> std::optional<std::vector<double>> { return std::nullopt; };
  EXPECT_THROW(race(3, 1, failing, SearchOptions{}), Error);
  EXPECT_THROW(exhaustive(3, 1, failing, SearchOptions{}), Error);
}

}  // namespace
}  // namespace cctune::tuner
