#pragma once
// `cctune report`: one self-contained HTML file (inline SVG and CSS, nothing fetched) that shows runs
// as curves: bus bandwidth against message size per algorithm, tuned against default, latency
// percentiles, and the nodes the runs ran on.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "results/record.hpp"

namespace cctune::results {

struct ReportOptions {
  std::string title = "cctune report";
  std::string generated;                 // when, for the header
  std::string cctune_version;
  std::optional<nlohmann::json> topology;  // `cctune topo --json` output: one node model or a cluster view
};

std::string render_report(const std::vector<Record>& runs, const ReportOptions& options);

}  // namespace cctune::results
