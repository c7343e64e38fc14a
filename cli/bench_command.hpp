#pragma once
#include <CLI/CLI.hpp>

namespace cctune::cli {

// Adds `cctune bench` to the app; the returned callback runs it after parsing.
struct BenchCommand;
BenchCommand* add_bench_command(CLI::App& app);
int run_bench_command(BenchCommand* command, int& argc, char**& argv);

}  // namespace cctune::cli
