#include "topology/nccl_xml_export.hpp"

#include <fmt/format.h>
#include <pugixml.hpp>

#include <algorithm>
#include <sstream>

namespace cctune::topology {
namespace {

// Built as a pugixml document, which escapes every attribute value: names come from the system (a
// Linux interface may be called a"<b>&c) and must not be able to break or add to the file NCCL reads.
class Writer {
 public:
  explicit Writer(const NodeModel& model) : model_(model) {}

  std::string write() {
    pugi::xml_node system = document_.append_child("system");
    system.append_attribute("version") = "1";
    const Node& machine = model_.nodes[0];
    std::vector<int> loose;  // devices attached to the machine itself, outside any package
    for (int child : machine.children) {
      if (model_.nodes[static_cast<std::size_t>(child)].kind == NodeKind::package) {
        cpu(system, child, {child});
      } else {
        loose.push_back(child);
      }
    }
    if (!loose.empty()) cpu(system, -1, loose);
    std::ostringstream out;
    // Start and end tags even for empty elements: NCCL's own small parser reads <a ...></a> for sure.
    document_.save(out, "  ", pugi::format_indent | pugi::format_no_declaration | pugi::format_no_empty_element_tags);
    return out.str();
  }

  static void attributes(pugi::xml_node node, std::initializer_list<std::pair<const char*, std::string>> list) {
    for (const auto& [name, value] : list) node.append_attribute(name) = value.c_str();
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

  void cpu(pugi::xml_node system, int package, const std::vector<int>& roots) {
    int numa = -1;
    for (int root : roots) {
      if (numa < 0) numa = numa_below(root);
    }
    if (numa < 0) numa = package < 0 ? 0 : static_cast<int>(std::find(model_.packages.begin(), model_.packages.end(), package) - model_.packages.begin());
    std::string affinity;
    for (const auto& n : model_.numa_nodes) {
      if (n.os_index == numa) affinity = n.cpuset;
    }
    pugi::xml_node element_cpu = system.append_child("cpu");
    attributes(element_cpu, {{"numaid", std::to_string(numa)}, {"affinity", affinity}, {"arch", "x86_64"}});
    for (int root : roots) {
      const Node& node = model_.nodes[static_cast<std::size_t>(root)];
      if (root == package) {
        for (int child : node.children) element(element_cpu, child);
      } else {
        element(element_cpu, root);
      }
    }
  }

  void element(pugi::xml_node parent, int index) {
    const Node& node = model_.nodes[static_cast<std::size_t>(index)];
    switch (node.kind) {
      case NodeKind::host_bridge:
      case NodeKind::package:
      case NodeKind::machine:
        for (int child : node.children) element(parent, child);
        return;
      case NodeKind::pci_switch: {
        if (node.children.empty()) return;
        pugi::xml_node pci = parent.append_child("pci");
        attributes(pci, {{"busid", busid_or_virtual(node)}, {"class", "0x060400"}});
        for (int child : node.children) element(pci, child);
        return;
      }
      case NodeKind::gpu:
      case NodeKind::nvswitch: {
        // Sources may leave class and vendor out (trimmed exports); the kind says what they must be.
        const unsigned fallback_class = node.kind == NodeKind::gpu ? 0x0302u : 0x0680u;
        attributes(parent.append_child("pci"),
                   {{"busid", node.busid},
                    {"class", fmt::format("0x{:04x}00", node.pci_class ? node.pci_class : fallback_class)},
                    {"vendor", fmt::format("0x{:04x}", node.vendor_id ? node.vendor_id : 0x10deu)},
                    {"device", fmt::format("0x{:04x}", node.device_id)}});
        return;
      }
      case NodeKind::nic: {
        pugi::xml_node pci = parent.append_child("pci");
        attributes(pci, {{"busid", node.busid},
                         {"class", fmt::format("0x{:04x}00", node.pci_class ? node.pci_class : 0x0207u)},
                         {"vendor", fmt::format("0x{:04x}", node.vendor_id)},
                         {"device", fmt::format("0x{:04x}", node.device_id)}});
        attributes(pci.append_child("nic").append_child("net"),
                   {{"name", node.name},
                    {"dev", std::to_string(nic_number(index))},
                    {"speed", std::to_string(static_cast<long>(node.speed_gbps * 1000))}});
        return;
      }
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
  pugi::xml_document document_;
  int virtual_switches_ = 0;
};

}  // namespace

std::string export_nccl_xml(const NodeModel& model) { return Writer(model).write(); }

}  // namespace cctune::topology
