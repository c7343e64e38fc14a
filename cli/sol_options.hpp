#pragma once
// What the speed of light needs that a topology may lack (`topo`, `bench`, `plan` take the same).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <string>

#include "collectives/error.hpp"
#include "topology/speed_of_light.hpp"

namespace cctune::cli {

struct SolOptions {
  double link_gbps = 0;  // 0: the topology's (or the OS's) NIC speeds
  std::string gpu_model;

  void add_to(CLI::App* app) {
    app->add_option("--link-gbps", link_gbps,
                    "Every node's NIC rate in Gb/s for the speed of light, over what the topology or the OS says "
                    "(a throttled or virtual link)");
    app->add_option("--gpu-model", gpu_model,
                    "The GPUs' model when the topology does not name them (H100-SXM5, A100-SXM4, ...)");
  }

  // Throws UsageError for a rate out of range (CLI::Range would let NaN through) or an unknown model.
  topology::SolInputs inputs() const {
    topology::SolInputs inputs;
    if (link_gbps != 0) {
      if (!(link_gbps >= 1e-6 && link_gbps <= 1e7)) {
        throw UsageError(fmt::format("--link-gbps {} must be a rate from 1e-6 to 1e7 Gb/s", link_gbps), __FILE__, __LINE__);
      }
      inputs.link_gbps = link_gbps;
    }
    if (!gpu_model.empty()) {
      topology::gpu_model_named(gpu_model);
      inputs.gpu_model = gpu_model;
    }
    return inputs;
  }
};

}  // namespace cctune::cli
