#pragma once
// One node model, whatever it was read from (hwloc live, an hwloc XML export, an NCCL topology
// file): the CPU side (machine, packages, NUMA nodes) and the PCI tree below it, with the GPUs, NICs
// and NVSwitches cctune cares about, and the NVLinks between them.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cctune::topology {

enum class NodeKind { machine, package, host_bridge, pci_switch, gpu, nic, nvswitch, pci_device };
std::string_view to_string(NodeKind kind);

// nvidia-smi's and NCCL's path classes, nearest first.
enum class PathClass { NVL, PIX, PXB, PHB, NODE, SYS };
std::string_view to_string(PathClass path);

struct Node {
  Node() = default;
  explicit Node(NodeKind node_kind) : kind(node_kind) {}

  NodeKind kind = NodeKind::pci_device;
  int parent = -1;
  std::vector<int> children;
  std::string busid;   // PCI devices, switches: "dddd:bb:dd.f", lower case
  std::string name;    // GPU model, NIC name (mlx5_0, rdmap197s0), package name
  std::string vendor;  // GPU/NIC vendor as the source names it
  unsigned pci_class = 0;  // class and subclass, 16 bits (0x0302 3D controller, 0x0207 InfiniBand)
  unsigned vendor_id = 0, device_id = 0;
  int numa = -1;            // NUMA node (os index) the device is attached to; -1 unknown
  double speed_gbps = 0;    // NIC port rate when the source says (Gb/s)
  bool rdma = false;        // NIC usable by NCCL's network plugins (InfiniBand/RoCE verbs, EFA)
  double pcie_gbs = 0;      // PCIe link rate towards the parent, one way, GB/s (after encoding); 0 unknown
};

// NVLinks between two devices (GPU-GPU or GPU-NVSwitch), all their links together.
struct NvLink {
  int first = -1, second = -1;  // indices into NodeModel::nodes
  double gbs = 0;               // one way, GB/s, summed over the pair's links; 0 when the source does not say
};

struct NumaNode {
  int os_index = -1;
  std::string cpuset;             // as the source prints it (hwloc bitmap or NCCL affinity mask)
  std::uint64_t memory_bytes = 0;  // 0 when the source does not say
};

struct NodeModel {
  std::string source;  // "hwloc (live)", "hwloc XML FILE", "NCCL XML FILE"
  std::vector<Node> nodes;  // nodes[0] is the machine
  std::vector<NumaNode> numa_nodes;
  std::vector<int> packages, gpus, nics, nvswitches;  // indices into nodes, in discovery order
  std::vector<NvLink> nvlinks;                        // GPU/NVSwitch pairs joined by NVLink

  NodeModel();
  // Appends a node under `parent` and files it in the kind's list.
  int add(Node node, int parent);
  int rdma_nic_count() const;
  // GPUs and NICs numbered in PCI bus order, as nvidia-smi and CUDA_DEVICE_ORDER=PCI_BUS_ID do.
  void order_devices_by_bus();
};

// The path class between two devices (GPU-GPU or GPU-NIC), computed by walking parent chains to
// their lowest common ancestor. (hwloc_get_common_ancestor_obj cannot be used on I/O objects.)
PathClass path_class(const NodeModel& model, int a, int b);

// The RDMA NICs (all NICs when none is RDMA) at the nearest path class from this GPU.
std::vector<int> nearest_nics(const NodeModel& model, int gpu);

// PCI class and vendor rules shared by the loaders.
bool is_gpu_class(unsigned pci_class, unsigned vendor_id);
bool is_nic_class(unsigned pci_class);
bool is_bridge_class(unsigned pci_class);
std::string normalize_busid(std::string_view busid);

}  // namespace cctune::topology
