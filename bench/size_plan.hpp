#pragma once
// Which message sizes a sweep visits, parsed the way nccl-tests users type them.
#include <cstdint>
#include <string_view>
#include <vector>

#include "collectives/types.hpp"

namespace cctune::bench {

// "8", "64K", "64M", "1G", "2T" (binary multiples, case-insensitive, optional trailing "B"/"iB").
// Throws UsageError on anything else or on a value that does not fit in 64 bits.
std::uint64_t parse_size(std::string_view text);

// "1.50 KiB" style, for progress lines and messages.
std::string format_size(std::uint64_t bytes);

struct SizeRange {
  std::uint64_t min_bytes = 8;
  std::uint64_t max_bytes = 64ull << 20;
  std::uint64_t factor = 2;  // geometric when step == 0
  std::uint64_t step = 0;    // arithmetic when non-zero
};

// min, min*f, min*f^2 ... <= max (or min, min+step ...). Throws UsageError for a reversed range,
// a factor below 2, or both a factor and a step.
std::vector<std::uint64_t> make_size_plan(const SizeRange& range);

// How one requested size maps onto elements, following nccl-tests: sizes are floored to whole
// elements, and alltoall buffers to whole blocks of `count` elements per peer.
struct MessageShape {
  std::uint64_t requested_bytes;
  std::uint64_t bytes;          // what is actually moved per rank: count * element size
  std::uint64_t count;          // elements in each rank's buffer
  std::uint64_t count_per_call; // what the collective is called with (per peer for alltoall)
};
MessageShape shape_of(std::uint64_t requested_bytes, Collective collective, DataType type, int nranks);

// The largest element count MPI can address in one call.
inline constexpr std::uint64_t kMaxElementCount = 2147483647;

// Throws UsageError when a size of the plan cannot be run with this type: smaller than one element,
// or more elements than MPI's int count.
void check_plan_fits(const std::vector<std::uint64_t>& plan, DataType type);

}  // namespace cctune::bench
