#include "topology/cluster.hpp"

#include <algorithm>

#include "collectives/error.hpp"
#include "topology/serialize.hpp"

namespace cctune::topology {

bool ClusterView::even_ranks_per_node() const {
  return std::all_of(nodes.begin(), nodes.end(),
                     [&](const ClusterNode& node) { return node.ranks.size() == nodes.front().ranks.size(); });
}

ClusterView gather_cluster(const Communicator& world, const std::string& host_name,
                           const std::function<NodeModel()>& probe) {
  const std::vector<std::string> hosts = world.allgather(host_name);
  ClusterView view;
  for (int r = 0; r < world.size(); ++r) {
    const std::string& host = hosts[static_cast<std::size_t>(r)];
    auto node = std::find_if(view.nodes.begin(), view.nodes.end(), [&](const ClusterNode& n) { return n.host == host; });
    if (node == view.nodes.end()) node = view.nodes.insert(view.nodes.end(), ClusterNode{host, "", {}});
    RankPlacement placement;
    placement.rank = r;
    placement.host = host;
    placement.local_rank = static_cast<int>(node->ranks.size());
    placement.node = static_cast<int>(node - view.nodes.begin());
    node->ranks.push_back(r);
    view.ranks.push_back(placement);
  }
  // One model per node travels, from the node's first rank.
  const RankPlacement& me = view.ranks[static_cast<std::size_t>(world.rank())];
  std::string mine;
  if (me.local_rank == 0) {
    try {
      mine = to_json(probe()).dump();
    } catch (const std::exception& e) {
      mine = nlohmann::ordered_json{{"error", e.what()}}.dump();
    }
  }
  const std::vector<std::string> models = world.gather_to_root(mine);
  if (world.rank() != 0) {
    const RankPlacement self = me;
    return ClusterView{{self}, {}, {}};
  }
  for (std::size_t n = 0; n < view.nodes.size(); ++n) {
    ClusterNode& node = view.nodes[n];
    const auto sent = nlohmann::ordered_json::parse(models[static_cast<std::size_t>(node.ranks.front())]);
    if (sent.contains("error")) {
      CCTUNE_THROW("topology probe failed on " + node.host + ": " + sent["error"].get<std::string>());
    }
    NodeModel model = model_from_json(sent);
    node.fingerprint = fingerprint(model);
    auto type = std::find_if(view.types.begin(), view.types.end(),
                             [&](const NodeType& t) { return t.fingerprint == node.fingerprint; });
    if (type == view.types.end()) {
      type = view.types.insert(view.types.end(), NodeType{node.fingerprint, {}, std::move(model)});
    }
    type->nodes.push_back(static_cast<int>(n));
  }
  for (RankPlacement& placement : view.ranks) {
    const ClusterNode& node = view.nodes[static_cast<std::size_t>(placement.node)];
    const auto type = std::find_if(view.types.begin(), view.types.end(),
                                   [&](const NodeType& t) { return t.fingerprint == node.fingerprint; });
    const NodeModel& model = type->model;
    if (static_cast<std::size_t>(placement.local_rank) < model.gpus.size()) {
      placement.gpu_busid = model.nodes[static_cast<std::size_t>(model.gpus[static_cast<std::size_t>(placement.local_rank)])].busid;
    }
  }
  return view;
}

nlohmann::ordered_json to_json(const ClusterView& view) {
  nlohmann::ordered_json j;
  j["nodes"] = view.nodes.size();
  j["ranks"] = view.ranks.size();
  nlohmann::ordered_json per_node = nlohmann::ordered_json::array();
  for (const auto& node : view.nodes) per_node.push_back(node.ranks.size());
  j["ranks_per_node"] = per_node;
  j["homogeneous"] = view.homogeneous();
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  for (const auto& r : view.ranks) {
    ranks.push_back({{"rank", r.rank}, {"host", r.host}, {"local_rank", r.local_rank},
                     {"gpu", r.gpu_busid.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.gpu_busid)}});
  }
  j["rank_placement"] = ranks;
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const auto& node : view.nodes) {
    nodes.push_back({{"host", node.host}, {"fingerprint", node.fingerprint}, {"ranks", node.ranks}});
  }
  j["node_list"] = nodes;
  nlohmann::ordered_json types = nlohmann::ordered_json::array();
  for (const auto& type : view.types) {
    nlohmann::ordered_json hosts = nlohmann::ordered_json::array();
    for (int n : type.nodes) hosts.push_back(view.nodes[static_cast<std::size_t>(n)].host);
    types.push_back({{"fingerprint", type.fingerprint}, {"hosts", hosts}, {"model", to_json(type.model)}});
  }
  j["node_types"] = types;
  return j;
}

}  // namespace cctune::topology
