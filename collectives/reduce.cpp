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

template <typename T, typename Op>
[[gnu::always_inline]] inline void apply(T* __restrict output, const T* __restrict a, const T* __restrict b,
                                         std::size_t count, Op op) {
  for (std::size_t i = 0; i < count; ++i) output[i] = op(a[i], b[i]);
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

#define CCTUNE_KERNEL(NAME, T, OP)                                                                    \
  CCTUNE_VECTOR_CLONES void NAME(T* __restrict acc, const T* __restrict in, std::size_t count) {       \
    apply(acc, in, count, OP<T>);                                                                      \
  }                                                                                                    \
  CCTUNE_VECTOR_CLONES void NAME##_3(T* __restrict out, const T* __restrict a, const T* __restrict b, \
                                     std::size_t count) {                                              \
    apply(out, a, b, count, OP<T>);                                                                    \
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
struct Kernels {
  void (*sum)(T*, const T*, std::size_t);
  void (*max)(T*, const T*, std::size_t);
  void (*min)(T*, const T*, std::size_t);
  void (*sum3)(T*, const T*, const T*, std::size_t);
  void (*max3)(T*, const T*, const T*, std::size_t);
  void (*min3)(T*, const T*, const T*, std::size_t);
};
constexpr Kernels<float> kFloat32{sum_f32, max_f32, min_f32, sum_f32_3, max_f32_3, min_f32_3};
constexpr Kernels<double> kFloat64{sum_f64, max_f64, min_f64, sum_f64_3, max_f64_3, min_f64_3};
constexpr Kernels<std::int32_t> kInt32{sum_i32, max_i32, min_i32, sum_i32_3, max_i32_3, min_i32_3};

template <typename T>
void reduce_typed(const Kernels<T>& kernels, void* output, const void* a, const void* b, std::size_t count,
                  ReduceOp op) {
  auto* out = static_cast<T*>(output);
  const auto* x = static_cast<const T*>(a);
  const auto* y = static_cast<const T*>(b);
  if (out == x) {  // accumulate in place: the two-operand kernel, without aliasing restrict pointers
    switch (op) {
      case ReduceOp::sum:
      case ReduceOp::avg: kernels.sum(out, y, count); return;  // avg: the backend divides once at the end
      case ReduceOp::max: kernels.max(out, y, count); return;
      case ReduceOp::min: kernels.min(out, y, count); return;
    }
  }
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg: kernels.sum3(out, x, y, count); return;
    case ReduceOp::max: kernels.max3(out, x, y, count); return;
    case ReduceOp::min: kernels.min3(out, x, y, count); return;
  }
}

}  // namespace

void reduce(void* output, const void* a, const void* b, std::size_t count, DataType type, ReduceOp op) {
  switch (type) {
    case DataType::float32: reduce_typed(kFloat32, output, a, b, count, op); return;
    case DataType::float64: reduce_typed(kFloat64, output, a, b, count, op); return;
    case DataType::int32: reduce_typed(kInt32, output, a, b, count, op); return;
    case DataType::float16:
    case DataType::bfloat16: break;
  }
  CCTUNE_THROW("reduce called with " + std::string(to_string(type)) +
               "; half-precision data must be widened to float32 first");
}

void reduce_into(void* accumulator, const void* input, std::size_t count, DataType type, ReduceOp op) {
  reduce(accumulator, accumulator, input, count, type, op);
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
