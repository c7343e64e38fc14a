#include "bench/size_plan.hpp"

#include <gtest/gtest.h>

#include "collectives/error.hpp"

namespace cctune::bench {
namespace {

TEST(ParseSize, AcceptsWhatNcclTestsUsersType) {
  EXPECT_EQ(parse_size("8"), 8u);
  EXPECT_EQ(parse_size("1K"), 1024u);
  EXPECT_EQ(parse_size("64k"), 65536u);
  EXPECT_EQ(parse_size("64M"), 64ull << 20);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_size("1T"), 1ull << 40);
  EXPECT_EQ(parse_size("16MB"), 16ull << 20);
  EXPECT_EQ(parse_size("16MiB"), 16ull << 20);
  EXPECT_EQ(parse_size("0"), 0u);
}

TEST(ParseSize, RejectsGarbageAndOverflow) {
  EXPECT_THROW(parse_size(""), UsageError);
  EXPECT_THROW(parse_size("M"), UsageError);
  EXPECT_THROW(parse_size("-8"), UsageError);
  EXPECT_THROW(parse_size("8X"), UsageError);
  EXPECT_THROW(parse_size("1.5M"), UsageError);
  EXPECT_THROW(parse_size("18446744073709551616"), UsageError);  // 2^64
  EXPECT_THROW(parse_size("99999999999G"), UsageError);
  EXPECT_THROW(parse_size("16777216T"), UsageError);  // 2^64 bytes
  EXPECT_EQ(parse_size("18446744073709551615"), 18446744073709551615ull);
}

TEST(SizePlan, GeometricIncludesBothEndsWhenReachable) {
  EXPECT_EQ(make_size_plan({8, 64, 2, 0}), (std::vector<std::uint64_t>{8, 16, 32, 64}));
  EXPECT_EQ(make_size_plan({8, 100, 4, 0}), (std::vector<std::uint64_t>{8, 32}));
  EXPECT_EQ(make_size_plan({1024, 1024, 2, 0}), (std::vector<std::uint64_t>{1024}));
  EXPECT_EQ(make_size_plan({8, 64ull << 20, 2, 0}).size(), 24u);
}

TEST(SizePlan, ArithmeticStep) {
  EXPECT_EQ(make_size_plan({0, 30, 2, 10}), (std::vector<std::uint64_t>{0, 10, 20, 30}));
  EXPECT_EQ(make_size_plan({5, 29, 2, 10}), (std::vector<std::uint64_t>{5, 15, 25}));
}

TEST(SizePlan, StopsBeforeOverflowInsteadOfWrapping) {
  const auto plan = make_size_plan({1ull << 62, ~0ull, 2, 0});
  EXPECT_EQ(plan, (std::vector<std::uint64_t>{1ull << 62, 1ull << 63}));
}

TEST(SizePlan, RejectsReversedRangesAndFactorsThatNeverGrow) {
  EXPECT_THROW(make_size_plan({64, 8, 2, 0}), UsageError);
  EXPECT_THROW(make_size_plan({8, 64, 1, 0}), UsageError);
  EXPECT_THROW(make_size_plan({0, 64, 2, 0}), UsageError);
}

TEST(Shape, FloorsToWholeElementsAndAlltoallToWholeBlocks) {
  const auto a = shape_of(10, Collective::allreduce, DataType::float32, 4);
  EXPECT_EQ(a.count, 2u);
  EXPECT_EQ(a.bytes, 8u);
  EXPECT_EQ(a.count_per_call, 2u);
  const auto b = shape_of(1000, Collective::alltoall, DataType::float32, 3);
  // 250 elements / 3 ranks = 83, down to whole 16-byte blocks (4 floats), as nccl-tests since 2.13.12.
  EXPECT_EQ(b.count_per_call, 80u);
  EXPECT_EQ(b.count, 240u);
  EXPECT_EQ(b.bytes, 960u);
  EXPECT_EQ(shape_of(1000, Collective::alltoall, DataType::float64, 3).count_per_call, 40u);  // 125 / 3 = 41, even
  EXPECT_EQ(shape_of(8, Collective::alltoall, DataType::float32, 4).bytes, 0u);
}

TEST(Shape, PlanMustHoldAtLeastOneElementAndFitAnMpiCount) {
  EXPECT_NO_THROW(check_plan_fits({8, 64}, DataType::float64));
  EXPECT_THROW(check_plan_fits({2, 64}, DataType::float32), UsageError);
  EXPECT_NO_THROW(check_plan_fits({kMaxElementCount * 4}, DataType::float32));
  EXPECT_THROW(check_plan_fits({(kMaxElementCount + 1) * 4}, DataType::float32), UsageError);
}

TEST(FormatSize, ReadsLikeAPerson) {
  EXPECT_EQ(format_size(8), "8 B");
  EXPECT_EQ(format_size(1024), "1 KiB");
  EXPECT_EQ(format_size(1536), "1.50 KiB");
  EXPECT_EQ(format_size(64ull << 20), "64 MiB");
}

}  // namespace
}  // namespace cctune::bench
