#include "collectives/gpu/device_backend.hpp"

#include "collectives/gpu/pattern_kernels.hpp"

namespace cctune::gpu {

bool DeviceBackend::fill_input(Buffer& buffer, const PatternRequest& input) {
  fill_input_on_device(buffer.data(), input);
  return true;
}

std::optional<std::uint64_t> DeviceBackend::count_wrong(Buffer& buffer, const PatternRequest& expected) {
  return count_wrong_on_device(buffer.data(), expected);
}

}  // namespace cctune::gpu
