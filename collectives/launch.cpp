#include "collectives/launch.hpp"

#include <string>

#include "collectives/error.hpp"

namespace cctune {

std::string_view describe(Blocking blocking) {
  switch (blocking) {
    case Blocking::none: return {};
    case Blocking::wait_and_meet: return "wait and barrier after each inner iteration (-m)";
    case Blocking::wait: return "wait after each inner iteration (-m), no barrier";
    case Blocking::wait_then_meet_untimed:
      return "wait and barrier after each outer iteration (-n); time excludes barrier";
  }
  return {};
}

void check_launch(const LaunchSettings& launch, const LaunchSupport& support) {
  const auto refuse = [](const std::string& option, std::string_view why) {
    if (!why.empty()) CCTUNE_USAGE_ERROR(option + ": " + std::string(why));
  };
  if (launch.null_stream) refuse("-y 1", support.null_stream);
  const std::string graphs = "-G " + std::to_string(launch.graph_launches);
  if (launch.graph_launches > 0) refuse(graphs, support.graphs);
  if (launch.registration != Registration::none) {
    refuse("-R " + std::to_string(static_cast<int>(launch.registration)), support.registration);
  }
  if (launch.cta_policy >= 0) refuse("-x " + std::to_string(launch.cta_policy), support.cta_policy);
  if (launch.graph_launches > 0 && launch.blocking != Blocking::none) {
    // Waiting inside a capture is not allowed (cudaStreamQuery fails there), and a graph launches
    // its captured calls as one piece of work.
    CCTUNE_USAGE_ERROR(graphs + " with -z " + std::to_string(static_cast<int>(launch.blocking)) +
                       ": a graph's calls run as one launch and cannot be waited for one by one; give one of them");
  }
  if (launch.graph_launches > 0 && launch.null_stream) {
    CCTUNE_USAGE_ERROR(graphs + " with -y 1: CUDA cannot capture the legacy default stream into a graph");
  }
}

}  // namespace cctune
