#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct TopoCommand;
TopoCommand* add_topo_command(CLI::App& app);
int run_topo_command(TopoCommand* command, int& argc, char**& argv);

}  // namespace cctune::cli
