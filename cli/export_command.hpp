#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct ExportCommand;
ExportCommand* add_export_command(CLI::App& app);
int run_export_command(ExportCommand* command);

}  // namespace cctune::cli
