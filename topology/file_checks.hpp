#pragma once
// Every topology file is checked here before anything else reads it, so that a missing, empty,
// truncated, non-XML, unsupported or hostile file gets one line naming it and the reason.
#include <memory>
#include <pugixml.hpp>
#include <string>

namespace cctune::topology {

enum class XmlKind { hwloc, nccl, any };  // any: either, by its root element

inline constexpr std::size_t kMaxTopologyFileBytes = 64u << 20;  // real exports are well under 1 MiB
inline constexpr int kMaxTopologyDepth = 64;                    // real exports nest about 15 levels

// Parses the file (pugixml parses iteratively: deep nesting cannot overflow the stack) and checks its
// size, depth and root element. Throws UsageError "PATH: reason".
std::unique_ptr<pugi::xml_document> check_xml_file(const std::string& path, XmlKind kind);

}  // namespace cctune::topology
