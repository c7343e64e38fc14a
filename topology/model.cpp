#include "topology/model.hpp"

#include <algorithm>
#include <cctype>

namespace cctune::topology {

std::string_view to_string(NodeKind kind) {
  switch (kind) {
    case NodeKind::machine: return "machine";
    case NodeKind::package: return "package";
    case NodeKind::host_bridge: return "host_bridge";
    case NodeKind::pci_switch: return "pci_switch";
    case NodeKind::gpu: return "gpu";
    case NodeKind::nic: return "nic";
    case NodeKind::nvswitch: return "nvswitch";
    case NodeKind::pci_device: return "pci_device";
  }
  return "?";
}

std::string_view to_string(PathClass path) {
  switch (path) {
    case PathClass::NVL: return "NVL";
    case PathClass::PIX: return "PIX";
    case PathClass::PXB: return "PXB";
    case PathClass::PHB: return "PHB";
    case PathClass::NODE: return "NODE";
    case PathClass::SYS: return "SYS";
  }
  return "?";
}

NodeModel::NodeModel() { nodes.push_back(Node{NodeKind::machine}); }

int NodeModel::add(Node node, int parent) {
  const int index = static_cast<int>(nodes.size());
  node.parent = parent;
  nodes.push_back(std::move(node));
  nodes[static_cast<std::size_t>(parent)].children.push_back(index);
  switch (nodes.back().kind) {
    case NodeKind::package: packages.push_back(index); break;
    case NodeKind::gpu: gpus.push_back(index); break;
    case NodeKind::nic: nics.push_back(index); break;
    case NodeKind::nvswitch: nvswitches.push_back(index); break;
    default: break;
  }
  return index;
}

int NodeModel::rdma_nic_count() const {
  return static_cast<int>(std::count_if(nics.begin(), nics.end(), [&](int n) { return nodes[n].rdma; }));
}

void NodeModel::order_devices_by_bus() {
  auto by_bus = [&](int a, int b) {
    return nodes[static_cast<std::size_t>(a)].busid < nodes[static_cast<std::size_t>(b)].busid;
  };
  std::stable_sort(gpus.begin(), gpus.end(), by_bus);
  std::stable_sort(nics.begin(), nics.end(), by_bus);
  std::stable_sort(nvswitches.begin(), nvswitches.end(), by_bus);
}

namespace {

std::vector<int> chain_to_root(const NodeModel& model, int node) {
  std::vector<int> chain;
  for (int at = node; at >= 0; at = model.nodes[static_cast<std::size_t>(at)].parent) chain.push_back(at);
  return chain;
}

bool nvlinked(const NodeModel& model, int a, int b) {
  auto linked = [&](int x, int y) {
    return std::any_of(model.nvlinks.begin(), model.nvlinks.end(), [&](const auto& link) {
      return (link.first == x && link.second == y) || (link.first == y && link.second == x);
    });
  };
  if (linked(a, b)) return true;
  // Through the NVSwitch fabric: both GPUs reach some NVSwitch.
  auto reaches_switch = [&](int gpu) {
    return std::any_of(model.nvswitches.begin(), model.nvswitches.end(), [&](int s) { return linked(gpu, s); });
  };
  return reaches_switch(a) && reaches_switch(b);
}

}  // namespace

PathClass path_class(const NodeModel& model, int a, int b) {
  const auto& nodes = model.nodes;
  if (nodes[static_cast<std::size_t>(a)].kind == NodeKind::gpu && nodes[static_cast<std::size_t>(b)].kind == NodeKind::gpu &&
      nvlinked(model, a, b)) {
    return PathClass::NVL;
  }
  const auto up_a = chain_to_root(model, a);
  const auto up_b = chain_to_root(model, b);
  int common = 0;
  for (int candidate : up_a) {
    if (std::find(up_b.begin(), up_b.end(), candidate) != up_b.end()) {
      common = candidate;
      break;
    }
  }
  int switches = 0;
  bool host_bridge = false;
  for (const auto* chain : {&up_a, &up_b}) {
    for (int at : *chain) {
      if (at == common) break;
      switches += nodes[static_cast<std::size_t>(at)].kind == NodeKind::pci_switch;
      host_bridge |= nodes[static_cast<std::size_t>(at)].kind == NodeKind::host_bridge;
    }
  }
  switch (nodes[static_cast<std::size_t>(common)].kind) {
    case NodeKind::pci_switch: return switches == 0 ? PathClass::PIX : PathClass::PXB;
    case NodeKind::host_bridge: return PathClass::PHB;
    // Same socket: across host bridges (NODE). NCCL files have no host bridges: their devices hang
    // directly off the CPU, which NCCL itself counts as one host bridge (PHB).
    case NodeKind::package: return host_bridge ? PathClass::NODE : PathClass::PHB;
    case NodeKind::machine: {
      // A machine with a single CPU-side node (no packages) behaves like one socket.
      const bool one_socket = model.packages.size() <= 1 && model.numa_nodes.size() <= 1;
      if (!one_socket) return PathClass::SYS;
      return host_bridge ? PathClass::NODE : PathClass::PHB;
    }
    default: return PathClass::PIX;  // one device below the other: nothing between them but a link
  }
}

std::vector<int> nearest_nics(const NodeModel& model, int gpu) {
  std::vector<int> candidates;
  for (int nic : model.nics) {
    if (model.nodes[static_cast<std::size_t>(nic)].rdma) candidates.push_back(nic);
  }
  if (candidates.empty()) candidates = model.nics;
  std::vector<int> nearest;
  auto best = PathClass::SYS;
  for (int nic : candidates) {
    const PathClass path = path_class(model, gpu, nic);
    if (nearest.empty() || path < best) {
      best = path;
      nearest = {nic};
    } else if (path == best) {
      nearest.push_back(nic);
    }
  }
  return nearest;
}

bool is_gpu_class(unsigned pci_class, unsigned vendor_id) {
  return vendor_id == 0x10de && (pci_class == 0x0302 || pci_class == 0x0300);
}

bool is_nic_class(unsigned pci_class) { return pci_class == 0x0207 || pci_class == 0x0200; }

bool is_bridge_class(unsigned pci_class) { return pci_class == 0x0604; }

std::string normalize_busid(std::string_view busid) {
  std::string id;
  for (char c : busid) id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // "10:1c.0" -> "0000:10:1c.0"; NCCL and hwloc both print the 4-digit domain, but not every tool does.
  if (std::count(id.begin(), id.end(), ':') == 1) id = "0000:" + id;
  return id;
}

}  // namespace cctune::topology
