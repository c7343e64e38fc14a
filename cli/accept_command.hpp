#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct AcceptCommand;
AcceptCommand* add_accept_command(CLI::App& app);
int run_accept_command(AcceptCommand* command, int& argc, char**& argv);

}  // namespace cctune::cli
