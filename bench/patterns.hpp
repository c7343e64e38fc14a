#pragma once
// Input data generated from (seed, rank, index) and the exact result every rank must get back.
// Values are small integers, chosen so that every partial sum any algorithm can form is exactly
// representable in the element type (and in float32 for half precision): the result is then
// independent of the order of reduction and can be compared bit for bit.
#include <cstddef>
#include <cstdint>
#include <span>

#include "collectives/types.hpp"

namespace cctune::bench {

struct PatternSpec {
  std::uint64_t seed = 0;
  DataType type = DataType::float32;
  int nranks = 1;
};

// The integer value of element `index` of rank `rank`'s input.
std::int64_t pattern_value(const PatternSpec& spec, int rank, std::uint64_t index);
// Largest |value| the generator produces for this type and rank count.
std::int64_t pattern_bound(const PatternSpec& spec);

// Fills `count` elements of type spec.type with pattern values for indices first_index + i.
void fill_pattern(const PatternSpec& spec, int rank, std::uint64_t first_index, std::size_t count, void* out);

// What allreduce must leave in every rank's buffer.
void expected_allreduce(const PatternSpec& spec, ReduceOp op, std::size_t count, void* out);
// What alltoall must leave in rank `rank`'s receive buffer (count_per_peer elements from each rank).
void expected_alltoall(const PatternSpec& spec, int rank, std::size_t count_per_peer, void* out);
// The send buffer of rank `rank` for alltoall: block d holds indices d*count_per_peer ...
void fill_alltoall_input(const PatternSpec& spec, int rank, std::size_t count_per_peer, void* out);

// Written over every output byte before each check. All ones is a NaN for the floating types, which no
// correct result holds; for int32 it is -1, so an unwritten int32 element escapes only where -1 is right.
inline constexpr std::byte kPoison{0xff};
void poison(void* data, std::size_t bytes);

// Elements whose bits differ.
std::uint64_t count_mismatches(const void* actual, const void* expected, std::size_t count, DataType type);

}  // namespace cctune::bench
