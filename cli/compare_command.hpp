#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct CompareCommand;
CompareCommand* add_compare_command(CLI::App& app);
int run_compare_command(CompareCommand* command);

}  // namespace cctune::cli
