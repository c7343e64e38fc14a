#include "topology/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "topology/serialize.hpp"

namespace cctune::topology {
namespace {

std::string gib(std::uint64_t bytes) { return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1ull << 30)); }

const Node& at(const NodeModel& model, int index) { return model.nodes[static_cast<std::size_t>(index)]; }

// Files may not name the device (NCCL files rarely do): then its PCI ids say what it is, and when
// even those are missing, `fallback` does.
std::string device_label(const Node& node, const std::string& fallback) {
  if (!node.name.empty()) return node.name;
  if (node.vendor_id != 0 || node.device_id != 0) return fmt::format("{:04x}:{:04x}", node.vendor_id, node.device_id);
  return fallback;
}

std::string nic_label(const NodeModel& model, int nic) {
  const Node& node = at(model, nic);
  std::string label = device_label(node, node.busid);
  if (node.speed_gbps > 0) label += fmt::format(" {:g} Gb/s", node.speed_gbps);
  if (!node.rdma) label += " (no RDMA)";
  return label;
}

}  // namespace

void print_node(std::FILE* out, const NodeModel& model) {
  fmt::print(out, "  source: {}\n  fingerprint: {}\n", model.source, fingerprint(model));
  std::string numa;
  for (const auto& n : model.numa_nodes) {
    numa += fmt::format("{}{}{}", numa.empty() ? "" : ", ", n.os_index,
                        n.memory_bytes ? " (" + gib(n.memory_bytes) + ")" : "");
  }
  fmt::print(out, "  packages: {}, NUMA nodes: {}{}\n", model.packages.size(), model.numa_nodes.size(),
             numa.empty() ? "" : " [" + numa + "]");
  // Devices the source names without a class (and without <gpu>/<nic> below them): they may be GPUs
  // or NICs, so "none" would be a guess.
  const auto unclassified = static_cast<std::size_t>(std::count_if(
      model.nodes.begin(), model.nodes.end(),
      [](const Node& node) { return node.kind == NodeKind::pci_device && node.pci_class == 0; }));
  const std::string unknown =
      unclassified == 0 ? ""
                        : fmt::format("{} PCI device{} could not be classified (the source gives no class, nor "
                                      "<gpu> or <nic> below {})",
                                      unclassified, unclassified == 1 ? "" : "s", unclassified == 1 ? "it" : "them");
  if (model.gpus.empty() && unclassified != 0) {
    fmt::print(out, "  GPUs: none recognised; {}: some may be GPUs.\n", unknown);
  } else if (model.gpus.empty()) {
    fmt::print(out, "  GPUs: none. This node has no NVIDIA GPU; only the MPI backend applies here.\n");
  } else {
    std::map<std::string, int> models;
    for (int gpu : model.gpus) ++models[device_label(at(model, gpu), "model not in the file")];
    std::string list;
    for (const auto& [name, count] : models) list += fmt::format("{}{} x {}", list.empty() ? "" : ", ", count, name);
    fmt::print(out, "  GPUs: {} ({}){}\n", model.gpus.size(), list,
               model.nvswitches.empty() ? "" : fmt::format(", {} NVSwitches", model.nvswitches.size()));
  }
  if (model.nics.empty()) {
    fmt::print(out, "  NICs: none{}\n", unclassified == 0 ? "" : " recognised (see the unclassified devices above)");
  } else {
    std::string list;
    for (int nic : model.nics) list += (list.empty() ? "" : ", ") + nic_label(model, nic);
    fmt::print(out, "  NICs: {} ({} RDMA): {}\n", model.nics.size(), model.rdma_nic_count(), list);
  }
  if (unclassified != 0 && !model.gpus.empty()) fmt::print(out, "  Also: {}.\n", unknown);
  if (model.gpus.empty()) return;

  // The matrix, nvidia-smi style.
  std::string header = fmt::format("  {:<6}", "");
  for (std::size_t g = 0; g < model.gpus.size(); ++g) header += fmt::format(" {:>5}", fmt::format("GPU{}", g));
  for (std::size_t n = 0; n < model.nics.size(); ++n) header += fmt::format(" {:>5}", fmt::format("NIC{}", n));
  fmt::print(out, "\n{}  {:>4}  {}\n", header, "NUMA", "nearest NIC");
  for (std::size_t g = 0; g < model.gpus.size(); ++g) {
    const int gpu = model.gpus[g];
    std::string line = fmt::format("  {:<6}", fmt::format("GPU{}", g));
    for (int other : model.gpus) line += fmt::format(" {:>5}", other == gpu ? "X" : to_string(path_class(model, gpu, other)));
    for (int nic : model.nics) line += fmt::format(" {:>5}", to_string(path_class(model, gpu, nic)));
    std::string nearest;
    for (int nic : nearest_nics(model, gpu)) {
      const auto number = std::find(model.nics.begin(), model.nics.end(), nic) - model.nics.begin();
      nearest += fmt::format("{}NIC{}", nearest.empty() ? "" : ",", number);
    }
    const int affinity = at(model, gpu).numa;
    fmt::print(out, "{}  {:>4}  {}\n", line, affinity >= 0 ? std::to_string(affinity) : "N/A",
               nearest.empty() ? "-" : nearest);
  }
  if (!model.nics.empty()) {
    fmt::print(out, "\n");
    for (std::size_t n = 0; n < model.nics.size(); ++n) {
      fmt::print(out, "  NIC{}: {} [{}]\n", n, nic_label(model, model.nics[n]), at(model, model.nics[n]).busid);
    }
  }
}

void print_legend(std::FILE* out) {
  fmt::print(out,
             "\nLegend (nearest first):\n"
             "  NVL  = connected by NVLink (directly or through NVSwitches)\n"
             "  PIX  = through one PCIe switch\n"
             "  PXB  = through several PCIe switches, without crossing a host bridge\n"
             "  PHB  = through a PCIe host bridge (the CPU's root complex)\n"
             "  NODE = across host bridges within one NUMA node / socket\n"
             "  SYS  = across the link between sockets (QPI/UPI, Infinity Fabric)\n");
}

void print_cluster(std::FILE* out, const ClusterView& view) {
  std::string per_node;
  for (const auto& node : view.nodes) per_node += fmt::format("{}{}", per_node.empty() ? "" : ", ", node.ranks.size());
  fmt::print(out, "cctune topo: {} node{}, {} rank{} (ranks per node: {}{})\n", view.nodes.size(),
             view.nodes.size() == 1 ? "" : "s", view.ranks.size(), view.ranks.size() == 1 ? "" : "s", per_node,
             view.even_ranks_per_node() ? "" : ", UNEVEN");
  if (view.homogeneous()) {
    fmt::print(out, "All nodes are built alike (one fingerprint).\n");
  } else {
    fmt::print(out, "HETEROGENEOUS: {} node types.\n", view.types.size());
  }
  for (std::size_t t = 0; t < view.types.size(); ++t) {
    const NodeType& type = view.types[t];
    std::string hosts;
    for (int n : type.nodes) hosts += (hosts.empty() ? "" : " ") + view.nodes[static_cast<std::size_t>(n)].host;
    fmt::print(out, "\nNode type {} ({} node{}: {})\n", t + 1, type.nodes.size(), type.nodes.size() == 1 ? "" : "s", hosts);
    print_node(out, type.model);
  }
  fmt::print(out, "\nRanks:\n");
  for (const auto& r : view.ranks) {
    fmt::print(out, "  rank {:>4}  host {}  local rank {}  GPU {}\n", r.rank, r.host, r.local_rank,
               r.gpu_busid.empty() ? "none" : r.gpu_busid);
  }
}

}  // namespace cctune::topology
