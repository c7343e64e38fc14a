#pragma once
// Every topology file is checked here before anything else reads it, so that a missing, empty,
// truncated, non-XML, unsupported or hostile file gets one line naming it and the reason.
#include <memory>
#include <pugixml.hpp>
#include <string>

#include "topology/model.hpp"

namespace cctune::topology {

enum class XmlKind { hwloc, nccl, any };  // any: either, by its root element

inline constexpr std::size_t kMaxTopologyFileBytes = 64u << 20;  // real exports are well under 1 MiB
inline constexpr int kMaxTopologyDepth = 64;                    // real exports nest about 15 levels

// A topology file read once, and what was checked is what is loaded: a loader given the path would
// reopen it, and a file swapped in between (a FIFO, a DOCTYPE hwloc crashes on) would skip the checks.
struct CheckedXml {
  std::string text;                              // the bytes checked, for hwloc's own parser
  std::unique_ptr<pugi::xml_document> document;  // parsed from those same bytes
};

// Reads the file once and parses it (pugixml parses iteratively: deep nesting cannot overflow the
// stack), and checks its size, depth and root element. Throws UsageError "PATH: reason".
CheckedXml check_xml_file(const std::string& path, XmlKind kind);

// The loaders behind load_hwloc_xml and load_nccl_xml, from a file check_xml_file already read.
NodeModel load_checked_hwloc_xml(const CheckedXml& file, const std::string& path);
NodeModel load_checked_nccl_xml(const CheckedXml& file, const std::string& path);

}  // namespace cctune::topology
