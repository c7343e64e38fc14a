#include "topology/file_checks.hpp"

#include <fmt/format.h>

#include <string_view>
#include <utility>
#include <vector>

#include "collectives/error.hpp"
#include "collectives/files.hpp"

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

CheckedXml check_xml_file(const std::string& path, XmlKind kind) {
  // The one reader of every file cctune takes: a FIFO, a device or a directory is refused, never read.
  std::string text = files::read_regular_file(path, "topology file", kMaxTopologyFileBytes);
  if (text.empty()) CCTUNE_USAGE_ERROR(path + ": empty file");
  auto document = std::make_unique<pugi::xml_document>();
  // parse_doctype keeps the DOCTYPE as a node, so that what it declares can be looked at below.
  const pugi::xml_parse_result parsed =
      document->load_buffer(text.data(), text.size(), pugi::parse_default | pugi::parse_doctype);
  if (!parsed) {
    CCTUNE_USAGE_ERROR(fmt::format("{}: not well-formed XML ({} at byte {}){}", path, parsed.description(),
                                   parsed.offset,
                                   parsed.status == pugi::status_end_element_mismatch ||
                                           parsed.status == pugi::status_unrecognized_tag
                                       ? "; truncated?"
                                       : ""));
  }
  // hwloc's XML import crashes (SIGSEGV) on a DOCTYPE with an internal subset (<!DOCTYPE topology
  // [<!ENTITY x "y">]>) and on one that names no external DTD (<!DOCTYPE topology>): it reads the DTD's
  // system id without checking that there is one. Entity declarations are also the raw material of
  // expansion attacks. hwloc itself writes <!DOCTYPE topology SYSTEM "hwloc2.dtd">; NCCL writes none.
  for (pugi::xml_node node : document->children()) {
    if (node.type() != pugi::node_doctype) continue;
    const std::string_view doctype = node.value();
    if (doctype.find('[') != std::string_view::npos) {
      CCTUNE_USAGE_ERROR(path + ": its DOCTYPE declares entities or other markup (an internal DTD subset); "
                                "topology files have none, and cctune does not read such files");
    }
    if (doctype.find("SYSTEM") == std::string_view::npos && doctype.find("PUBLIC") == std::string_view::npos) {
      CCTUNE_USAGE_ERROR(path + ": its DOCTYPE names no DTD (hwloc exports say <!DOCTYPE topology SYSTEM "
                                "\"hwloc2.dtd\">); cctune does not read such files");
    }
  }
  const pugi::xml_node root = document->document_element();
  if (!root) CCTUNE_USAGE_ERROR(path + ": no XML element in the file");
  if (const int depth = depth_of(root); depth > kMaxTopologyDepth) {
    CCTUNE_USAGE_ERROR(fmt::format("{}: elements nested more than {} deep; no real topology is", path,
                                   kMaxTopologyDepth));
  }
  const std::string name = root.name();
  if (kind == XmlKind::any) {
    if (name != "topology" && name != "system") {
      CCTUNE_USAGE_ERROR(path + ": neither an hwloc export nor an NCCL topology file (root element <" + name + ">)");
    }
    // The file is loaded as what its root says, so it gets that kind's checks too.
    kind = name == "topology" ? XmlKind::hwloc : XmlKind::nccl;
  }
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
  return {std::move(text), std::move(document)};
}

}  // namespace cctune::topology
