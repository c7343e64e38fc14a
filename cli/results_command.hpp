#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct ResultsCommand;
ResultsCommand* add_results_command(CLI::App& app);
int run_results_command(ResultsCommand* command);

}  // namespace cctune::cli
