#pragma once
// Where node models come from. Every loader reports a bad file as a UsageError whose message names
// the file and the reason, and never crashes on it.
#include <string>

#include "topology/model.hpp"

namespace cctune::topology {

NodeModel probe_local();                            // hwloc on this machine, I/O devices kept
NodeModel load_hwloc_xml(const std::string& path);  // `lstopo --of xml` export (hwloc 2.x)
NodeModel load_nccl_xml(const std::string& path);   // NCCL_TOPO_FILE format

}  // namespace cctune::topology
