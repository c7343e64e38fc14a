#include "bench/statistics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "collectives/types.hpp"

namespace cctune::bench {
namespace {

TEST(Statistics, KnownValues) {
  const Summary s = summarize({5, 1, 4, 2, 3});
  EXPECT_EQ(s.samples, 5u);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.stdev, std::sqrt(2.5));
  EXPECT_DOUBLE_EQ(s.p99, 5);
}

TEST(Statistics, EvenCountMedianIsTheMeanOfTheMiddleTwo) {
  EXPECT_DOUBLE_EQ(summarize({1, 2, 3, 10}).median, 2.5);
}

TEST(Statistics, P99IsNearestRank) {
  std::vector<double> hundred(100);
  std::iota(hundred.begin(), hundred.end(), 1.0);  // 1 .. 100
  EXPECT_DOUBLE_EQ(summarize(hundred).p99, 99);
  std::vector<double> thousand(1000);
  std::iota(thousand.begin(), thousand.end(), 1.0);
  EXPECT_DOUBLE_EQ(summarize(thousand).p99, 990);
  EXPECT_DOUBLE_EQ(summarize({7}).p99, 7);
}

TEST(Statistics, EmptyAndSingle) {
  EXPECT_EQ(summarize({}).samples, 0u);
  const Summary one = summarize({4});
  EXPECT_DOUBLE_EQ(one.median, 4);
  EXPECT_DOUBLE_EQ(one.stdev, 0);
}

// nccl-tests' formulas: busbw = algbw * 2(n-1)/n for allreduce, (n-1)/n for alltoall.
TEST(BusBandwidth, NcclTestsFactors) {
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(Collective::allreduce, 8), 1.75);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(Collective::allreduce, 2), 1.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(Collective::allreduce, 1), 0.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(Collective::alltoall, 4), 0.75);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(Collective::alltoall, 1), 0.0);
}

}  // namespace
}  // namespace cctune::bench
