#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct TuneCommand;
TuneCommand* add_tune_command(CLI::App& app);
int run_tune_command(TuneCommand* command, int& argc, char**& argv);

}  // namespace cctune::cli
