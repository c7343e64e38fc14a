#pragma once
// One `cctune accept` run across the job: every node checked against the spec, then each collective
// floor on each node alone and on the whole allocation, isolation of the slow node or rank when the
// allocation misses, and the verdicts written as they are reached (docs/acceptance.md). The command
// (cli/accept_command.cpp) parses options and prints; everything else is here.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "accept/spec.hpp"
#include "accept/verdicts.hpp"
#include "bench/options.hpp"

namespace cctune {
class Communicator;
}

namespace cctune::accept {

// The bench options that measure the spec's collectives (backend, algorithm, repetitions; the
// test-only delay). Throws UsageError; before MPI starts.
bench::BenchOptions bench_options(const Spec& spec, const std::string& inject_delay);

struct AcceptanceSettings {
  std::string json_path, junit_path;  // empty: not written
  VerdictLog::Writer write;           // whole files (write, then rename)
  double timeout_seconds = 600;       // -T: a stuck call fails the check and ends the job; 0 never
  double budget_seconds = 300;        // what isolation may take after an allocation check failed
};

// Rank 0's view of the run, for what the command prints.
struct Observer {
  std::function<void(int ranks, std::size_t nodes)> started;  // before the first verdict
  std::function<void(const Verdict&)> reached;                // each verdict, once it is on disk
};

struct Outcome {
  bool passed = false;  // every check has its verdict and none failed
  std::vector<Verdict> verdicts;
};

// Collective over `world` (every rank calls it). Outcome on rank 0, nullopt on the others. A verdict
// file that cannot be opened is a UsageError on every rank, before anything is measured.
std::optional<Outcome> run_acceptance(const Spec& spec, const bench::BenchOptions& options,
                                      const Communicator& world, const AcceptanceSettings& settings,
                                      const Observer& observer);

}  // namespace cctune::accept
