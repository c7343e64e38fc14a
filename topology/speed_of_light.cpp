// Speed of light from the node model. Every bound is a lower bound on the bytes some link must
// carry, divided by that link's rate, turned into busbw (nccl-tests' factors: allreduce
// 2(n-1)/n, alltoall (n-1)/n). docs/topology.md states each formula.
#include "topology/speed_of_light.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>

#include "collectives/error.hpp"

namespace cctune::topology {

const std::vector<GpuModelInfo>& known_gpu_models() {
  // NVLink counts and rates are NVIDIA's data sheets' (one way per link: NVLink 2-4 25 GB/s, NVLink 5
  // 50 GB/s). The 8-GPU SXM boards of A100 on have NVSwitches; V100 SXM2 boards (DGX-1) link GPUs
  // directly, V100 SXM3 (DGX-2) through NVSwitches.
  static const std::vector<GpuModelInfo> models = {
      {"V100-SXM2", "V100-SXM2", {0x1db1, 0x1db5}, 70, 6, 25.0, false},
      {"V100-SXM3", "V100-SXM3", {0x1db8}, 70, 6, 25.0, true},
      {"A100-SXM4", "A100-SXM4", {0x20b0, 0x20b2}, 80, 12, 25.0, true},
      {"H100-SXM5", "H100 80GB HBM3", {0x2330}, 90, 18, 25.0, true},
      {"H200-SXM", "H200", {0x2335}, 90, 18, 25.0, true},
      {"B200", "B200", {0x2901}, 100, 18, 50.0, true},
      {"T4", "T4", {0x1eb8}, 75, 0, 0.0, false},
  };
  return models;
}

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The table's entry for a GPU of the model: by device id, then model name, then the NCCL file's
// "sm_90" (which only tells the generation).
const GpuModelInfo* identify(const Node& gpu) {
  for (const auto& info : known_gpu_models()) {
    if (gpu.device_id != 0 && std::find(info.device_ids.begin(), info.device_ids.end(), gpu.device_id) != info.device_ids.end()) {
      return &info;
    }
  }
  for (const auto& info : known_gpu_models()) {
    if (!gpu.name.empty() && gpu.name.find(info.match) != std::string::npos) return &info;
  }
  return nullptr;
}

int sm_of(const Node& gpu, const GpuModelInfo* info) {
  if (info) return info->sm;
  if (gpu.name.starts_with("sm_")) return std::atoi(gpu.name.c_str() + 3);
  return 0;
}

constexpr double kUnknown = 0;

// NCCL's per-hop latencies for its LL protocol on a ring (src/graph/tuning.cc, hwLatencies): the
// lowest it models for one step over each kind of link, in microseconds.
constexpr double kHopNvlinkUs = 0.6, kHopPcieUs = 1.0, kHopNetUs = 2.7;

double min_known(double a, double b) {
  if (a <= 0) return b;
  if (b <= 0) return a;
  return std::min(a, b);
}

struct Intra {
  double endpoint = kUnknown, in_switch = kUnknown, hop_us = 0;
  std::string basis;
};

// Inside a node, for `ranks` GPUs (the first ones in bus order).
Intra device_intra(const NodeModel& model, int ranks, const SolInputs& inputs) {
  Intra out;
  if (model.gpus.empty()) {
    out.basis = "no GPU in the model: nothing bounds a device run inside the node";
    return out;
  }
  const int used = std::min<int>(ranks, static_cast<int>(model.gpus.size()));
  const GpuModelInfo* named = inputs.gpu_model.empty() ? nullptr : &gpu_model_named(inputs.gpu_model);
  // NVLink per GPU: the file's links, else the GPU model's board.
  double nvlink = std::numeric_limits<double>::infinity();
  bool all_nvl = used >= 1, through_switch = !model.nvswitches.empty(), from_table = false;
  int sm = 0;
  for (int g = 0; g < used; ++g) {
    const int gpu = model.gpus[static_cast<std::size_t>(g)];
    const Node& node = model.nodes[static_cast<std::size_t>(gpu)];
    const GpuModelInfo* info = named ? named : identify(node);
    sm = std::max(sm, sm_of(node, info));
    double gbs = 0;
    int links = 0;
    for (const NvLink& link : model.nvlinks) {
      if (link.first != gpu && link.second != gpu) continue;
      ++links;
      gbs += link.gbs > 0 ? link.gbs : (info ? info->nvlink_lane_gbs : 0);
    }
    if (links == 0 && info && info->nvlinks > 0 && info->nvswitch_board && model.gpus.size() > 1) {
      gbs = info->nvlinks * info->nvlink_lane_gbs;
      through_switch = from_table = true;
    }
    if (gbs <= 0) all_nvl = false;
    nvlink = std::min(nvlink, gbs);
    for (int h = 0; h < g && all_nvl && !from_table; ++h) {
      all_nvl = path_class(model, model.gpus[static_cast<std::size_t>(h)], gpu) == PathClass::NVL;
    }
  }
  if (all_nvl && nvlink > 0 && std::isfinite(nvlink)) {
    out.endpoint = nvlink;
    out.hop_us = kHopNvlinkUs;
    if (through_switch && sm >= 90 && used >= 2) out.in_switch = 2.0 * nvlink * (used - 1) / (used + 1);
    out.basis = fmt::format("NVLink {:.0f} GB/s per GPU one way {}{}", nvlink,
                            through_switch ? "through NVSwitches" : "over direct links",
                            from_table ? " (assumed from the GPU model's SXM board: the file lists no NVLinks)" : "");
    return out;
  }
  // PCIe: the slowest GPU's own link. Links further up are not used: exports report root ports'
  // rates inconsistently (g4dn.metal's say 2 GB/s for ports that carry a x16 Gen3 GPU).
  double pcie = kUnknown;
  for (int g = 0; g < used; ++g) {
    const double link = model.nodes[static_cast<std::size_t>(model.gpus[static_cast<std::size_t>(g)])].pcie_gbs;
    if (link <= 0) {
      pcie = kUnknown;
      break;
    }
    pcie = g == 0 ? link : std::min(pcie, link);
  }
  out.endpoint = pcie;
  out.hop_us = kHopPcieUs;
  out.basis = pcie > 0 ? fmt::format("PCIe {:.1f} GB/s one way, the GPUs' own links (no NVLink between them)", pcie)
                       : "no NVLink between the GPUs and no PCIe link rate in the model: unknown inside the node";
  return out;
}

struct Inter {
  double node_gbs = kUnknown;  // W: what the node's ranks can inject, one way
  std::string basis;
};

double nic_gbs(const Node& nic, const SolInputs& inputs) {
  if (inputs.link_gbps) return *inputs.link_gbps / 8.0;
  return nic.speed_gbps / 8.0;
}

// Device runs: each GPU's nearest NIC (GPUs behind one NIC share it; several nearest NICs are taken
// in turn), every NIC counted once.
Inter device_inter(const NodeModel& model, int ranks, const SolInputs& inputs) {
  Inter out;
  const int used = std::min<int>(ranks, static_cast<int>(model.gpus.size()));
  std::map<int, int> sharers;  // NIC -> GPUs on it
  std::map<std::vector<int>, int> turn;
  for (int g = 0; g < used; ++g) {
    const auto nearest = nearest_nics(model, model.gpus[static_cast<std::size_t>(g)]);
    if (nearest.empty()) continue;
    const int pick = nearest[static_cast<std::size_t>(turn[nearest]++ % static_cast<int>(nearest.size()))];
    ++sharers[pick];
  }
  if (sharers.empty() && inputs.link_gbps) {
    out.node_gbs = *inputs.link_gbps / 8.0;
    out.basis = fmt::format("no NIC in the model: --link-gbps {} Gb/s for the node", *inputs.link_gbps);
    return out;
  }
  double total = 0;
  int unknown = 0, most_sharing = 0;
  for (const auto& [nic, count] : sharers) {
    const double gbs = nic_gbs(model.nodes[static_cast<std::size_t>(nic)], inputs);
    if (gbs <= 0) ++unknown;
    total += gbs;
    most_sharing = std::max(most_sharing, count);
  }
  if (sharers.empty() || unknown > 0) {
    out.basis = sharers.empty() ? "no NIC in the model: unknown between nodes"
                                : fmt::format("{} of {} NICs the GPUs use have no speed in the model; give --link-gbps",
                                              unknown, sharers.size());
    return out;
  }
  out.node_gbs = total;
  out.basis = fmt::format("{} NIC{} used by {} GPU{} ({} GPU{} per NIC at most), {:.1f} GB/s one way each on average, "
                          "{:.1f} in all{}",
                          sharers.size(), sharers.size() == 1 ? "" : "s", used, used == 1 ? "" : "s", most_sharing,
                          most_sharing == 1 ? "" : "s", total / static_cast<double>(sharers.size()), total,
                          inputs.link_gbps ? " (--link-gbps)" : "");
  return out;
}

// Host runs: the node's fastest NIC (RDMA ones first), shared by all its ranks.
Inter host_inter(const NodeModel& model, const SolInputs& inputs) {
  Inter out;
  if (inputs.link_gbps) {
    out.node_gbs = *inputs.link_gbps / 8.0;
    out.basis = fmt::format("--link-gbps {} Gb/s shared by the node's ranks", *inputs.link_gbps);
    return out;
  }
  const bool any_rdma = model.rdma_nic_count() > 0;
  double best = 0;
  std::string name;
  for (int nic : model.nics) {
    const Node& node = model.nodes[static_cast<std::size_t>(nic)];
    if (any_rdma && !node.rdma) continue;
    if (node.speed_gbps / 8.0 > best) {
      best = node.speed_gbps / 8.0;
      name = node.name;
    }
  }
  out.node_gbs = best;
  out.basis = best > 0 ? fmt::format("NIC {} {:.1f} GB/s one way, shared by the node's ranks", name, best)
                       : "no NIC speed in the model: unknown between nodes (give --link-gbps)";
  return out;
}

}  // namespace

