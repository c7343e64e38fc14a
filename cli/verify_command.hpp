#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

struct VerifyCommand;
VerifyCommand* add_verify_command(CLI::App& app);
int run_verify_command(VerifyCommand* command, int& argc, char**& argv);

}  // namespace cctune::cli
