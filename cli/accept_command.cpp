// `cctune accept --spec SPEC`: the options, checked before MPI starts, and the verdicts printed as
// accept::run_acceptance reaches them (the run itself is in accept/acceptance.cpp, docs/acceptance.md).
// Exit 0 only when every check passed.
#include "cli/accept_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "accept/acceptance.hpp"
#include "accept/spec.hpp"
#include "accept/verdicts.hpp"
#include "bench/options.hpp"
#include "bench/text_writer.hpp"
#include "cli/edge.hpp"
#include "collectives/bootstrap.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "cli/sol_options.hpp"

namespace cctune::cli {

struct AcceptCommand {
  std::string spec;
  double budget_seconds = 300;
  double timeout_seconds = 600;
  std::string inject_delay;
  SolOptions sol;
  topology::SolInputs sol_inputs;
  std::string json = "cctune-accept.json";
  std::string junit = "cctune-accept.xml";
  std::string drain_list;  // empty: not written
};

AcceptCommand* add_accept_command(CLI::App& app) {
  static AcceptCommand command;
  auto* sub = app.add_subcommand("accept", "Check every node and the collectives against an acceptance spec; "
                                           "a verdict per node and check");
  sub->add_option("--spec", command.spec, "The acceptance spec (YAML, docs/acceptance.md)")->required();
  sub->add_option("--json", command.json, "Verdicts as JSON, rewritten as each is reached")->capture_default_str();
  sub->add_option("--junit", command.junit, "Verdicts as JUnit XML, rewritten as each is reached")
      ->capture_default_str();
  sub->add_option("--drain-list", command.drain_list,
                  "Write the nodes to take out of service, one line each: host, fault codes, reason "
                  "(slurm/accept.sbatch drains them with DRAIN=1); an empty file when none");
  sub->add_option("-T,--timeout", command.timeout_seconds,
                  "Fail the check in progress and end the job when a collective call is stuck this long, "
                  "naming the ranks that had not arrived (0: never)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  sub->add_option("--budget", command.budget_seconds,
                  "Seconds that isolating the slow node or rank may take after a whole-allocation check fails")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  command.sol.add_to(sub);
  sub->add_option("--inject-delay", command.inject_delay,
                  "Testing only: RANK:SECONDS[:MIN_SIZE] makes that rank sleep in each timed call")
      ->group("Testing");
  return &command;
}

namespace {

void print(const accept::Verdict& v) {
  fmt::print("  {:<14} {:<40} {:<7} {:>20} {:>18}  {}\n", v.subject, v.check, to_string(v.status),
             v.measured.empty() ? "-" : v.measured, v.expected.empty() ? "-" : v.expected,
             v.fault.empty() ? v.detail : v.fault + (v.detail.empty() ? "" : ": " + v.detail));
  std::fflush(stdout);
}

}  // namespace

int run_accept_command(AcceptCommand* command, int& argc, char**& argv) {
  accept::Spec spec;
  bench::BenchOptions options;
  try {
    // CLI::Range lets NaN through (every comparison with it is false).
    for (const auto& [option, value] :
         {std::pair{"-T", command->timeout_seconds}, std::pair{"--budget", command->budget_seconds}}) {
      if (!(value >= 0 && value <= 86400)) {
        throw UsageError(fmt::format("{} {} must be a number of seconds from 0 to 86400", option, value), __FILE__,
                         __LINE__);
      }
    }
    command->sol_inputs = command->sol.inputs();
    spec = accept::read_spec(command->spec);
    options = accept::bench_options(spec, command->spec, command->inject_delay);
    accept::check_runnable(spec, command->spec, size_of(options.type), to_string(options.type), 0);
    // Outputs are checked here, before MPI starts, and first written once every check that can refuse
    // the run has passed: a refused run leaves an earlier run's files as they were.
    bench::refuse_same_output("--json", command->json, "--junit", command->junit);
    bench::refuse_same_output("--spec", command->spec, "--json", command->json);
    bench::refuse_same_output("--spec", command->spec, "--junit", command->junit);
    if (!command->drain_list.empty()) {
      for (const auto& [name, path] : {std::pair{"--spec", command->spec}, std::pair{"--json", command->json},
                                       std::pair{"--junit", command->junit}}) {
        bench::refuse_same_output(name, path, "--drain-list", command->drain_list);
      }
    }
    // Only rank 0 writes, so only it checks (see tune's check_outputs).
    if (speaks_for_job() && !command->json.empty()) files::check_output_file(command->json, "--json");
    if (speaks_for_job() && !command->junit.empty()) files::check_output_file(command->junit, "--junit");
    if (speaks_for_job() && !command->drain_list.empty()) {
      files::check_output_file(command->drain_list, "--drain-list");
    }
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }

  pin_to_one_cpu_if_unbound();
  MpiRuntime mpi(argc, argv, command->timeout_seconds > 0);
  return run_mpi_job([&](int& rank) {
    Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
    rank = world.rank();
    // Checks that need the rank count, alike on every rank, before any file is written.
    bench::check_against_world(options, world.size());
    accept::check_runnable(spec, command->spec, size_of(options.type), to_string(options.type), world.size());
    accept::AcceptanceSettings settings{command->json, command->junit, command->drain_list,
                                 [](const std::string& path, const std::string& text) { write_file_atomically(path, text); },
                                 command->timeout_seconds, command->budget_seconds, command->sol_inputs};
    accept::Observer observer;
    observer.started = [&](int ranks, std::size_t nodes) {
      fmt::print("# cctune accept {}: {} ranks on {} node(s)\n", command->spec, ranks, nodes);
      fmt::print("# {:<14} {:<40} {:<7} {:>20} {:>18}  {}\n", "subject", "check", "verdict", "measured", "expected",
                 "fault / detail");
    };
    observer.reached = print;
    const std::optional<accept::Outcome> outcome = accept::run_acceptance(spec, options, world, settings, observer);
    if (!outcome) return static_cast<int>(kOk);
    const bool passed = outcome->passed;
    const auto& all = outcome->verdicts;
    if (!outcome->drain_error.empty()) {
      fmt::print(stderr, "cctune: error: {} (the verdict files are whole)\n", outcome->drain_error);
      return static_cast<int>(kFailed);
    }
    const auto count = [&](accept::Status s) {
      return std::count_if(all.begin(), all.end(), [&](const accept::Verdict& v) { return v.status == s; });
    };
    const auto warnings = count(accept::Status::warn);
    const std::string headline = !passed       ? "NOT ACCEPTED"
                                 : warnings > 0 ? fmt::format("ACCEPTED with {} warning{}", warnings, warnings == 1 ? "" : "s")
                                               : "ACCEPTED";
    fmt::print("# {}: {} passed, {}{} failed, {} skipped; verdicts in {} and {}\n", headline,
               count(accept::Status::pass), warnings > 0 ? fmt::format("{} warned, ", warnings) : "",
               count(accept::Status::fail), count(accept::Status::skip), command->json, command->junit);
    if (const auto failure = bench::write_failure(stdout, "standard output")) {
      fmt::print(stderr, "cctune: error: {} (the verdict files are whole)\n", *failure);
      return static_cast<int>(kFailed);
    }
    return static_cast<int>(passed ? kOk : kFailed);
  });
}

}  // namespace cctune::cli
