#include "collectives/nccl/configurations.hpp"

#include <array>
#include <string>
#include <vector>

#include "collectives/error.hpp"

namespace cctune::nccl {
namespace {

constexpr auto kAllreduce = Collective::allreduce;
constexpr auto kAlltoall = Collective::alltoall;

const std::array kConfigurations{
    Configuration{{"nccl", kAllreduce, "ncclAllReduce with NCCL's own choice of algorithm and protocol"}},
    Configuration{{"ring_ll", kAllreduce, "ring, LL protocol (8-byte stores with flags: lowest latency)"}, "Ring", "LL"},
    Configuration{{"ring_ll128", kAllreduce, "ring, LL128 protocol (128-byte lines with flags)"}, "Ring", "LL128"},
    Configuration{{"ring_simple", kAllreduce, "ring, Simple protocol (bulk copies and fences: highest bandwidth)"},
                  "Ring", "Simple"},
    Configuration{{"tree_ll", kAllreduce, "double binary tree, LL protocol"}, "Tree", "LL"},
    Configuration{{"tree_ll128", kAllreduce, "double binary tree, LL128 protocol"}, "Tree", "LL128"},
    Configuration{{"tree_simple", kAllreduce, "double binary tree, Simple protocol"}, "Tree", "Simple"},
    Configuration{{"nccl_8ch", kAllreduce, "NCCL's own choice, at most 8 channels (leaves SMs to compute)"},
                  nullptr, nullptr, 8},
    Configuration{{"nccl", kAlltoall, "ncclAlltoAll (grouped ncclSend/ncclRecv before NCCL 2.28)"}},
    Configuration{{"p2p_grouped", kAlltoall, "one group of ncclSend + ncclRecv per peer"},
                  nullptr, nullptr, 0, Path::grouped_p2p},
    Configuration{{"nccl_8ch", kAlltoall, "NCCL's alltoall, at most 8 channels"}, nullptr, nullptr, 8},
};

}  // namespace

std::span<const Configuration> configurations() { return kConfigurations; }

std::span<const AlgorithmInfo> configuration_infos() {
  static const auto infos = [] {
    std::vector<AlgorithmInfo> list;
    for (const auto& configuration : kConfigurations) list.push_back(configuration.info);
    return list;
  }();
  return infos;
}

const Configuration& find_configuration(Collective collective, std::string_view name) {
  std::string known;
  for (const auto& configuration : kConfigurations) {
    if (configuration.info.collective != collective) continue;
    if (configuration.info.name == name) return configuration;
    known += (known.empty() ? "" : ", ") + std::string(configuration.info.name);
  }
  CCTUNE_USAGE_ERROR("unknown " + std::string(to_string(collective)) + " algorithm '" + std::string(name) +
                     "' for backend nccl (" + known + ")");
}

}  // namespace cctune::nccl
