// NCCL topology files (NCCL_TOPO_FILE / NCCL_TOPO_DUMP_FILE) into the node model.
#include <cstdlib>
#include <string>
#include <string_view>

#include "collectives/error.hpp"
#include "topology/file_checks.hpp"
#include "topology/sources.hpp"

namespace cctune::topology {
namespace {

unsigned hex_attribute(const pugi::xml_node& node, const char* name) {
  const char* text = node.attribute(name).as_string();
  return static_cast<unsigned>(std::strtoul(text, nullptr, 16));
}

class Reader {
 public:
  explicit Reader(NodeModel& model) : model_(model) {}

  void read(const pugi::xml_node& system) {
    for (pugi::xml_node cpu : system.children("cpu")) {
      const int numa = cpu.attribute("numaid").as_int(-1);
      model_.numa_nodes.push_back({numa, cpu.attribute("affinity").as_string(), 0});
      // Each <cpu> is one NUMA node with its own PCI tree; NCCL crosses between them over SYS.
      Node package{NodeKind::package};
      package.name = std::string(cpu.attribute("vendor").as_string()) + " family " +
                     cpu.attribute("familyid").as_string() + " model " + cpu.attribute("modelid").as_string();
      const int here = model_.add(std::move(package), 0);
      for (pugi::xml_node pci : cpu.children("pci")) read_pci(pci, here, numa);
      for (pugi::xml_node nic : cpu.children("nic")) read_nic(nic, here, numa);
    }
    for (const auto& [gpu, target] : pending_links_) {
      for (std::size_t i = 0; i < model_.nodes.size(); ++i) {
        if (model_.nodes[i].busid == target) model_.nvlinks.emplace_back(gpu, static_cast<int>(i));
      }
    }
  }

 private:
  void read_pci(const pugi::xml_node& pci, int parent, int numa) {
    Node node;
    node.busid = normalize_busid(pci.attribute("busid").as_string());
    node.pci_class = hex_attribute(pci, "class") >> 8;  // "0x030200" -> 0x0302
    node.vendor_id = hex_attribute(pci, "vendor");
    node.device_id = hex_attribute(pci, "device");
    node.numa = numa;
    const pugi::xml_node gpu = pci.child("gpu");
    const pugi::xml_node nic = pci.child("nic");
    // Files may omit the vendor (the Azure ones do): NCCL files describe NVIDIA GPUs only, and NCCL
    // itself goes by the class.
    const bool no_vendor = !pci.attribute("vendor");
    if (gpu || is_gpu_class(node.pci_class, no_vendor ? 0x10de : node.vendor_id)) {
      node.kind = NodeKind::gpu;
      node.vendor = "NVIDIA";
      if (gpu) node.name = std::string("sm_") + gpu.attribute("sm").as_string();
    } else if (node.pci_class == 0x0680 && node.vendor_id == 0x10de) {
      node.kind = NodeKind::nvswitch;
    } else if (nic || is_nic_class(node.pci_class)) {
      node.kind = NodeKind::nic;
      node.rdma = true;  // a NIC in an NCCL topology file is one NCCL's network plugin drives
    } else if (is_bridge_class(node.pci_class)) {
      node.kind = NodeKind::pci_switch;
    }
    if (nic) {
      if (pugi::xml_node net = nic.child("net")) {
        node.name = net.attribute("name").as_string();
        node.speed_gbps = net.attribute("speed").as_double() / 1000.0;  // NCCL writes Mb/s
      }
    }
    const int here = model_.add(std::move(node), parent);
    if (gpu) {
      for (pugi::xml_node link : gpu.children("nvlink")) {
        pending_links_.emplace_back(here, normalize_busid(link.attribute("target").as_string()));
      }
    }
    for (pugi::xml_node child : pci.children("pci")) read_pci(child, here, numa);
  }

  // A <nic> straight under <cpu> (no PCI parent): NCCL's form for virtual NICs.
  void read_nic(const pugi::xml_node& nic, int parent, int numa) {
    for (pugi::xml_node net : nic.children("net")) {
      Node node{NodeKind::nic};
      node.name = net.attribute("name").as_string();
      node.speed_gbps = net.attribute("speed").as_double() / 1000.0;
      node.numa = numa;
      node.rdma = true;
      model_.add(std::move(node), parent);
    }
  }

  NodeModel& model_;
  std::vector<std::pair<int, std::string>> pending_links_;
};

}  // namespace

NodeModel load_nccl_xml(const std::string& path) {
  const auto document = check_xml_file(path, XmlKind::nccl);
  NodeModel model;
  model.source = "NCCL XML " + path;
  Reader(model).read(document->document_element());
  model.order_devices_by_bus();
  return model;
}

NodeModel load_topology_xml(const std::string& path) {
  const auto document = check_xml_file(path, XmlKind::any);
  return std::string_view(document->document_element().name()) == "topology" ? load_hwloc_xml(path)
                                                                              : load_nccl_xml(path);
}

}  // namespace cctune::topology
