#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct ReportCommand;
ReportCommand* add_report_command(CLI::App& app);
int run_report_command(ReportCommand* command);

}  // namespace cctune::cli
