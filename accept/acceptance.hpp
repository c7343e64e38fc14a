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

#include "accept/isolation.hpp"
#include "accept/spec.hpp"
#include "topology/speed_of_light.hpp"
#include "accept/verdicts.hpp"
#include "bench/options.hpp"

namespace cctune {
class Communicator;
}

namespace cctune::accept {

// The bench options that measure the spec's collectives (backend, algorithm, repetitions; the
// test-only delay). Throws UsageError; before MPI starts.
bench::BenchOptions bench_options(const Spec& spec, const std::string& spec_path, const std::string& inject_delay);

struct AcceptanceSettings {
  std::string json_path, junit_path;  // empty: not written
  std::string drain_path;             // --drain-list: after the verdicts, or when the job is aborted
  VerdictLog::Writer write;           // whole files (write, then rename)
  double timeout_seconds = 600;       // -T: a stuck call fails the check and ends the job; 0 never
  double budget_seconds = 300;        // what isolation may take after an allocation check failed
  topology::SolInputs sol;            // --link-gbps, --gpu-model: for min_sol_pct checks
};

// Rank 0's view of the run, for what the command prints.
struct Observer {
  std::function<void(int ranks, std::size_t nodes)> started;  // before the first verdict
  std::function<void(const Verdict&)> reached;                // each verdict, once it is on disk
};

struct Outcome {
  bool passed = false;  // every check has its verdict and none failed
  std::vector<Verdict> verdicts;
  std::string drain_error;  // the drain list could not be written (the verdict files are whole)
};

// Collective over `world` (every rank calls it). Outcome on rank 0, nullopt on the others. A verdict
// file that cannot be opened is a UsageError on every rank, before anything is measured.
std::optional<Outcome> run_acceptance(const Spec& spec, const bench::BenchOptions& options,
                                      const Communicator& world, const AcceptanceSettings& settings,
                                      const Observer& observer);

// Verdicts under statistical control (docs/acceptance.md). Pure functions, fed synthetic values by
// the unit tests; run_acceptance() measures.

// One measurement of a check in its unit (GB/s or us) and its spread: half the distance between the
// values at the first and third quartile of the per-call times, so one slow call does not widen it.
struct Reading {
  double value = 0, spread = 0;
};

// The reading of a measurement whose per-call times (us) are `samples_us`: `value` at the median,
// converted for busbw by `value * median / t` (busbw is inversely proportional to the time).
Reading reading_of(double value, const std::vector<double>& samples_us, Better better);

// How many times a check near its floor is measured at most, the first one included.
inline constexpr int kMaxMeasurements = 3;

enum class Decision { pass, retest, warn, fail };
// `measurements` so far (1 for the first): meets the floor: pass; misses it by more than the spread:
// fail; within the spread: retest while measurements < kMaxMeasurements, then warn.
Decision decide(double floor, const Reading& reading, Better better, int measurements);

// The fleet's per-node values of one check: true for each node well below the fleet: under
// kFleetFactor of the median (for time, over median / kFleetFactor) and farther from it than
// kSpreads scaled MADs (1.4826 MAD). Nothing is flagged with fewer than 3 values.
inline constexpr double kFleetFactor = 0.7;
std::vector<bool> fleet_outliers(const std::vector<double>& values, Better better);

}  // namespace cctune::accept
