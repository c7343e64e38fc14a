#pragma once
// The arithmetic of the generated input data, shared by the host (bench/patterns.cpp) and by the device
// kernels that fill and check GPU buffers in place (collectives/gpu/pattern_kernels.cu). One definition
// keeps the two bit for bit identical. Values are small integers, chosen so that every partial sum any
// algorithm can form is exactly representable in the element type (in float32 for half precision).
#include <cstdint>

#include "collectives/types.hpp"

#if defined(__CUDACC__)
#define CCTUNE_HOST_DEVICE __host__ __device__
#else
#define CCTUNE_HOST_DEVICE
#endif

namespace cctune::pattern {

CCTUNE_HOST_DEVICE constexpr std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// Largest integer magnitude that every partial sum of nranks values must stay within. For the half
// types that is the half type's own exact range, not float32's: our kernels add in float32, but NCCL
// adds float16 and bfloat16 in their own precision, and every backend must get the one exact answer.
CCTUNE_HOST_DEVICE constexpr std::int64_t exact_limit(DataType type) {
  switch (type) {
    case DataType::float64: return std::int64_t{1} << 53;
    case DataType::int32: return 2147483647;
    case DataType::float16: return 2048;  // 11 significant bits
    case DataType::bfloat16: return 256;  // 8 significant bits
    default: return 1 << 24;
  }
}

CCTUNE_HOST_DEVICE constexpr std::int64_t input_limit(DataType type) {
  switch (type) {
    case DataType::float16: return 2048;
    case DataType::bfloat16: return 256;
    default: return std::int64_t{1} << 20;  // plenty of distinct values to catch misplaced data
  }
}

// Largest |value| the generator produces for this type and rank count.
CCTUNE_HOST_DEVICE constexpr std::int64_t bound(DataType type, int nranks) {
  const std::int64_t by_sum = exact_limit(type) / (nranks > 1 ? nranks : 1);
  const std::int64_t limit = input_limit(type) < by_sum ? input_limit(type) : by_sum;
  return limit > 1 ? limit : 1;
}

// The integer value of element `index` of rank `rank`'s input; `bound_value` is bound(type, nranks).
CCTUNE_HOST_DEVICE constexpr std::int64_t value(std::uint64_t seed, std::int64_t bound_value, int rank,
                                                std::uint64_t index) {
  const std::uint64_t h = mix(seed * 0x9e3779b97f4a7c15ull ^ mix(static_cast<std::uint64_t>(rank) + 1) ^
                              (index * 0xd1b54a32d192ed03ull));
  return static_cast<std::int64_t>(h % static_cast<std::uint64_t>(2 * bound_value + 1)) - bound_value;
}

}  // namespace cctune::pattern
