#pragma once
// The node model as JSON (`cctune topo --json`, and how ranks send their models to rank 0), and its
// fingerprint: a stable hash that is equal for two machines built alike.
#include <nlohmann/json.hpp>
#include <string>

#include "topology/model.hpp"

namespace cctune::topology {

// The whole tree plus the views people read: GPUs and NICs in bus order, path classes, nearest NICs.
nlohmann::ordered_json to_json(const NodeModel& model);
// Reads what to_json wrote (the tree is enough); throws Error on a malformed document.
NodeModel model_from_json(const nlohmann::ordered_json& json);

// 16 hex digits. Covers what makes two nodes interchangeable for communication: NUMA layout, the
// devices (vendor, device id, class, model), where each sits relative to every other (path classes)
// and NVLinks. Ignores host names, serial numbers, bus numbering and discovery order.
std::string fingerprint(const NodeModel& model);

}  // namespace cctune::topology
