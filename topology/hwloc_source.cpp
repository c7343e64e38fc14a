// hwloc, live or from an XML export, into the node model.
#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <cmath>
#include <memory>
#include <sstream>

#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "topology/file_checks.hpp"
#include "topology/sources.hpp"

namespace cctune::topology {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology* topology) const { hwloc_topology_destroy(topology); }
};
using Topology = std::unique_ptr<hwloc_topology, TopologyDeleter>;

Topology make_topology() {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) CCTUNE_THROW("hwloc_topology_init failed");
  Topology topology(raw);
  // Without this, hwloc drops every PCI device and OS device, GPUs and NICs included.
  hwloc_topology_set_io_types_filter(topology.get(), HWLOC_TYPE_FILTER_KEEP_ALL);
  return topology;
}

// hwloc sets errno on some failures only: with none set, "Success" would be the reason given.
std::string hwloc_reason() {
  return errno != 0 ? std::string(std::strerror(errno)) : std::string("hwloc gave no reason");
}

const char* info(hwloc_obj_t obj, const char* name) { return hwloc_obj_get_info_by_name(obj, name); }

// The NUMA node a device is local to: the single NUMA node in its CPU-side ancestor's nodeset.
int numa_of(hwloc_topology_t topology, hwloc_obj_t obj) {
  hwloc_obj_t cpu_side = hwloc_get_non_io_ancestor_obj(topology, obj);
  if (!cpu_side || !cpu_side->nodeset || hwloc_bitmap_weight(cpu_side->nodeset) != 1) return -1;
  return hwloc_bitmap_first(cpu_side->nodeset);
}

class Builder {
 public:
  // live: the topology is this machine's, so sysfs may be asked what hwloc does not say.
  Builder(hwloc_topology_t topology, NodeModel& model, bool live) : topology_(topology), model_(model), live_(live) {}

  void build() {
    hwloc_obj_t root = hwloc_get_root_obj(topology_);
    for (int i = 0;; ++i) {
      hwloc_obj_t numa = hwloc_get_obj_by_type(topology_, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
      if (!numa) break;
      char* cpuset = nullptr;
      hwloc_bitmap_asprintf(&cpuset, numa->cpuset);
      model_.numa_nodes.push_back({static_cast<int>(numa->os_index), cpuset ? cpuset : "",
                                   numa->attr ? numa->attr->numanode.local_memory : 0});
      std::free(cpuset);
    }
    walk(root, 0, false);
    link_nvlinks();
  }

 private:
  // parent: our node; parent_is_upstream_port: the hwloc parent was a switch's upstream port, so a
  // bridge here is one of its downstream ports and belongs to the same switch.
  void walk(hwloc_obj_t obj, int parent, bool parent_is_upstream_port) {
    int here = parent;
    bool upstream_port = false;
    switch (obj->type) {
      case HWLOC_OBJ_PACKAGE: {
        Node node{NodeKind::package};
        if (const char* model = info(obj, "CPUModel")) node.name = model;
        here = model_.add(std::move(node), parent);
        break;
      }
      case HWLOC_OBJ_BRIDGE:
        if (obj->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_HOST) {
          here = model_.add(Node{NodeKind::host_bridge}, parent);
        } else if (!parent_is_upstream_port) {
          Node node{NodeKind::pci_switch};
          node.busid = busid(obj);
          node.pcie_gbs = link_rate(obj->attr->bridge.upstream.pci.linkspeed);
          here = model_.add(std::move(node), parent);
          upstream_port = true;
        }
        break;
      case HWLOC_OBJ_PCI_DEVICE:
        here = add_pci_device(obj, parent);
        break;
      default: break;  // machine, groups, caches, cores: pass through to their children
    }
    for (hwloc_obj_t child = obj->first_child; child; child = child->next_sibling) walk(child, here, false);
    for (hwloc_obj_t child = obj->io_first_child; child; child = child->next_sibling) {
      walk(child, here, upstream_port);
    }
  }

  // hwloc's link speed is GB/s after encoding; a file may hold anything there.
  static double link_rate(float speed) {
    const double gbs = static_cast<double>(speed);
    return std::isfinite(gbs) && gbs > 0 && gbs < 1e6 ? gbs : 0.0;
  }

  static std::string busid(hwloc_obj_t obj) {
    if (obj->type == HWLOC_OBJ_BRIDGE && obj->attr->bridge.upstream_type != HWLOC_OBJ_BRIDGE_PCI) return "";
    const auto& pci = obj->attr->pcidev;
    return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", pci.domain, pci.bus, pci.dev, pci.func);
  }

  int add_pci_device(hwloc_obj_t obj, int parent) {
    const auto& pci = obj->attr->pcidev;
    Node node;
    node.busid = busid(obj);
    node.pci_class = pci.class_id;
    node.vendor_id = pci.vendor_id;
    node.device_id = pci.device_id;
    node.numa = numa_of(topology_, obj);
    node.pcie_gbs = link_rate(pci.linkspeed);
    if (const char* vendor = info(obj, "PCIVendor")) node.vendor = vendor;
    if (const char* device = info(obj, "PCIDevice")) node.name = device;

    bool gpu_osdev = false, network_osdev = false, openfabrics = false;
    std::string network_name;
    for (hwloc_obj_t child = obj->io_first_child; child; child = child->next_sibling) {
      if (child->type != HWLOC_OBJ_OS_DEVICE) continue;
      const auto type = child->attr->osdev.type;
      const char* backend = info(child, "Backend");
      const bool nvidia_backend =
          backend && (std::strcmp(backend, "CUDA") == 0 || std::strcmp(backend, "NVML") == 0);
      const bool nvidia_name = child->name && (std::strncmp(child->name, "cuda", 4) == 0 ||
                                               std::strncmp(child->name, "nvml", 4) == 0);
      if ((type == HWLOC_OBJ_OSDEV_GPU || type == HWLOC_OBJ_OSDEV_COPROC) && (nvidia_backend || nvidia_name)) {
        gpu_osdev = true;
        if (const char* model = info(child, "GPUModel")) node.name = model;
        if (const char* vendor = info(child, "GPUVendor")) node.vendor = vendor;
      }
      if (type == HWLOC_OBJ_OSDEV_OPENFABRICS) {
        openfabrics = true;
        if (child->name) network_name = child->name;  // the verbs device NCCL opens (mlx5_0, rdmap...)
      } else if (type == HWLOC_OBJ_OSDEV_NETWORK) {
        network_osdev = true;
        if (network_name.empty() && child->name) network_name = child->name;
      }
    }

    if (obj->subtype && std::strcmp(obj->subtype, "NVSwitch") == 0) {
      node.kind = NodeKind::nvswitch;
    } else if (gpu_osdev || is_gpu_class(pci.class_id, pci.vendor_id)) {
      node.kind = NodeKind::gpu;
    } else if (openfabrics || network_osdev || is_nic_class(pci.class_id)) {
      node.kind = NodeKind::nic;
      node.rdma = openfabrics || pci.class_id == 0x0207;
      if (!network_name.empty()) node.name = network_name;
      if (live_ && !network_name.empty()) node.speed_gbps = nic_speed_gbps(network_name, openfabrics);
    } else {
      node.kind = NodeKind::pci_device;
    }
    const int index = model_.add(std::move(node), parent);
    by_hwloc_object_.push_back({obj, index});
    return index;
  }

  // NVLinks come from hwloc's "NVLinkBandwidth" distances matrix, when the source has one.
  void link_nvlinks() {
    unsigned count = 1;
    hwloc_distances_s* distances = nullptr;
    if (hwloc_distances_get_by_name(topology_, "NVLinkBandwidth", &count, &distances, 0) != 0 || count == 0) return;
    const unsigned n = distances->nbobjs;
    for (unsigned i = 0; i < n; ++i) {
      for (unsigned j = i + 1; j < n; ++j) {
        if (distances->values[i * n + j] == 0 && distances->values[j * n + i] == 0) continue;
        const int a = node_of(distances->objs[i]), b = node_of(distances->objs[j]);
        // hwloc gives MB/s, the pair's links together (V100: 25000 per NVLink 2 link).
        const double mbps = static_cast<double>(std::max(distances->values[i * n + j], distances->values[j * n + i]));
        if (a >= 0 && b >= 0) model_.nvlinks.push_back({a, b, std::min(mbps, 1e9) / 1000.0});
      }
    }
    hwloc_distances_release(topology_, distances);
  }

  // Distances may name the PCI device or one of its OS devices.
  int node_of(hwloc_obj_t obj) const {
    for (hwloc_obj_t at = obj; at; at = at->parent) {
      for (const auto& [known, index] : by_hwloc_object_) {
        if (known == at) return index;
      }
      if (at->type != HWLOC_OBJ_OS_DEVICE) break;
    }
    return -1;
  }

  hwloc_topology_t topology_;
  NodeModel& model_;
  bool live_;
  std::vector<std::pair<hwloc_obj_t, int>> by_hwloc_object_;
};

NodeModel from_topology(hwloc_topology_t topology, std::string source, bool live) {
  NodeModel model;
  model.source = std::move(source);
  Builder(topology, model, live).build();
  model.order_devices_by_bus();
  return model;
}

}  // namespace

