#include "collectives/gpu/timed_loop.hpp"

#include <algorithm>
#include <cstddef>

namespace cctune::gpu {

int timed_loop_marks(const LaunchSettings& launch, int iterations) {
  return (launch.graph_launches > 0 ? launch.graph_launches : iterations) + 1;
}

std::vector<double> run_timed_loop(const LaunchSettings& launch, int iterations, const TimedLoopSteps& steps) {
  const double calls_per_iteration = static_cast<double>(std::max(launch.aggregated, 1));
  std::vector<double> samples;
  if (launch.graph_launches == 0 && launch.blocking != Blocking::none) {
    steps.mark(0);
    for (int i = 0; i < iterations; ++i) {
      const double start = steps.now();
      steps.queue();
      steps.mark(i + 1);
      steps.wait(i + 1, i + 1);
      if (launch.blocking == Blocking::wait_and_meet) steps.meet();
      samples.push_back((steps.now() - start) * 1e6 / calls_per_iteration);
      if (launch.blocking == Blocking::wait_then_meet_untimed) steps.meet();
    }
    return samples;
  }
  // Back to back between marks: the iterations themselves, or the launches of the graph holding them.
  const bool graph = launch.graph_launches > 0;
  if (graph) {
    steps.begin_capture();
    for (int i = 0; i < iterations; ++i) steps.queue();
    steps.end_capture();
  }
  const int units = graph ? launch.graph_launches : iterations;
  const double calls_per_unit = calls_per_iteration * (graph ? static_cast<double>(iterations) : 1.0);
  std::vector<double> host_us;
  steps.mark(0);
  for (int u = 0; u < units; ++u) {
    const double start = steps.now();
    graph ? steps.launch_graph() : steps.queue();
    host_us.push_back((steps.now() - start) * 1e6);
    steps.mark(u + 1);
  }
  steps.wait(1, units);
  for (int u = 0; u < units; ++u) {
    const double us = launch.host_time ? host_us[static_cast<std::size_t>(u)] : steps.elapsed_us(u, u + 1);
    samples.push_back(us / calls_per_unit);
  }
  return samples;
}

}  // namespace cctune::gpu
