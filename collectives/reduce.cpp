#include "collectives/reduce.hpp"

#include <algorithm>
#include <string>
#include <type_traits>

#include "collectives/error.hpp"

namespace cctune {
namespace {

// Written as plain loops over restrict pointers so that the compiler vectorises them; a memory-bound
// kernel gains nothing from hand-written intrinsics (docs/perf.md compares it with memcpy).
template <typename T, typename Op>
void apply(T* __restrict accumulator, const T* __restrict input, std::size_t count, Op op) {
  for (std::size_t i = 0; i < count; ++i) accumulator[i] = op(accumulator[i], input[i]);
}

template <typename T>
void reduce_typed(void* accumulator, const void* input, std::size_t count, ReduceOp op) {
  auto* acc = static_cast<T*>(accumulator);
  const auto* in = static_cast<const T*>(input);
  switch (op) {
    // avg accumulates as a sum; the backend divides once at the end.
    case ReduceOp::sum:
    case ReduceOp::avg:
      if constexpr (std::is_integral_v<T>) {
        // Wrap like two's complement instead of signed-overflow UB: repeated in-place sums may overflow.
        using U = std::make_unsigned_t<T>;
        apply(acc, in, count, [](T a, T b) { return static_cast<T>(static_cast<U>(a) + static_cast<U>(b)); });
      } else {
        apply(acc, in, count, [](T a, T b) { return a + b; });
      }
      return;
    // max/min written as comparisons (not std::max) so the compiler may use vector max/min.
    case ReduceOp::max: apply(acc, in, count, [](T a, T b) { return a < b ? b : a; }); return;
    case ReduceOp::min: apply(acc, in, count, [](T a, T b) { return b < a ? b : a; }); return;
  }
}

}  // namespace

void reduce_into(void* accumulator, const void* input, std::size_t count, DataType type, ReduceOp op) {
  switch (type) {
    case DataType::float32: reduce_typed<float>(accumulator, input, count, op); return;
    case DataType::float64: reduce_typed<double>(accumulator, input, count, op); return;
    case DataType::int32: reduce_typed<std::int32_t>(accumulator, input, count, op); return;
    case DataType::float16:
    case DataType::bfloat16: break;
  }
  CCTUNE_THROW("reduce_into called with " + std::string(to_string(type)) +
               "; half-precision data must be widened to float32 first");
}

void divide_by(void* data, std::size_t count, DataType type, int divisor) {
  switch (type) {
    case DataType::float32: {
      auto* values = static_cast<float*>(data);
      const auto d = static_cast<float>(divisor);
      for (std::size_t i = 0; i < count; ++i) values[i] /= d;
      return;
    }
    case DataType::float64: {
      auto* values = static_cast<double*>(data);
      const auto d = static_cast<double>(divisor);
      for (std::size_t i = 0; i < count; ++i) values[i] /= d;
      return;
    }
    case DataType::int32:
    case DataType::float16:
    case DataType::bfloat16: break;
  }
  CCTUNE_THROW("divide_by needs float32 or float64, not " + std::string(to_string(type)));
}

void widen_to_float32(const std::uint16_t* input, float* output, std::size_t count, DataType type) {
  if (type == DataType::float16) {
    std::transform(input, input + count, output, half_to_float);
  } else if (type == DataType::bfloat16) {
    std::transform(input, input + count, output, bfloat16_to_float);
  } else {
    CCTUNE_THROW("widen_to_float32 needs a half-precision type, not " + std::string(to_string(type)));
  }
}

void narrow_from_float32(const float* input, std::uint16_t* output, std::size_t count, DataType type) {
  if (type == DataType::float16) {
    std::transform(input, input + count, output, float_to_half);
  } else if (type == DataType::bfloat16) {
    std::transform(input, input + count, output, float_to_bfloat16);
  } else {
    CCTUNE_THROW("narrow_from_float32 needs a half-precision type, not " + std::string(to_string(type)));
  }
}

}  // namespace cctune
