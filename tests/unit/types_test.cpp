#include "collectives/types.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <algorithm>
#include <random>

#include "collectives/error.hpp"
#include "collectives/reduce.hpp"

namespace cctune {
namespace {

TEST(Names, RoundTripAndNcclTestsSpellings) {
  for (DataType t : all_datatypes()) EXPECT_EQ(parse_datatype(to_string(t)), t);
  for (ReduceOp op : all_reduce_ops()) EXPECT_EQ(parse_reduce_op(to_string(op)), op);
  for (Collective c : all_collectives()) EXPECT_EQ(parse_collective(to_string(c)), c);
  EXPECT_EQ(parse_datatype("float32"), DataType::float32);
  EXPECT_EQ(parse_datatype("bf16"), DataType::bfloat16);
  EXPECT_THROW(parse_datatype("float128"), UsageError);
  EXPECT_THROW(parse_reduce_op("prod"), UsageError);
  EXPECT_THROW(parse_collective("broadcast"), UsageError);
}

TEST(Support, AvgIsRejectedForIntegers) {
  EXPECT_THROW(check_supported(DataType::int32, ReduceOp::avg), UsageError);
  EXPECT_NO_THROW(check_supported(DataType::bfloat16, ReduceOp::avg));
  EXPECT_NO_THROW(check_supported(DataType::int32, ReduceOp::max));
}

#if defined(__FLT16_MAX__)
// The compiler's own _Float16 conversion is the reference for ours.
TEST(HalfConversion, EveryHalfValueRoundTripsThroughFloat) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const _Float16 reference = std::bit_cast<_Float16>(h);
    const float f = half_to_float(h);
    if (std::isnan(static_cast<float>(reference))) {
      EXPECT_TRUE(std::isnan(f));
      continue;
    }
    ASSERT_EQ(std::bit_cast<std::uint32_t>(f), std::bit_cast<std::uint32_t>(static_cast<float>(reference))) << bits;
    ASSERT_EQ(float_to_half(f), h) << bits;
  }
}

TEST(HalfConversion, RoundsToNearestEvenLikeTheCompiler) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> any;
  for (int i = 0; i < 2000000; ++i) {
    const float f = std::bit_cast<float>(any(rng) & 0xc7ffffffu);  // mostly within half's range
    if (std::isnan(f)) continue;
    const auto reference = std::bit_cast<std::uint16_t>(static_cast<_Float16>(f));
    ASSERT_EQ(float_to_half(f), reference) << std::hexfloat << f;
  }
}
#endif

TEST(Bfloat16Conversion, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bfloat16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(float_to_bfloat16(1.0f + 0x1p-8f), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(float_to_bfloat16(1.0f + 3 * 0x1p-8f), 0x3f82);
  EXPECT_EQ(float_to_bfloat16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(std::nanf("")))));
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float f = bfloat16_to_float(static_cast<std::uint16_t>(bits));
    if (!std::isnan(f)) {
      ASSERT_EQ(float_to_bfloat16(f), bits);
    }
  }
}

TEST(ReduceKernels, SumMaxMinAvgOnEveryNativeType) {
  std::vector<float> acc{1, -2, 3, 4.5f}, in{2, 5, -1, 4.5f};
  reduce_into(acc.data(), in.data(), acc.size(), DataType::float32, ReduceOp::sum);
  EXPECT_EQ(acc, (std::vector<float>{3, 3, 2, 9}));
  std::vector<double> dacc{1, -2}, din{2, -5};
  reduce_into(dacc.data(), din.data(), 2, DataType::float64, ReduceOp::min);
  EXPECT_EQ(dacc, (std::vector<double>{1, -5}));
  std::vector<std::int32_t> iacc{1, 7}, iin{3, -9};
  reduce_into(iacc.data(), iin.data(), 2, DataType::int32, ReduceOp::max);
  EXPECT_EQ(iacc, (std::vector<std::int32_t>{3, 7}));
  std::vector<std::int32_t> wrap{INT32_MAX}, one{1};
  reduce_into(wrap.data(), one.data(), 1, DataType::int32, ReduceOp::sum);
  EXPECT_EQ(wrap[0], INT32_MIN);  // wraps instead of undefined behaviour
  std::vector<float> avg{3, 1};
  divide_by(avg.data(), 2, DataType::float32, 3);
  EXPECT_EQ(avg[0], 1.0f);
  EXPECT_EQ(avg[1], 1.0f / 3.0f);
  std::vector<std::uint16_t> half(2);
  EXPECT_THROW(reduce_into(half.data(), half.data(), 2, DataType::float16, ReduceOp::sum), Error);
}

TEST(ReduceKernels, ThreeOperandFormWritesAFreshBufferOrAccumulatesInPlace) {
  const std::size_t n = 1037;  // not a multiple of any vector width
  std::vector<float> a(n), b(n), out(n, -1.0f);
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i);
    b[i] = static_cast<float>(2 * i) - 500.0f;
  }
  reduce(out.data(), a.data(), b.data(), n, DataType::float32, ReduceOp::sum);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] + b[i]) << i;
  reduce(out.data(), a.data(), b.data(), n, DataType::float32, ReduceOp::max);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], std::max(a[i], b[i])) << i;
  std::vector<std::int32_t> x{5, -7, 9}, y{1, 2, 3};
  reduce(x.data(), x.data(), y.data(), 3, DataType::int32, ReduceOp::min);  // output aliases a
  EXPECT_EQ(x, (std::vector<std::int32_t>{1, -7, 3}));
}

TEST(ReduceKernels, WidenAndNarrowAreInverseOnRepresentableValues) {
  const std::vector<float> values{0.5f, -3.0f, 1024.0f, 0.0f};
  for (DataType t : {DataType::float16, DataType::bfloat16}) {
    std::vector<std::uint16_t> narrow(values.size());
    std::vector<float> wide(values.size());
    narrow_from_float32(values.data(), narrow.data(), values.size(), t);
    widen_to_float32(narrow.data(), wide.data(), values.size(), t);
    EXPECT_EQ(wide, values);
  }
}

}  // namespace
}  // namespace cctune

namespace cctune {
namespace {
// One percentage for bench's %SOL column, plan's sol_pct and accept's floors: unknown stays unknown.
TEST(PercentOfBound, UnknownBoundsAndNonNumbersGiveNoPercentage) {
  EXPECT_DOUBLE_EQ(*percent_of_bound(45.0, 50.0), 90.0);
  EXPECT_FALSE(percent_of_bound(45.0, 0.0).has_value());
  EXPECT_FALSE(percent_of_bound(45.0, -1.0).has_value());
  EXPECT_FALSE(percent_of_bound(std::nan(""), 50.0).has_value());
}
}  // namespace
}  // namespace cctune
