#pragma once
// What `cctune topo` prints for people: a summary of each node type and its path matrix, laid out
// like `nvidia-smi topo -m` (rows GPUs; columns GPUs then NICs; NUMA affinity; nearest NICs).
#include <cstdio>

#include "topology/cluster.hpp"
#include "topology/model.hpp"

namespace cctune::topology {

void print_node(std::FILE* out, const NodeModel& model);
void print_cluster(std::FILE* out, const ClusterView& view);
void print_legend(std::FILE* out);

}  // namespace cctune::topology
