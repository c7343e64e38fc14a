// cctune: one executable, one subcommand per job.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/accept_command.hpp"
#include "cli/bench_command.hpp"
#include "cli/edge.hpp"
#include "cli/compare_command.hpp"
#include "cli/export_command.hpp"
#include "cli/plan_command.hpp"
#include "cli/report_command.hpp"
#include "cli/results_command.hpp"
#include "cli/topo_command.hpp"
#include "cli/tune_command.hpp"
#include "cli/verify_command.hpp"
#include "tuner/measurement_env.hpp"

int main(int argc, char** argv) {
  // cctune measures the MPI library itself: a job script that sourced a profile's env file preloads
  // libcctune-mpi.so into us too, and it must then leave our MPI_Allreduce and MPI_Alltoall alone.
  setenv("CCTUNE_MPI_SHIM", "off", 1);
  CLI::App app{"cctune: collective-communication benchmark and tuner for GPU clusters"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("cctune ") + CCTUNE_VERSION);
  auto* bench = cctune::cli::add_bench_command(app);
  auto* topo = cctune::cli::add_topo_command(app);
  auto* export_command = cctune::cli::add_export_command(app);
  auto* tune = cctune::cli::add_tune_command(app);
  auto* verify = cctune::cli::add_verify_command(app);
  auto* results = cctune::cli::add_results_command(app);
  auto* compare = cctune::cli::add_compare_command(app);
  auto* report = cctune::cli::add_report_command(app);
  auto* accept = cctune::cli::add_accept_command(app);
  auto* plan = cctune::cli::add_plan_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return cctune::cli::report_usage_error(std::string(e.what()) + " (see cctune --help)");
  }
  if (app.got_subcommand("bench") || app.got_subcommand("tune") || app.got_subcommand("verify") ||
      app.got_subcommand("accept")) {
    // Before anything loads NCCL: a measurement never runs under our own exports (the tuner plugin and
    // what it reads) unless asked; the site's own settings stay, and are said and recorded.
    const auto decision = cctune::tuner::decide_measurement_environment([](const char* name) { return std::getenv(name); },
                                                                        cctune::tuner::exported_net_peer);
    cctune::tuner::apply(decision);
    if (cctune::cli::speaks_for_job()) {
      for (const std::string& line : {decision.dropped_line(), decision.kept_line()}) {
        if (!line.empty()) std::fprintf(stderr, "%s\n", line.c_str());
      }
    }
  }
  try {
    if (app.got_subcommand("topo")) return cctune::cli::run_topo_command(topo, argc, argv);
    if (app.got_subcommand("export")) return cctune::cli::run_export_command(export_command);
    if (app.got_subcommand("results")) return cctune::cli::run_results_command(results);
    if (app.got_subcommand("compare")) return cctune::cli::run_compare_command(compare);
    if (app.got_subcommand("report")) return cctune::cli::run_report_command(report);
    if (app.got_subcommand("plan")) return cctune::cli::run_plan_command(plan);
    if (app.got_subcommand("accept")) return cctune::cli::run_accept_command(accept, argc, argv);
    if (app.got_subcommand("tune")) return cctune::cli::run_tune_command(tune, argc, argv);
    if (app.got_subcommand("verify")) return cctune::cli::run_verify_command(verify, argc, argv);
    return cctune::cli::run_bench_command(bench, argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cctune: error: %s\n", e.what());
    return cctune::cli::kFailed;
  }
}
