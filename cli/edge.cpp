#include "cli/edge.hpp"

#include <cstdio>

#include "collectives/bootstrap.hpp"

namespace cctune::cli {

bool speaks_for_job() { return launcher_rank().value_or(0) == 0; }

void report_usage_error(std::string_view message) {
  if (!speaks_for_job() || message.empty()) return;
  std::fprintf(stderr, "cctune: error: %.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace cctune::cli
