#include "bench/patterns.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace cctune::bench {
namespace {

TEST(Patterns, DeterministicAndDifferentPerRankAndSeed) {
  const PatternSpec spec{42, DataType::float32, 4};
  EXPECT_EQ(pattern_value(spec, 1, 10), pattern_value(spec, 1, 10));
  int differs_by_rank = 0, differs_by_seed = 0;
  for (std::uint64_t i = 0; i < 100; ++i) {
    differs_by_rank += pattern_value(spec, 0, i) != pattern_value(spec, 1, i);
    differs_by_seed += pattern_value(spec, 0, i) != pattern_value({43, DataType::float32, 4}, 0, i);
  }
  EXPECT_GT(differs_by_rank, 95);
  EXPECT_GT(differs_by_seed, 95);
}

// The property the bit-exact check rests on: any partial sum of up to nranks values is exact, for the
// half types in the half type itself (NCCL adds them in their own precision).
TEST(Patterns, EveryPartialSumIsExactlyRepresentable) {
  struct Case {
    DataType type;
    double exact_limit;
  };
  for (const Case c : {Case{DataType::float32, 0x1p24}, Case{DataType::float64, 0x1p53},
                       Case{DataType::float16, 2048.0}, Case{DataType::bfloat16, 256.0},
                       Case{DataType::int32, 2147483647.0}}) {
    for (int nranks : {1, 2, 3, 8, 1000, 100000}) {
      const PatternSpec spec{1, c.type, nranks};
      const double bound = static_cast<double>(pattern_bound(spec));
      if (nranks > c.exact_limit) continue;  // not even a sum of ones is exact: the bound stays at 1
      EXPECT_LE(bound * nranks, c.exact_limit) << to_string(c.type) << " " << nranks;
      EXPECT_GE(bound, 1);
    }
  }
  EXPECT_LE(pattern_bound({1, DataType::float16, 2}), 2048);  // inputs exact in half
  EXPECT_LE(pattern_bound({1, DataType::bfloat16, 2}), 256);
}

TEST(Patterns, ValuesStayWithinTheBoundAndCoverIt) {
  const PatternSpec spec{9, DataType::bfloat16, 2};
  const auto bound = pattern_bound(spec);
  std::int64_t lo = 0, hi = 0;
  for (std::uint64_t i = 0; i < 20000; ++i) {
    const auto v = pattern_value(spec, 0, i);
    ASSERT_LE(std::abs(v), bound);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_EQ(lo, -bound);
  EXPECT_EQ(hi, bound);
}

TEST(Patterns, ExpectedAllreduceIsTheOpOverRanks) {
  const PatternSpec spec{5, DataType::float32, 3};
  std::vector<float> sum(50), mx(50), avg(50);
  expected_allreduce(spec, ReduceOp::sum, 50, sum.data());
  expected_allreduce(spec, ReduceOp::max, 50, mx.data());
  expected_allreduce(spec, ReduceOp::avg, 50, avg.data());
  for (std::uint64_t i = 0; i < 50; ++i) {
    const auto a = pattern_value(spec, 0, i), b = pattern_value(spec, 1, i), c = pattern_value(spec, 2, i);
    EXPECT_EQ(sum[i], static_cast<float>(a + b + c));
    EXPECT_EQ(mx[i], static_cast<float>(std::max({a, b, c})));
    EXPECT_EQ(avg[i], static_cast<float>(a + b + c) / 3.0f);
  }
}

TEST(Patterns, ExpectedAlltoallIsTheTransposedBlocks) {
  const PatternSpec spec{3, DataType::int32, 3};
  const std::size_t per_peer = 4;
  std::vector<std::int32_t> send1(per_peer * 3), recv0(per_peer * 3);
  fill_alltoall_input(spec, 1, per_peer, send1.data());
  expected_alltoall(spec, 0, per_peer, recv0.data());
  // Rank 0 receives, in block 1, what rank 1 put in its block 0.
  for (std::size_t j = 0; j < per_peer; ++j) EXPECT_EQ(recv0[per_peer + j], send1[j]);
}

TEST(Patterns, MismatchesAreCountedPerElementOnBits) {
  std::vector<float> a{1, 2, 3, 4}, b = a;
  EXPECT_EQ(count_mismatches(a.data(), b.data(), 4, DataType::float32), 0u);
  b[1] = -0.0f * 0 + 2.0000002f;
  b[3] = 5;
  EXPECT_EQ(count_mismatches(a.data(), b.data(), 4, DataType::float32), 2u);
  std::vector<float> zero{0.0f}, negative_zero{-0.0f};  // equal as numbers, different bits
  EXPECT_EQ(count_mismatches(zero.data(), negative_zero.data(), 1, DataType::float32), 1u);
  std::vector<float> poisoned(4);
  poison(poisoned.data(), poisoned.size() * sizeof(float));
  EXPECT_TRUE(std::isnan(poisoned[0]));
  EXPECT_EQ(count_mismatches(poisoned.data(), a.data(), 4, DataType::float32), 4u);
}

}  // namespace
}  // namespace cctune::bench
