#include "topology/file_checks.hpp"

#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <vector>

#include "collectives/error.hpp"

namespace cctune::topology {
namespace {

int depth_of(const pugi::xml_node& root) {
  // Iterative walk: a hostile file must not be able to exhaust our stack either.
  int deepest = 0;
  std::vector<std::pair<pugi::xml_node, int>> pending{{root, 1}};
  while (!pending.empty()) {
    auto [node, depth] = pending.back();
    pending.pop_back();
    deepest = std::max(deepest, depth);
    if (deepest > kMaxTopologyDepth) break;
    for (pugi::xml_node child : node.children()) {
      if (child.type() == pugi::node_element) pending.emplace_back(child, depth + 1);
    }
  }
  return deepest;
}

}  // namespace

std::unique_ptr<pugi::xml_document> check_xml_file(const std::string& path, XmlKind kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) CCTUNE_USAGE_ERROR(path + ": no such file");
  if (!fs::is_regular_file(status)) CCTUNE_USAGE_ERROR(path + ": not a regular file");
  const auto bytes = fs::file_size(path, ec);
  if (ec) CCTUNE_USAGE_ERROR(path + ": cannot read its size (" + ec.message() + ")");
  if (bytes == 0) CCTUNE_USAGE_ERROR(path + ": empty file");
  if (bytes > kMaxTopologyFileBytes) {
    CCTUNE_USAGE_ERROR(fmt::format("{}: {} bytes, larger than any topology file (limit {} MiB)", path, bytes,
                                   kMaxTopologyFileBytes >> 20));
  }
  auto document = std::make_unique<pugi::xml_document>();
  const pugi::xml_parse_result parsed = document->load_file(path.c_str(), pugi::parse_default);
  if (parsed.status == pugi::status_file_not_found || parsed.status == pugi::status_io_error) {
    CCTUNE_USAGE_ERROR(path + ": cannot be read");
  }
  if (!parsed) {
    CCTUNE_USAGE_ERROR(fmt::format("{}: not well-formed XML ({} at byte {}){}", path, parsed.description(),
                                   parsed.offset,
                                   parsed.status == pugi::status_end_element_mismatch ||
                                           parsed.status == pugi::status_unrecognized_tag
                                       ? "; truncated?"
                                       : ""));
  }
  const pugi::xml_node root = document->document_element();
  if (!root) CCTUNE_USAGE_ERROR(path + ": no XML element in the file");
  if (const int depth = depth_of(root); depth > kMaxTopologyDepth) {
    CCTUNE_USAGE_ERROR(fmt::format("{}: elements nested more than {} deep; no real topology is", path,
                                   kMaxTopologyDepth));
  }
  const std::string name = root.name();
  if (kind == XmlKind::hwloc) {
    if (name == "system") CCTUNE_USAGE_ERROR(path + ": this is an NCCL topology file; load it with --nccl-xml");
    if (name != "topology") CCTUNE_USAGE_ERROR(path + ": not an hwloc export (root element <" + name + ">)");
    const std::string version = root.attribute("version").as_string();
    if (!version.empty() && version.rfind("2.", 0) != 0) {
      CCTUNE_USAGE_ERROR(path + ": hwloc " + version +
                         " XML is not supported (this build reads hwloc 2.x exports; export it with hwloc 2.x)");
    }
  } else {
    if (name == "topology") CCTUNE_USAGE_ERROR(path + ": this is an hwloc export; load it with --xml");
    if (name != "system") CCTUNE_USAGE_ERROR(path + ": not an NCCL topology file (root element <" + name + ">)");
  }
  return document;
}

}  // namespace cctune::topology
