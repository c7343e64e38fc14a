#pragma once
// Text from files (imported logs, records, another program's database) on its way to a terminal, a
// CI comment or an XML file: nothing in it may act as a terminal escape sequence or break the format.
#include <string>
#include <string_view>

namespace cctune::results {

// `text` with every control character (C0, DEL, C1) and every byte that is not part of valid UTF-8
// replaced by '?'. Printable UTF-8 (names, "→") passes unchanged. Every printer of results uses it.
std::string printable(std::string_view text);

}  // namespace cctune::results
