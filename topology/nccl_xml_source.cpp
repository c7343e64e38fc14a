// NCCL topology files (NCCL_TOPO_FILE / NCCL_TOPO_DUMP_FILE) into the node model.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>

#include "collectives/error.hpp"
#include "topology/file_checks.hpp"
#include "topology/sources.hpp"

namespace cctune::topology {
namespace {

class Reader {
 public:
  Reader(NodeModel& model, std::string path) : model_(model), path_(std::move(path)) {}

  void read(const pugi::xml_node& system) {
    for (pugi::xml_node cpu : system.children("cpu")) {
      const int numa = numa_attribute(cpu);
      model_.numa_nodes.push_back({numa, cpu.attribute("affinity").as_string(), 0});
      // Each <cpu> is one NUMA node with its own PCI tree; NCCL crosses between them over SYS.
      Node package{NodeKind::package};
      package.name = std::string(cpu.attribute("vendor").as_string()) + " family " +
                     cpu.attribute("familyid").as_string() + " model " + cpu.attribute("modelid").as_string();
      const int here = model_.add(std::move(package), 0);
      for (pugi::xml_node pci : cpu.children("pci")) read_pci(pci, here, numa);
      for (pugi::xml_node nic : cpu.children("nic")) read_nic(nic, here, numa);
    }
    for (const auto& link : pending_links_) {
      for (std::size_t i = 0; i < model_.nodes.size(); ++i) {
        if (model_.nodes[i].busid == link.target) model_.nvlinks.push_back({link.gpu, static_cast<int>(i), link.gbs});
      }
    }
  }

 private:
  void read_pci(const pugi::xml_node& pci, int parent, int numa) {
    Node node;
    node.busid = normalize_busid(pci.attribute("busid").as_string());
    node.pci_class = hex_attribute(pci, "class", 0xffffff) >> 8;  // "0x030200" -> 0x0302
    node.vendor_id = hex_attribute(pci, "vendor", 0xffff);
    node.device_id = hex_attribute(pci, "device", 0xffff);
    node.numa = numa;
    node.pcie_gbs = pcie_rate(pci);
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
        node.speed_gbps = speed_attribute(net);
      }
    }
    const int here = model_.add(std::move(node), parent);
    if (gpu) {
      const int sm = gpu.attribute("sm").as_int(0);
      for (pugi::xml_node link : gpu.children("nvlink")) {
        const int count = link.attribute("count").as_int(1);
        if (count < 1 || count > 64) refuse(link, "count", "not a link count from 1 to 64");
        pending_links_.push_back({here, normalize_busid(link.attribute("target").as_string()),
                                  count * nvlink_lane_gbs(sm)});
      }
    }
    for (pugi::xml_node child : pci.children("pci")) read_pci(child, here, numa);
  }

  // A <nic> straight under <cpu> (no PCI parent): NCCL's form for virtual NICs.
  void read_nic(const pugi::xml_node& nic, int parent, int numa) {
    for (pugi::xml_node net : nic.children("net")) {
      Node node{NodeKind::nic};
      node.name = net.attribute("name").as_string();
      node.speed_gbps = speed_attribute(net);
      node.numa = numa;
      node.rdma = true;
      model_.add(std::move(node), parent);
    }
  }

  [[noreturn]] void refuse(const pugi::xml_node& node, const char* name, const std::string& reason) const {
    const std::string busid = node.attribute("busid").as_string();
    CCTUNE_USAGE_ERROR(fmt::format("{}: <{}{}> {}=\"{}\": {}", path_, node.name(),
                                   busid.empty() ? "" : " busid=\"" + busid + "\"", name,
                                   node.attribute(name).as_string(), reason));
  }

  // "0x030200" as the number it is: a value past `maximum` or with stray characters is refused, never
  // truncated (strtoul took "0x1000000000" as a class and "0x02zz" as 2). Absent: 0.
  unsigned hex_attribute(const pugi::xml_node& node, const char* name, unsigned maximum) const {
    const pugi::xml_attribute attribute = node.attribute(name);
    if (!attribute) return 0;
    std::string_view text = attribute.as_string();
    if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
    unsigned long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > maximum) {
      refuse(node, name, fmt::format("not a hex number from 0 to 0x{:x}", maximum));
    }
    return static_cast<unsigned>(value);
  }

  int numa_attribute(const pugi::xml_node& cpu) const {
    const pugi::xml_attribute attribute = cpu.attribute("numaid");
    if (!attribute) return -1;
    const std::string_view text = attribute.as_string();
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < -1 || value > kMaxNumaId) {
      refuse(cpu, "numaid", fmt::format("not a whole number from -1 to {}", kMaxNumaId));
    }
    return value;
  }

  // NCCL writes Mb/s; a speed that is not a finite number from 0 to 10^9 (a petabit) is a broken file.
  double speed_attribute(const pugi::xml_node& net) const {
    if (!net.attribute("speed")) return 0;
    const double mbps = net.attribute("speed").as_double(-1);
    if (!std::isfinite(mbps) || mbps < 0 || mbps > 1e9) refuse(net, "speed", "not a speed from 0 to 1e9 Mb/s");
    return mbps / 1000.0;
  }

  // "32.0 GT/s PCIe" x link_width 16 as GB/s one way after line encoding (8b/10b up to 5 GT/s,
  // 128b/130b from 8 GT/s). 0 when either attribute is missing or unreadable.
  double pcie_rate(const pugi::xml_node& pci) const {
    const double gts = std::strtod(pci.attribute("link_speed").as_string(""), nullptr);
    const int width = pci.attribute("link_width").as_int(0);
    if (!std::isfinite(gts) || gts <= 0 || gts > 1000 || width <= 0 || width > 64) return 0;
    return gts * width / 8.0 * (gts <= 5.0 ? 0.8 : 128.0 / 130.0);
  }

  // One NVLink, one way, by the GPU's compute capability: NVLink 1 (sm_60) 20 GB/s, NVLink 2-4
  // (sm_70 to sm_90) 25 GB/s, NVLink 5 (sm_100 on) 50 GB/s. Unknown sm: NVLink 2-4's.
  static double nvlink_lane_gbs(int sm) { return sm >= 100 ? 50.0 : sm >= 70 || sm == 0 ? 25.0 : 20.0; }

  static constexpr int kMaxNumaId = 4095;
  NodeModel& model_;
  std::string path_;
  struct PendingLink {
    int gpu;
    std::string target;
    double gbs;
  };
  std::vector<PendingLink> pending_links_;
};

}  // namespace

NodeModel load_checked_nccl_xml(const CheckedXml& file, const std::string& path) {
  NodeModel model;
  model.source = "NCCL XML " + path;
  Reader(model, path).read(file.document->document_element());
  model.order_devices_by_bus();
  return model;
}

NodeModel load_nccl_xml(const std::string& path) {
  return load_checked_nccl_xml(check_xml_file(path, XmlKind::nccl), path);
}

NodeModel load_topology_xml(const std::string& path) {
  // Read once: the kind is told by the root element of the very bytes that are then loaded.
  const CheckedXml file = check_xml_file(path, XmlKind::any);
  return std::string_view(file.document->document_element().name()) == "topology" ? load_checked_hwloc_xml(file, path)
                                                                                 : load_checked_nccl_xml(file, path);
}

}  // namespace cctune::topology