const GpuModelInfo& gpu_model_named(std::string_view name) {
  std::string names;
  for (const auto& info : known_gpu_models()) {
    if (lower(info.name) == lower(name)) return info;
    names += (names.empty() ? "" : ", ") + std::string(info.name);
  }
  CCTUNE_USAGE_ERROR(fmt::format("--gpu-model {}: not a GPU cctune knows (known: {})", name, names));
}

double CollectiveSol::busbw_gbs() const { return min_known(intra_node_busbw_gbs, inter_node_busbw_gbs); }

Shape node_shape(const NodeModel& model, Medium medium) {
  // A file on its own: every GPU a rank (host: one rank per NUMA node), and a large job.
  const int per_node = medium == Medium::device ? std::max<int>(1, static_cast<int>(model.gpus.size()))
                                                : std::max<int>(1, static_cast<int>(model.numa_nodes.size()));
  return {1000, per_node};
}

SpeedOfLight speed_of_light(const NodeModel& model, Shape shape, Medium medium, const SolInputs& inputs) {
  if (shape.nodes < 1 || shape.ranks_per_node < 1) CCTUNE_THROW("speed of light: a shape needs a node and a rank");
  SpeedOfLight sol;
  sol.shape = shape;
  sol.medium = medium;
  const double n = shape.ranks(), nodes = shape.nodes, per_node = shape.ranks_per_node;
  double hop_intra = 0, hop_inter = 0;
  if (shape.ranks_per_node > 1) {
    if (medium == Medium::device) {
      const Intra intra = device_intra(model, shape.ranks_per_node, inputs);
      sol.allreduce.intra_node_busbw_gbs = intra.endpoint;
      sol.allreduce.in_switch_busbw_gbs = intra.in_switch;
      sol.alltoall.intra_node_busbw_gbs = intra.endpoint;
      hop_intra = sol.hop_intra_us = intra.hop_us;
      sol.basis.push_back("inside a node: " + intra.basis);
    } else if (inputs.memory_gbs && *inputs.memory_gbs > 0) {
      // Every rank's input read and its output written once: R*S bytes copied at M.
      const double m = *inputs.memory_gbs;
      sol.allreduce.intra_node_busbw_gbs = 2.0 * m * (per_node - 1) / (per_node * per_node);
      sol.alltoall.intra_node_busbw_gbs = m / per_node;
      sol.basis.push_back(fmt::format("inside a node: memory copy {:.1f} GB/s (measured, all cores), shared by {} ranks",
                                      m, shape.ranks_per_node));
    } else {
      sol.basis.push_back("inside a node: memory bandwidth not measured: unknown");
    }
  }
  if (shape.nodes > 1) {
    const Inter inter = medium == Medium::device ? device_inter(model, shape.ranks_per_node, inputs)
                                                 : host_inter(model, inputs);
    const double w = inter.node_gbs;
    sol.node_link_gbs = w;
    if (w > 0) {
      // Each node, as one party of an N-party allreduce, sends at least 2(N-1)/N of the data.
      sol.allreduce.inter_node_busbw_gbs = w * nodes / (nodes - 1) * (n - 1) / n;
      // Each node sends R * (n - R)/n of the buffer to ranks elsewhere.
      sol.alltoall.inter_node_busbw_gbs = w * (n - 1) / (per_node * (n - per_node));
    }
    if (medium == Medium::device) sol.hop_inter_us = kHopNetUs;
    hop_inter = w > 0 ? sol.hop_inter_us : 0;
    sol.basis.push_back("between nodes: " + inter.basis);
  }
  // The fewest sequential steps any allreduce or alltoall takes: log2 of the ranks, the intra-node
  // ones over the node's links, the rest over the network.
  const double steps_intra = std::ceil(std::log2(per_node)), steps_inter = std::ceil(std::log2(nodes));
  if (medium == Medium::device && (shape.ranks_per_node == 1 || hop_intra > 0) && (shape.nodes == 1 || hop_inter > 0)) {
    const double latency = steps_intra * hop_intra + steps_inter * hop_inter;
    sol.allreduce.latency_us = latency;
    sol.alltoall.latency_us = latency;
  } else if (medium == Medium::host) {
    sol.basis.push_back("latency: no floor for host runs from the topology (cctune plan fits one from measured runs)");
  }
  return sol;
}

