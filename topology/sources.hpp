#pragma once
// Where node models come from. Every loader reports a bad file as a UsageError whose message names
// the file and the reason, and never crashes on it.
#include <string>

#include "topology/model.hpp"

namespace cctune::topology {

NodeModel probe_local();                            // hwloc on this machine, I/O devices kept
NodeModel load_hwloc_xml(const std::string& path);  // `lstopo --of xml` export (hwloc 2.x)
NodeModel load_nccl_xml(const std::string& path);   // NCCL_TOPO_FILE format
// Either of the two, by the file's root element (<topology> or <system>).
NodeModel load_topology_xml(const std::string& path);

// A live NIC's port rate in Gb/s, from sysfs (hwloc does not export it): for a verbs device
// ROOT/class/infiniband/NAME/ports/1/rate ("400 Gb/sec (4X NDR)"), for an Ethernet interface
// ROOT/class/net/NAME/speed (Mb/s). 0 when unknown. root is "/sys" except in tests.
double nic_speed_gbps(const std::string& name, bool verbs, const std::string& root = "/sys");

}  // namespace cctune::topology
