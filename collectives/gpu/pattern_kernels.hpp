#pragma once
// The generated input and the exact expected output (collectives/data_pattern.hpp), produced and
// compared on the device: a check of a 256 MiB output then reads it once in device memory instead of
// copying it to the host. Both wait for the device before returning.
#include <cstdint>

#include "collectives/backend.hpp"

namespace cctune::gpu {

// Writes this rank's input (request.rank) into `buffer` on the current device.
void fill_input_on_device(void* buffer, const PatternRequest& request);
// Elements of `buffer` whose bits differ from what the collective must leave in rank request.rank's output.
std::uint64_t count_wrong_on_device(const void* buffer, const PatternRequest& request);

}  // namespace cctune::gpu
