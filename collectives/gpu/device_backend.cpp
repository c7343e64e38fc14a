#include "collectives/gpu/device_backend.hpp"

#include <algorithm>
#include <chrono>

#include "collectives/gpu/timed_loop.hpp"

#include "collectives/gpu/pattern_kernels.hpp"

namespace cctune::gpu {

std::optional<std::vector<double>> QueuedCollective::time_on_device(const CollectiveArgs& args, int iterations) {
  const LaunchSettings& settings = launch();
  prepare(args);
  timer_.reserve(timed_loop_marks(settings, iterations) - 1);
  struct Reset {  // whatever wait() does, the next run() waits for its one call alone
    int& first;
    int& calls;
    ~Reset() {
      first = 1;
      calls = 0;
    }
  } reset{first_call_, timed_calls_};
  StreamGraph graph(stream());
  const int calls = std::max(settings.aggregated, 1);
  TimedLoopSteps steps;
  steps.queue = [&] { queue_iteration(args, calls); };
  steps.mark = [&](int index) { timer_.mark(index, stream()); };
  steps.wait = [&](int first, int last) {
    first_call_ = first;
    timed_calls_ = last;
    wait();
  };
  steps.meet = [&] { meet(); };
  steps.begin_capture = [&] { graph.begin(); };
  steps.end_capture = [&] { graph.end(); };
  steps.launch_graph = [&] { graph.launch(); };
  steps.now = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  steps.elapsed_us = [&](int from, int to) { return timer_.elapsed_us(from, to); };
  return run_timed_loop(settings, iterations, steps);
}

bool QueuedCollective::wait_for_calls(double timeout_seconds, bool (*still_healthy)(void*), void* context) {
  std::vector<cudaEvent_t> ends;
  for (int i = first_call_; i <= timed_calls_; ++i) ends.push_back(timer_.event(i));
  overdue_ = wait_for_events(ends, stream(), timeout_seconds, still_healthy, context);
  if (overdue_ >= 0) overdue_ += first_call_ - 1;
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
