#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct PlanCommand;
PlanCommand* add_plan_command(CLI::App& app);
int run_plan_command(PlanCommand* command);

}  // namespace cctune::cli
