#include "topology/nccl_xml_export.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace cctune::topology {
namespace {

class Writer {
 public:
  explicit Writer(const NodeModel& model) : model_(model) {}

  std::string write() {
    out_ << "<system version=\"1\">\n";
    const Node& machine = model_.nodes[0];
    std::vector<int> loose;  // devices attached to the machine itself, outside any package
    for (int child : machine.children) {
      if (model_.nodes[static_cast<std::size_t>(child)].kind == NodeKind::package) {
        cpu(child, {child});
      } else {
        loose.push_back(child);
      }
    }
    if (!loose.empty()) cpu(-1, loose);
    out_ << "</system>\n";
    return out_.str();
  }

 private:
  // numaid: the NUMA node of the first device below, which the loaders record on every device.
  int numa_below(int index) const {
    const Node& node = model_.nodes[static_cast<std::size_t>(index)];
    if (node.numa >= 0) return node.numa;
    for (int child : node.children) {
      if (const int numa = numa_below(child); numa >= 0) return numa;
    }
    return -1;
  }

  void cpu(int package, const std::vector<int>& roots) {
    int numa = -1;
    for (int root : roots) {
      if (numa < 0) numa = numa_below(root);
    }
    if (numa < 0) numa = package < 0 ? 0 : static_cast<int>(std::find(model_.packages.begin(), model_.packages.end(), package) - model_.packages.begin());
    std::string affinity;
    for (const auto& n : model_.numa_nodes) {
      if (n.os_index == numa) affinity = n.cpuset;
    }
    out_ << fmt::format("  <cpu numaid=\"{}\" affinity=\"{}\" arch=\"x86_64\">\n", numa, affinity);
    for (int root : roots) {
      const Node& node = model_.nodes[static_cast<std::size_t>(root)];
      if (root == package) {
        for (int child : node.children) element(child, 2);
      } else {
        element(root, 2);
      }
    }
    out_ << "  </cpu>\n";
  }

  void element(int index, int depth) {
    const Node& node = model_.nodes[static_cast<std::size_t>(index)];
    const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
    switch (node.kind) {
      case NodeKind::host_bridge:
      case NodeKind::package:
      case NodeKind::machine:
        for (int child : node.children) element(child, depth);
        return;
      case NodeKind::pci_switch:
        if (node.children.empty()) return;
        out_ << fmt::format("{}<pci busid=\"{}\" class=\"0x060400\">\n", indent, busid_or_virtual(node));
        for (int child : node.children) element(child, depth + 1);
        out_ << indent << "</pci>\n";
        return;
      case NodeKind::gpu:
      case NodeKind::nvswitch: {
        // Sources may leave class and vendor out (trimmed exports); the kind says what they must be.
        const unsigned fallback_class = node.kind == NodeKind::gpu ? 0x0302u : 0x0680u;
        out_ << fmt::format("{}<pci busid=\"{}\" class=\"0x{:04x}00\" vendor=\"0x{:04x}\" device=\"0x{:04x}\"/>\n",
                            indent, node.busid, node.pci_class ? node.pci_class : fallback_class,
                            node.vendor_id ? node.vendor_id : 0x10deu, node.device_id);
        return;
      }
      case NodeKind::nic:
        out_ << fmt::format("{}<pci busid=\"{}\" class=\"0x{:04x}00\" vendor=\"0x{:04x}\" device=\"0x{:04x}\">\n",
                            indent, node.busid, node.pci_class ? node.pci_class : 0x0207u, node.vendor_id,
                            node.device_id);
        out_ << fmt::format("{}  <nic>\n{}    <net name=\"{}\" dev=\"{}\" speed=\"{}\"/>\n{}  </nic>\n", indent, indent,
                            node.name, nic_number(index), static_cast<long>(node.speed_gbps * 1000), indent);
        out_ << indent << "</pci>\n";
        return;
      case NodeKind::pci_device:
        return;  // storage, USB and the like: nothing NCCL uses
    }
  }

  // hwloc gives switch ports real bus ids; NCCL's virtual switches use ffff:ff:NN.0, so do we when none.
  std::string busid_or_virtual(const Node& node) {
    if (!node.busid.empty()) return node.busid;
    return fmt::format("ffff:ff:{:02x}.0", ++virtual_switches_);
  }

  int nic_number(int index) const {
    return static_cast<int>(std::find(model_.nics.begin(), model_.nics.end(), index) - model_.nics.begin());
  }

  const NodeModel& model_;
  std::ostringstream out_;
  int virtual_switches_ = 0;
};

}  // namespace

std::string export_nccl_xml(const NodeModel& model) { return Writer(model).write(); }

}  // namespace cctune::topology