SpeedOfLight speed_of_light(const ClusterView& view, Medium medium, const SolInputs& inputs) {
  Shape shape{std::max<int>(1, static_cast<int>(view.nodes.size())), 1};
  for (const auto& node : view.nodes) shape.ranks_per_node = std::max<int>(shape.ranks_per_node, static_cast<int>(node.ranks.size()));
  if (view.types.empty()) CCTUNE_THROW("speed of light: the cluster view has no node type");
  SpeedOfLight out;
  for (std::size_t t = 0; t < view.types.size(); ++t) {
    const SpeedOfLight one = speed_of_light(view.types[t].model, shape, medium, inputs);
    if (t == 0) {
      out = one;
      out.basis.clear();
    } else {
      for (Collective c : all_collectives()) {
        const CollectiveSol& theirs = one.of(c);
        CollectiveSol& ours = c == Collective::allreduce ? out.allreduce : out.alltoall;
        ours.intra_node_busbw_gbs = min_known(ours.intra_node_busbw_gbs, theirs.intra_node_busbw_gbs);
        ours.inter_node_busbw_gbs = min_known(ours.inter_node_busbw_gbs, theirs.inter_node_busbw_gbs);
        ours.in_switch_busbw_gbs = std::min(ours.in_switch_busbw_gbs, theirs.in_switch_busbw_gbs);
        if (ours.latency_us && theirs.latency_us) ours.latency_us = std::max(*ours.latency_us, *theirs.latency_us);
      }
      out.node_link_gbs = min_known(out.node_link_gbs, one.node_link_gbs);
      out.hop_intra_us = std::max(out.hop_intra_us, one.hop_intra_us);
    }
    for (const auto& line : one.basis) {
      out.basis.push_back(view.types.size() > 1 ? fmt::format("node type {}: {}", t + 1, line) : line);
    }
  }
  return out;
}

