#include "collectives/gpu/device_backend.hpp"

#include <algorithm>

#include "collectives/gpu/pattern_kernels.hpp"

namespace cctune::gpu {

std::optional<std::vector<double>> QueuedCollective::time_on_device(const CollectiveArgs& args, int iterations) {
  timer_.reserve(iterations);
  timer_.mark(0, stream());
  for (int i = 0; i < iterations; ++i) {
    queue(args);
    timer_.mark(i + 1, stream());
  }
  timed_calls_ = iterations;
  struct Reset {  // whatever wait() does, the next run() waits for its one call alone
    int& calls;
    ~Reset() { calls = 0; }
  } reset{timed_calls_};
  wait();
  return timer_.microseconds(iterations);
}

bool QueuedCollective::wait_for_calls(double timeout_seconds, bool (*still_healthy)(void*), void* context) {
  std::vector<cudaEvent_t> ends;
  for (int i = 1; i <= timed_calls_; ++i) ends.push_back(timer_.event(i));
  overdue_ = wait_for_events(ends, stream(), timeout_seconds, still_healthy, context);
  return overdue_ < 0;
}

std::string QueuedCollective::overdue_call() const {
  if (timed_calls_ <= 1 || overdue_ < 0) return {};
  return " (call " + std::to_string(std::min(overdue_ + 1, timed_calls_)) + " of " + std::to_string(timed_calls_) +
         " queued)";
}

bool DeviceBackend::fill_input(Buffer& buffer, const PatternRequest& input) {
  fill_input_on_device(buffer.data(), input);
  return true;
}

std::optional<std::uint64_t> DeviceBackend::count_wrong(Buffer& buffer, const PatternRequest& expected) {
  return count_wrong_on_device(buffer.data(), expected);
}

}  // namespace cctune::gpu
