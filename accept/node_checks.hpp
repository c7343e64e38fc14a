#pragma once
// What a node must have, checked against its topology model: one verdict per check the spec names.
#include <string>
#include <vector>

#include "accept/spec.hpp"
#include "accept/verdicts.hpp"
#include "topology/model.hpp"

namespace cctune::accept {

std::vector<Verdict> check_node(const NodeSpec& spec, const topology::NodeModel& model, const std::string& host);

}  // namespace cctune::accept