double nic_speed_gbps(const std::string& name, bool verbs, const std::string& root) {
  const std::string path = verbs ? root + "/class/infiniband/" + name + "/ports/1/rate" : root + "/class/net/" + name + "/speed";
  std::string text;
  try {
    text = files::read_regular_file(path, "NIC speed", 4096);
  } catch (const UsageError&) {
    return 0;  // no such attribute: the speed is unknown
  }
  double value = 0;
  std::istringstream in(text);
  if (!(in >> value) || !std::isfinite(value) || value <= 0) return 0;  // virtual NICs report -1 or nothing
  return verbs ? value : value / 1000.0;
}

NodeModel probe_local() {
  Topology topology = make_topology();
  errno = 0;
  if (hwloc_topology_load(topology.get()) != 0) {
    CCTUNE_THROW("hwloc could not probe this machine (" + hwloc_reason() + ")");
  }
  return from_topology(topology.get(), "hwloc (live)", true);
}

NodeModel load_checked_hwloc_xml(const CheckedXml& file, const std::string& path) {
  Topology topology = make_topology();
  errno = 0;
  // The bytes that were checked, not the path: reopening it would load whatever is there by then.
  // hwloc counts the buffer's terminating NUL in its size; the file is at most 64 MiB, so it fits an int.
  if (hwloc_topology_set_xmlbuffer(topology.get(), file.text.c_str(), static_cast<int>(file.text.size() + 1)) != 0 ||
      hwloc_topology_load(topology.get()) != 0) {
    CCTUNE_USAGE_ERROR(path + ": not a topology hwloc 2.x can load (" + hwloc_reason() + ")");
  }
  return from_topology(topology.get(), "hwloc XML " + path, false);
}

NodeModel load_hwloc_xml(const std::string& path) {
  return load_checked_hwloc_xml(check_xml_file(path, XmlKind::hwloc), path);
}

}  // namespace cctune::topology
