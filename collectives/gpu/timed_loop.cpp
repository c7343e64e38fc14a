#include "collectives/gpu/timed_loop.hpp"

#include <algorithm>
#include <cstddef>

namespace cctune::gpu {

int timed_loop_marks(const LaunchSettings& launch, int iterations) {
  return (launch.graph_launches > 0 ? launch.graph_launches : iterations) + 1;
}

std::vector<double> run_timed_loop(const LaunchSettings& launch, int iterations, const TimedLoopSteps& steps) {
  const double calls_per_sample = static_cast<double>(std::max(launch.aggregated, 1));
  std::vector<double> samples;
  if (launch.graph_launches > 0) {
    steps.begin_capture();
    for (int i = 0; i < iterations; ++i) steps.queue();
    steps.end_capture();
    const double replayed = calls_per_sample * static_cast<double>(iterations);
    std::vector<double> host_us;
    steps.mark(0);
    for (int l = 0; l < launch.graph_launches; ++l) {
      const double start = steps.now();
      steps.launch_graph();
      host_us.push_back((steps.now() - start) * 1e6);
      steps.mark(l + 1);
    }
    steps.wait(1, launch.graph_launches);
    for (int l = 0; l < launch.graph_launches; ++l) {
      const double us = launch.host_time ? host_us[static_cast<std::size_t>(l)] : steps.elapsed_us(l, l + 1);
      samples.push_back(us / replayed);
    }
    return samples;
  }
  if (launch.blocking == Blocking::none) {
    std::vector<double> host_us;
    steps.mark(0);
    for (int i = 0; i < iterations; ++i) {
      const double start = steps.now();
      steps.queue();
      host_us.push_back((steps.now() - start) * 1e6);
      steps.mark(i + 1);
    }
    steps.wait(1, iterations);
    for (int i = 0; i < iterations; ++i) {
      const double us = launch.host_time ? host_us[static_cast<std::size_t>(i)] : steps.elapsed_us(i, i + 1);
      samples.push_back(us / calls_per_sample);
    }
    return samples;
  }
  steps.mark(0);
  for (int i = 0; i < iterations; ++i) {
    const double start = steps.now();
    steps.queue();
    steps.mark(i + 1);
    steps.wait(i + 1, i + 1);
    if (launch.blocking == Blocking::wait_and_meet) steps.meet();
    samples.push_back((steps.now() - start) * 1e6 / calls_per_sample);
    if (launch.blocking == Blocking::wait_then_meet_untimed) steps.meet();
  }
  return samples;
}

}  // namespace cctune::gpu
