#include "collectives/reduce.hpp"

#include <algorithm>
#include <string>
#include <type_traits>

#include "collectives/error.hpp"

namespace cctune {
namespace {

// Plain loops over restrict pointers that the compiler vectorises. Each (type, op) pair is compiled
// once per instruction set (target_clones) and the loader picks the widest the CPU has: the build
// stays portable to any x86-64, yet cache-resident buffers are reduced with 32- or 64-byte vectors.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CCTUNE_VECTOR_CLONES [[gnu::target_clones("avx512f", "avx2", "default")]]
#else
#define CCTUNE_VECTOR_CLONES
#endif

template <typename T, typename Op>
[[gnu::always_inline]] inline void apply(T* __restrict accumulator, const T* __restrict input, std::size_t count,
                                         Op op) {
  for (std::size_t i = 0; i < count; ++i) accumulator[i] = op(accumulator[i], input[i]);
}

template <typename T>
T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    // Wrap like two's complement instead of signed-overflow UB: repeated in-place sums may overflow.
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
// Comparisons rather than std::max/min so that the compiler may use vector max/min instructions.
template <typename T>
T larger(T a, T b) { return a < b ? b : a; }
template <typename T>
T smaller(T a, T b) { return b < a ? b : a; }

#define CCTUNE_KERNEL(NAME, T, OP)                                                              \
  CCTUNE_VECTOR_CLONES void NAME(T* __restrict acc, const T* __restrict in, std::size_t count) { \
    apply(acc, in, count, OP<T>);                                                                \
  }
CCTUNE_KERNEL(sum_f32, float, add)
CCTUNE_KERNEL(max_f32, float, larger)
CCTUNE_KERNEL(min_f32, float, smaller)
CCTUNE_KERNEL(sum_f64, double, add)
CCTUNE_KERNEL(max_f64, double, larger)
CCTUNE_KERNEL(min_f64, double, smaller)
CCTUNE_KERNEL(sum_i32, std::int32_t, add)
CCTUNE_KERNEL(max_i32, std::int32_t, larger)
CCTUNE_KERNEL(min_i32, std::int32_t, smaller)
#undef CCTUNE_KERNEL

template <typename T>
void reduce_typed(void* accumulator, const void* input, std::size_t count, ReduceOp op,
                  void (*sum)(T*, const T*, std::size_t), void (*max)(T*, const T*, std::size_t),
                  void (*min)(T*, const T*, std::size_t)) {
  auto* acc = static_cast<T*>(accumulator);
  const auto* in = static_cast<const T*>(input);
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg: sum(acc, in, count); return;  // avg: the backend divides once at the end
    case ReduceOp::max: max(acc, in, count); return;
    case ReduceOp::min: min(acc, in, count); return;
  }
}

}  // namespace

void reduce_into(void* accumulator, const void* input, std::size_t count, DataType type, ReduceOp op) {
  switch (type) {
    case DataType::float32: reduce_typed<float>(accumulator, input, count, op, sum_f32, max_f32, min_f32); return;
    case DataType::float64: reduce_typed<double>(accumulator, input, count, op, sum_f64, max_f64, min_f64); return;
    case DataType::int32: reduce_typed<std::int32_t>(accumulator, input, count, op, sum_i32, max_i32, min_i32); return;
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
