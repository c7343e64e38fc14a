#include "collectives/nccl/configurations.hpp"

#include <nccl.h>

#include <deque>
#include <string>
#include <vector>

#include "collectives/error.hpp"

namespace cctune::nccl {
namespace {

struct Forced {
  const char* name;  // the prefix of the configuration's name
  const char* algo;
  const char* proto;
  const char* description;
};

// The algorithm × protocol pairs NCCL can run on any communicator (NVLS, CollNet and PAT need
// hardware or shapes that a forced setting cannot assume).
constexpr Forced kForcedAllreduce[] = {
    {"ring_ll", "Ring", "LL", "ring, LL protocol (8-byte stores with flags: lowest latency)"},
    {"ring_ll128", "Ring", "LL128", "ring, LL128 protocol (128-byte lines with flags)"},
    {"ring_simple", "Ring", "Simple", "ring, Simple protocol (bulk copies and fences: highest bandwidth)"},
    {"tree_ll", "Tree", "LL", "double binary tree, LL protocol"},
    {"tree_ll128", "Tree", "LL128", "double binary tree, LL128 protocol"},
    {"tree_simple", "Tree", "Simple", "double binary tree, Simple protocol"},
};

// Caps on the channels (CTAs) a collective may use: fewer channels leave SMs to the job's compute and
// can win where a collective is latency-bound anyway.
constexpr int kChannelCaps[] = {16, 8};

// Network channels per peer for alltoall's point-to-point traffic: more channels, more connections in
// flight to each remote peer (no effect within one node).
constexpr int kChannelsPerNetPeer[] = {2, 4};

// The names must outlive the table (AlgorithmInfo holds views): a deque never moves its elements.
std::deque<std::string>& names() {
  static std::deque<std::string> storage;
  return storage;
}
std::string_view keep(std::string text) { return names().emplace_back(std::move(text)); }

std::vector<Configuration> build() {
  std::vector<Configuration> table;
  auto add = [&](std::string name, Collective collective, std::string description, Configuration configuration) {
    configuration.info = {keep(std::move(name)), collective, keep(std::move(description))};
    table.push_back(configuration);
  };
  auto add_capped = [&](const std::string& name, Collective collective, const std::string& description,
                        Configuration configuration) {
    add(name, collective, description, configuration);
    for (int cap : kChannelCaps) {
      configuration.max_channels = cap;
      add(name + "_" + std::to_string(cap) + "ch", collective,
          description + ", at most " + std::to_string(cap) + " channels", configuration);
    }
  };

  const auto allreduce = Collective::allreduce;
  add_capped("nccl", allreduce, "ncclAllReduce with NCCL's own choice of algorithm and protocol", {});
  for (const Forced& forced : kForcedAllreduce) {
    Configuration configuration;
    configuration.algo = forced.algo;
    configuration.proto = forced.proto;
    add_capped(forced.name, allreduce, forced.description, configuration);
  }

  const auto alltoall = Collective::alltoall;
  add_capped("nccl", alltoall, "ncclAlltoAll (grouped ncclSend/ncclRecv before NCCL 2.28)", {});
  Configuration grouped;
  grouped.path = Path::grouped_p2p;
  add_capped("p2p_grouped", alltoall, "one group of ncclSend + ncclRecv per peer", grouped);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0)
  for (int channels : kChannelsPerNetPeer) {
    Configuration configuration;
    configuration.channels_per_net_peer = channels;
    add("nccl_net_peer_" + std::to_string(channels) + "ch", alltoall,
        "ncclAlltoAll, " + std::to_string(channels) + " network channels per remote peer", configuration);
  }
#endif
  return table;
}

const std::vector<Configuration>& table() {
  static const std::vector<Configuration> configurations = build();
  return configurations;
}

}  // namespace

std::span<const Configuration> configurations() { return table(); }

std::span<const AlgorithmInfo> configuration_infos() {
  static const auto infos = [] {
    std::vector<AlgorithmInfo> list;
    for (const auto& configuration : table()) list.push_back(configuration.info);
    return list;
  }();
  return infos;
}

const Configuration& find_configuration(Collective collective, std::string_view name) {
  std::string known;
  for (const auto& configuration : table()) {
    if (configuration.info.collective != collective) continue;
    if (configuration.info.name == name) return configuration;
    known += (known.empty() ? "" : ", ") + std::string(configuration.info.name);
  }
  CCTUNE_USAGE_ERROR("unknown " + std::string(to_string(collective)) + " algorithm '" + std::string(name) +
                     "' for backend nccl (" + known + ")");
}

}  // namespace cctune::nccl