namespace {

nlohmann::ordered_json rate(double gbs) { return gbs > 0 ? nlohmann::ordered_json(gbs) : nlohmann::ordered_json(nullptr); }

nlohmann::ordered_json collective_json(const CollectiveSol& c, bool allreduce) {
  nlohmann::ordered_json j;
  j["intra_node_busbw_gbs"] = rate(c.intra_node_busbw_gbs);
  j["inter_node_busbw_gbs"] = rate(c.inter_node_busbw_gbs);
  j["latency_us"] = c.latency_us ? nlohmann::ordered_json(*c.latency_us) : nlohmann::ordered_json(nullptr);
  j["busbw_gbs"] = rate(c.busbw_gbs());
  if (allreduce) j["nvls_busbw_gbs"] = rate(c.in_switch_busbw_gbs);
  return j;
}

std::string shown_rate(double gbs) { return gbs > 0 ? fmt::format("{:.1f}", gbs) : "unknown"; }

}  // namespace

nlohmann::ordered_json to_json(const SpeedOfLight& sol) {
  nlohmann::ordered_json j;
  j["medium"] = sol.medium == Medium::device ? "device" : "host";
  j["nodes"] = sol.shape.nodes;
  j["ranks_per_node"] = sol.shape.ranks_per_node;
  j["allreduce"] = collective_json(sol.allreduce, true);
  j["alltoall"] = collective_json(sol.alltoall, false);
  j["basis"] = sol.basis;
  return j;
}

void print_speed_of_light(std::FILE* out, const SpeedOfLight& sol) {
  std::fprintf(out, "Speed of light (%s runs, %d node%s x %d rank%s; busbw bounds, GB/s):\n",
               sol.medium == Medium::device ? "GPU" : "host", sol.shape.nodes, sol.shape.nodes == 1 ? "" : "s",
               sol.shape.ranks_per_node, sol.shape.ranks_per_node == 1 ? "" : "s");
  for (Collective c : all_collectives()) {
    const CollectiveSol& one = sol.of(c);
    std::string line = fmt::format("  {:<10} inside a node {}", std::string(to_string(c)) + ":",
                                   sol.shape.ranks_per_node > 1 ? shown_rate(one.intra_node_busbw_gbs) : "-");
    if (one.in_switch_busbw_gbs > 0) line += fmt::format(" (NVLS {:.1f})", one.in_switch_busbw_gbs);
    line += fmt::format(", between nodes {}", sol.shape.nodes > 1 ? shown_rate(one.inter_node_busbw_gbs) : "-");
    if (one.latency_us) line += fmt::format(", latency floor {:.1f} us", *one.latency_us);
    std::fprintf(out, "%s\n", line.c_str());
  }
  for (const auto& line : sol.basis) std::fprintf(out, "  %s\n", line.c_str());
}

}  // namespace cctune::topology
