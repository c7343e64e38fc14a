#pragma once
#include <string>

#include "topology/model.hpp"

namespace cctune::topology {

// An NCCL topology file (NCCL_TOPO_FILE) describing the model: one <cpu> per package (or one for the
// whole machine when the source has no packages), the PCI switches, GPUs and NICs below it. Host
// bridges are not part of NCCL's format: their children hang off the <cpu>, as in NCCL's own dumps.
std::string export_nccl_xml(const NodeModel& model);

}  // namespace cctune::topology
