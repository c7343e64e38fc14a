#pragma once
// The cluster as MPI sees it: which ranks share a node, which GPU each would use, and which nodes
// are built alike (same fingerprint).
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "collectives/bootstrap.hpp"
#include "topology/model.hpp"

namespace cctune::topology {

struct RankPlacement {
  int rank = 0;
  std::string host;
  int local_rank = 0;
  int node = 0;           // index into ClusterView::nodes
  std::string gpu_busid;  // the GPU this rank would use (local rank's GPU in bus order); empty: none
};

struct ClusterNode {
  std::string host;
  std::string fingerprint;
  std::vector<int> ranks;
};

struct NodeType {
  std::string fingerprint;
  std::vector<int> nodes;  // indices into ClusterView::nodes
  NodeModel model;         // as the first of those nodes reported it
};

struct ClusterView {
  std::vector<RankPlacement> ranks;
  std::vector<ClusterNode> nodes;  // in order of their first rank
  std::vector<NodeType> types;     // in order of their first node
  bool homogeneous() const { return types.size() <= 1; }
  bool even_ranks_per_node() const;
};

// Collective over `world`: the first rank of each node calls `probe` and sends the model to rank 0.
// The full view is returned on rank 0; other ranks get their own placement only. A probe that throws
// does not strand the other ranks: its message travels to rank 0, which throws Error naming the host.
// host: this rank's host name (processor_name() normally; tests pass others to play several nodes).
ClusterView gather_cluster(const Communicator& world, const std::string& host,
                           const std::function<NodeModel()>& probe);

nlohmann::ordered_json to_json(const ClusterView& view);

}  // namespace cctune::topology
