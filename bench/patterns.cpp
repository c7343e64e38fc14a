#include "bench/patterns.hpp"

#include <algorithm>
#include <cstring>

#include "collectives/data_pattern.hpp"

namespace cctune::bench {
namespace {

template <typename T>
void store(void* out, std::size_t i, T value) {
  std::memcpy(static_cast<std::byte*>(out) + i * sizeof(T), &value, sizeof(T));
}

// Writes the (already exact or once-rounded) double `value` as element i of `type`.
void store_as(DataType type, void* out, std::size_t i, double value) {
  switch (type) {
    case DataType::float32: store(out, i, static_cast<float>(value)); return;
    case DataType::float64: store(out, i, value); return;
    case DataType::int32: store(out, i, static_cast<std::int32_t>(value)); return;
    case DataType::float16: store(out, i, float_to_half(static_cast<float>(value))); return;
    case DataType::bfloat16: store(out, i, float_to_bfloat16(static_cast<float>(value))); return;
  }
}

}  // namespace

std::int64_t pattern_bound(const PatternSpec& spec) { return pattern::bound(spec.type, spec.nranks); }

std::int64_t pattern_value(const PatternSpec& spec, int rank, std::uint64_t index) {
  return pattern::value(spec.seed, pattern_bound(spec), rank, index);
}

void fill_pattern(const PatternSpec& spec, int rank, std::uint64_t first_index, std::size_t count, void* out) {
  for (std::size_t i = 0; i < count; ++i) {
    store_as(spec.type, out, i, static_cast<double>(pattern_value(spec, rank, first_index + i)));
  }
}

void expected_allreduce(const PatternSpec& spec, ReduceOp op, std::size_t count, void* out) {
  for (std::size_t i = 0; i < count; ++i) {
    std::int64_t acc = pattern_value(spec, 0, i);
    for (int r = 1; r < spec.nranks; ++r) {
      const std::int64_t v = pattern_value(spec, r, i);
      switch (op) {
        case ReduceOp::sum:
        case ReduceOp::avg: acc += v; break;
        case ReduceOp::max: acc = std::max(acc, v); break;
        case ReduceOp::min: acc = std::min(acc, v); break;
      }
    }
    double value = static_cast<double>(acc);  // exact: |acc| <= 2^53
    if (op == ReduceOp::avg) {
      // The sum is exact in the accumulation type; the one division is rounded there. For float32
      // and half types (accumulated in float32) a double division rounded to float is the same as a
      // float division, because double carries more than twice float's precision.
      value = spec.type == DataType::float64 ? value / spec.nranks
                                             : static_cast<double>(static_cast<float>(value / spec.nranks));
    }
    store_as(spec.type, out, i, value);
  }
}

void fill_alltoall_input(const PatternSpec& spec, int rank, std::size_t count_per_peer, void* out) {
  fill_pattern(spec, rank, 0, count_per_peer * static_cast<std::size_t>(spec.nranks), out);
}

void expected_alltoall(const PatternSpec& spec, int rank, std::size_t count_per_peer, void* out) {
  const std::size_t element = size_of(spec.type);
  for (int source = 0; source < spec.nranks; ++source) {
    void* block = static_cast<std::byte*>(out) + static_cast<std::size_t>(source) * count_per_peer * element;
    fill_pattern(spec, source, static_cast<std::uint64_t>(rank) * count_per_peer, count_per_peer, block);
  }
}

void poison(void* data, std::size_t bytes) { std::memset(data, static_cast<int>(kPoison), bytes); }

std::uint64_t count_mismatches(const void* actual, const void* expected, std::size_t count, DataType type) {
  const std::size_t element = size_of(type);
  const auto* a = static_cast<const std::byte*>(actual);
  const auto* e = static_cast<const std::byte*>(expected);
  if (std::memcmp(a, e, count * element) == 0) return 0;
  std::uint64_t wrong = 0;
  for (std::size_t i = 0; i < count; ++i) wrong += std::memcmp(a + i * element, e + i * element, element) != 0;
  return wrong;
}

}  // namespace cctune::bench
