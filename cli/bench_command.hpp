#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

// Adds `cctune bench` to the app; run_bench_command runs it once the command line is parsed.
struct BenchCommand;
BenchCommand* add_bench_command(CLI::App& app);
int run_bench_command(BenchCommand* command, int& argc, char**& argv);

}  // namespace cctune::cli
