#include "accept/node_checks.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cctune::accept {
namespace {

Verdict verdict(const std::string& host, std::string check, bool ok, std::string fault, std::string measured,
                std::string expected, std::string detail = {}) {
  return {host, std::move(check), ok ? Status::pass : Status::fail, ok ? std::string() : std::move(fault),
          std::move(measured), std::move(expected), std::move(detail)};
}

int path_rank(std::string_view path) {
  constexpr std::string_view order[] = {"NVL", "PIX", "PXB", "PHB", "NODE", "SYS"};
  return static_cast<int>(std::find(std::begin(order), std::end(order), path) - std::begin(order));
}

}  // namespace

std::vector<Verdict> check_node(const NodeSpec& spec, const topology::NodeModel& model, const std::string& host) {
  std::vector<Verdict> out;
  const int gpus = static_cast<int>(model.gpus.size());
  if (spec.gpu_count) {
    out.push_back(verdict(host, "gpu count", gpus == *spec.gpu_count, "GPU_COUNT", std::to_string(gpus),
                          std::to_string(*spec.gpu_count)));
  }
  const bool names_known = std::all_of(model.gpus.begin(), model.gpus.end(), [&](int g) { return !model.nodes[g].name.empty(); });
  if (spec.gpu_model && gpus > 0 && !names_known) {
    out.push_back({host, "gpu model", Status::skip, "GPU_MODEL_UNKNOWN", "unknown", *spec.gpu_model,
                   "the topology source does not name the GPUs (NCCL topology files do not)"});
  } else if (spec.gpu_model) {
    std::vector<std::string> wrong;
    for (int g : model.gpus) {
      if (model.nodes[g].name.find(*spec.gpu_model) == std::string::npos) wrong.push_back(model.nodes[g].name);
    }
    const std::string measured = gpus == 0 ? "no GPU" : wrong.empty() ? model.nodes[model.gpus[0]].name : wrong[0];
    out.push_back(verdict(host, "gpu model", gpus > 0 && wrong.empty(), "GPU_MODEL", measured, *spec.gpu_model,
                          wrong.empty() ? "" : fmt::format("{} of {} GPUs are not {}", wrong.size(), gpus, *spec.gpu_model)));
  }
  // The NICs that count: RDMA ones only when the spec says so.
  std::vector<int> nics;
  for (int n : model.nics) {
    if (!spec.nic_rdma || model.nodes[n].rdma) nics.push_back(n);
  }
  const std::string nic_kind = spec.nic_rdma ? "RDMA NICs" : "NICs";
  if (spec.nic_count) {
    out.push_back(verdict(host, spec.nic_rdma ? "rdma nic count" : "nic count",
                          static_cast<int>(nics.size()) == *spec.nic_count, "NIC_COUNT", std::to_string(nics.size()),
                          std::to_string(*spec.nic_count)));
  }
  if (spec.nic_min_speed_gbps) {
    const std::string expected = fmt::format(">= {:g} Gb/s", *spec.nic_min_speed_gbps);
    const bool known = !nics.empty() && std::all_of(nics.begin(), nics.end(), [&](int n) { return model.nodes[n].speed_gbps > 0; });
    if (!known) {
      out.push_back({host, "nic speed", Status::skip, "NIC_SPEED_UNKNOWN", "unknown", expected,
                     nics.empty() ? "no " + nic_kind : "the topology source does not give every NIC's speed"});
    } else {
      double slowest = model.nodes[nics[0]].speed_gbps;
      for (int n : nics) slowest = std::min(slowest, model.nodes[n].speed_gbps);
      out.push_back(verdict(host, "nic speed", slowest >= *spec.nic_min_speed_gbps, "NIC_SPEED",
                            fmt::format("{:g} Gb/s (slowest)", slowest), expected));
    }
  }
  if (spec.gpu_nic_path) {
    const std::string expected = "<= " + *spec.gpu_nic_path;
    if (gpus == 0 || nics.empty()) {
      out.push_back({host, "gpu-nic path", Status::skip, "NO_GPU_OR_NIC", "", expected,
                     gpus == 0 ? "no GPU on this node" : "no " + nic_kind});
    } else {
      std::string worst = "NVL";
      int worst_gpu = 0;
      for (int g = 0; g < gpus; ++g) {
        std::string best = "SYS";
        for (std::size_t n = 0; n < model.nics.size(); ++n) {
          if (std::find(nics.begin(), nics.end(), model.nics[n]) == nics.end()) continue;
          const std::string path(topology::to_string(topology::path_class(model, model.gpus[g], model.nics[n])));
          if (path_rank(path) < path_rank(best)) best = path;
        }
        if (path_rank(best) > path_rank(worst)) {
          worst = best;
          worst_gpu = g;
        }
      }
      out.push_back(verdict(host, "gpu-nic path", path_rank(worst) <= path_rank(*spec.gpu_nic_path), "GPU_NIC_PATH",
                            worst, expected, fmt::format("GPU {} is {} from its nearest {}", worst_gpu, worst, nic_kind)));
    }
  }
  if (spec.numa_nodes) {
    const int numa = static_cast<int>(model.numa_nodes.size());
    out.push_back(verdict(host, "numa nodes", numa == *spec.numa_nodes, "NUMA_COUNT", std::to_string(numa),
                          std::to_string(*spec.numa_nodes)));
  }
  return out;
}

}  // namespace cctune::accept
