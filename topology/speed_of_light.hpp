#pragma once
// "Is this number good?": the highest bus bandwidth the hardware allows (speed of light, SOL) for a
// collective at a shape (nodes x ranks per node), derived from the node model. Bus bandwidth is
// nccl-tests' busbw, so a measured row and its SOL compare directly. The formulas are in
// docs/topology.md; each one is an upper bound for the algorithm family it names.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectives/types.hpp"
#include "topology/cluster.hpp"
#include "topology/model.hpp"

namespace cctune::topology {

// GPUs cctune knows by PCI device id or model name: what their NVLinks give and whether their
// 8-GPU SXM boards put every GPU behind NVSwitches. Used when a file does not list the NVLinks.
struct GpuModelInfo {
  std::string_view name;         // what --gpu-model takes
  std::string_view match;        // a substring of hwloc's GPUModel / PCIDevice name
  std::vector<unsigned> device_ids;
  int sm = 0;
  int nvlinks = 0;               // links per GPU
  double nvlink_lane_gbs = 0;    // one link, one way
  bool nvswitch_board = false;   // its SXM boards join all GPUs through NVSwitches
};
const std::vector<GpuModelInfo>& known_gpu_models();
// By --gpu-model name (case-insensitive); throws UsageError listing the names.
const GpuModelInfo& gpu_model_named(std::string_view name);

// What moves the bytes: host memory (the MPI backend) or device memory (nccl, cuda).
enum class Medium { host, device };

struct Shape {
  int nodes = 1;
  int ranks_per_node = 1;  // the most ranks any node has
  int ranks() const { return nodes * ranks_per_node; }
};

// What the topology may lack, given by the user or measured.
struct SolInputs {
  std::optional<double> link_gbps;     // --link-gbps: every node NIC's rate, Gb/s (overrides the topology)
  std::string gpu_model;               // --gpu-model: for files that do not name their GPUs
  std::optional<double> memory_gbs;    // host copy bandwidth (measured_memory_bandwidth), GB/s
};

// One collective's bounds, GB/s of busbw; 0 means "does not apply" (one rank per node: nothing
// inside a node; one node: nothing between nodes). latency_us: the floor for the smallest sizes.
struct CollectiveSol {
  double intra_node_busbw_gbs = 0;
  double inter_node_busbw_gbs = 0;
  double in_switch_busbw_gbs = 0;  // NVLS (allreduce reduced in the NVSwitch); 0 where there is none
  std::optional<double> latency_us;
  // The bound for endpoint-reduction algorithms at this shape: the smaller of the two that apply.
  double busbw_gbs() const;
};

struct SpeedOfLight {
  Shape shape;
  Medium medium = Medium::host;
  CollectiveSol allreduce, alltoall;
  // W: what a node's ranks can send between nodes, one way, GB/s (the NICs they use; 0 unknown or one
  // node). A flat ring's bytes move at this rate.
  double node_link_gbs = 0;
  // NCCL's per-hop latency over the links device runs use, inside and between nodes (us; 0 where
  // none applies): what the latency floor and plan's estimates count.
  double hop_intra_us = 0, hop_inter_us = 0;
  std::vector<std::string> basis;  // where each rate came from, one line each, for people
  const CollectiveSol& of(Collective collective) const {
    return collective == Collective::allreduce ? allreduce : alltoall;
  }
  // The bound a row of this collective is graded against (0 when nothing is known).
  double busbw_gbs(Collective collective) const { return of(collective).busbw_gbs(); }
};

// One node type at a shape. For a file on its own (no job), use node_shape(): every GPU a rank,
// and a large node count, so that the inter-node figures are what a big job sees.
SpeedOfLight speed_of_light(const NodeModel& model, Shape shape, Medium medium, const SolInputs& inputs);
Shape node_shape(const NodeModel& model, Medium medium);
// The whole job: the node type with the lowest bound decides (a heterogeneous cluster is as fast
// as its slowest node type).
SpeedOfLight speed_of_light(const ClusterView& view, Medium medium, const SolInputs& inputs);

nlohmann::ordered_json to_json(const SpeedOfLight& sol);
void print_speed_of_light(std::FILE* out, const SpeedOfLight& sol);

// This machine's memory copy bandwidth (GB/s copied, all cores), measured once and cached in
// $XDG_CACHE_HOME/cctune (or ~/.cache/cctune) under the node's fingerprint; nullopt when the
// measurement could not run.
std::optional<double> measured_memory_bandwidth(const std::string& node_fingerprint);

// Collective over `world`: rank 0 measures (or reads the cached) memory bandwidth of its node while
// every other rank sleeps rather than spins; the value on rank 0, nullopt elsewhere.
std::optional<double> job_memory_bandwidth(const Communicator& world, const std::string& rank0_fingerprint);

// Collective over `world`: gathers the cluster (one hwloc probe per node) and, for host runs, rank 0
// measures its node's memory bandwidth (when not cached) while every other rank sleeps rather than
// spins, so that the cores are free. The result is rank 0's; other ranks get their shape only.
SpeedOfLight job_speed_of_light(const Communicator& world, Medium medium, const SolInputs& inputs);

}  // namespace cctune::topology
