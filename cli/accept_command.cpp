// `cctune accept --spec SPEC`: every node checked against the spec, then the collective floors on
// each node and on the whole allocation; verdicts printed and written as they are reached
// (docs/acceptance.md). Exit 0 only when every check passed.
#include "cli/accept_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <numeric>
#include <sstream>

#include "accept/node_checks.hpp"
#include "accept/spec.hpp"
#include "accept/verdicts.hpp"
#include "bench/measure.hpp"
#include "bench/watchdog.hpp"
#include "bench/options.hpp"
#include "bench/size_plan.hpp"
#include "bench/sweep.hpp"
#include "bench/text_writer.hpp"
#include "cli/edge.hpp"
#include "collectives/backends.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "topology/cluster.hpp"
#include "topology/sources.hpp"

namespace cctune::cli {

struct AcceptCommand {
  std::string spec;
  double budget_seconds = 300;
  double timeout_seconds = 600;
  std::string inject_delay;
  std::string json = "cctune-accept.json";
  std::string junit = "cctune-accept.xml";
};

AcceptCommand* add_accept_command(CLI::App& app) {
  static AcceptCommand command;
  auto* sub = app.add_subcommand("accept", "Check every node and the collectives against an acceptance spec; "
                                           "a verdict per node and check");
  sub->add_option("--spec", command.spec, "The acceptance spec (YAML, docs/acceptance.md)")->required();
  sub->add_option("--json", command.json, "Verdicts as JSON, rewritten as each is reached")->capture_default_str();
  sub->add_option("--junit", command.junit, "Verdicts as JUnit XML, rewritten as each is reached")
      ->capture_default_str();
  sub->add_option("-T,--timeout", command.timeout_seconds,
                  "Fail the check in progress and end the job when a collective call is stuck this long, "
                  "naming the ranks that had not arrived (0: never)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  sub->add_option("--budget", command.budget_seconds,
                  "Seconds that isolating the slow node or rank may take after a whole-allocation check fails")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
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

struct Outcome {
  double busbw_gbs = 0, median_us = 0;
  std::uint64_t wrong = 0;
};

// One check on `comm` (every rank of it takes part); the result on its rank 0.
Outcome run_check(const accept::CollectiveCheck& check, bench::BenchOptions options, MPI_Comm comm,
                  bench::Watchdog* watchdog, const std::string& where) {
  // The same words on every rank: the watchdog's message and the failed verdict use them.
  if (watchdog) watchdog->describe(where + ": " + check.name());
  Communicator communicator = Communicator::duplicate(comm);
  // The test-only delay names a rank of the whole job; on a smaller communicator it is that process.
  if (options.delay) {
    int world_rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    options.delay->rank = world_rank == options.delay->rank ? communicator.rank() : -1;
  }
  // A device backend ends a stuck call itself, by its own deadline; the watchdog's abort writes the
  // RANK_HUNG verdict naming the late ranks first. So the backend's deadline comes a little later,
  // as the backstop for its timed batches, which the watchdog does not watch.
  const double backstop = options.timeout_seconds > 0 ? options.timeout_seconds + std::max(10.0, options.timeout_seconds / 10)
                                                      : 0;
  auto backend = find_backend(options.backend).create(comm, BackendSettings{backstop});
  bench::Measurer measurer(*backend, communicator, options, watchdog);
  const Collective collective = check.collective == "allreduce" ? Collective::allreduce : Collective::alltoall;
  const bench::MessageShape shape = bench::shape_of(check.bytes, collective, options.type, communicator.size());
  measurer.allocate(shape.bytes);
  auto bound = backend->bind(collective, options.selections.front().algorithms.front());
  const auto result = measurer.measure(*bound, shape, false,
                                       bench::Repetitions{options.iterations, options.warmup, options.check_iterations});
  return {result.busbw_gbs, result.slowest.median, result.wrong.value_or(0)};
}

accept::Verdict judge(const accept::CollectiveCheck& check, const std::string& subject, const Outcome& outcome) {
  accept::Verdict v{subject, check.name(), accept::Status::pass, "", "", "", ""};
  if (outcome.wrong != 0) {
    v.status = accept::Status::fail;
    v.fault = "WRONG_RESULT";
    v.measured = fmt::format("{} wrong elements", outcome.wrong);
    v.expected = "0";
    return v;
  }
  if (check.min_busbw_gbs) {
    v.measured = fmt::format("{:.3f} GB/s", outcome.busbw_gbs);
    v.expected = fmt::format(">= {:g} GB/s", *check.min_busbw_gbs);
    if (outcome.busbw_gbs < *check.min_busbw_gbs) {
      v.status = accept::Status::fail;
      v.fault = "BUSBW_LOW";
    }
  } else {
    v.measured = fmt::format("{:.2f} us", outcome.median_us);
    v.expected = fmt::format("<= {:g} us", *check.max_latency_us);
    if (outcome.median_us > *check.max_latency_us) {
      v.status = accept::Status::fail;
      v.fault = "LATENCY_HIGH";
    }
  }
  return v;
}

// After a whole-allocation check missed its mark: run it again on small groups of participants (nodes,
// or ranks on a single node), all groups at once, in two pairings shifted by one: (0,1)(2,3)... then
// (1,2)(3,0)... Each group runs twice and keeps its better run. A participant whose groups were all
// slow (below half the median group's bus bandwidth, or above twice its median time) is named. The
// margin is wide because groups running side by side on a shared machine differ by tens of percent
// (a 0.7x rule named an innocent rank here); a broken node or rank is slower by far more than that.
constexpr double kSlowFactor = 2.0;

void isolate(const accept::CollectiveCheck& check, const bench::BenchOptions& options, const Communicator& world,
             const std::vector<std::string>& hosts, double budget_seconds, bench::Watchdog* watchdog,
             const std::function<void(const accept::Verdict&)>& add) {
  const auto start = std::chrono::steady_clock::now();
  // Each rank's participant: its node's index (nodes in order of their first rank), or the rank itself.
  std::vector<std::string> distinct;
  std::vector<int> participant_of;
  for (const std::string& h : hosts) {
    const auto at = std::find(distinct.begin(), distinct.end(), h);
    participant_of.push_back(static_cast<int>(at - distinct.begin()));
    if (at == distinct.end()) distinct.push_back(h);
  }
  const bool by_node = distinct.size() > 1;
  if (!by_node) std::iota(participant_of.begin(), participant_of.end(), 0);
  const int participants = by_node ? static_cast<int>(distinct.size()) : world.size();
  const int me = participant_of[static_cast<std::size_t>(world.rank())];
  auto name_of = [&](int p) {
    return by_node ? distinct[p] : fmt::format("rank {} ({})", p, hosts[p]);
  };
  const std::string what = "isolation: " + check.name();
  if (participants < 3) {
    if (world.rank() == 0) {
      add({"allocation", what, accept::Status::skip, "TOO_FEW_TO_ISOLATE", "", "",
           fmt::format("{} {}: pairs cannot tell them apart", participants, by_node ? "nodes" : "ranks")});
    }
    return;
  }
  std::vector<int> slow_rounds(participants, 0);
  int rounds = 0;
  for (int shift = 0; shift < 2; ++shift) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (world.max(elapsed) > budget_seconds) break;
    // Groups of two; with an odd count the last participant joins the group before it.
    auto group_of = [&](int p) {
      const int shifted = (p - shift + participants) % participants;
      return std::min(shifted / 2, participants / 2 - 1);
    };
    const int groups = participants / 2;
    MPI_Comm group_comm = MPI_COMM_NULL;
    CCTUNE_MPI(MPI_Comm_split(world.get(), group_of(me), world.rank(), &group_comm));
    const std::string where = fmt::format("isolation, pairing {}", shift + 1);
    const Outcome first = run_check(check, options, group_comm, watchdog, where);
    const Outcome second = run_check(check, options, group_comm, watchdog, where);
    int group_rank = 0;
    MPI_Comm_rank(group_comm, &group_rank);
    MPI_Comm_free(&group_comm);
    const double value = check.min_busbw_gbs ? std::max(first.busbw_gbs, second.busbw_gbs)
                                             : std::min(first.median_us, second.median_us);
    // Every group's value, from its first rank; NaN from the others.
    const std::vector<double> all = world.allgather(group_rank == 0 ? value : std::nan(""));
    std::vector<double> per_group(groups, std::nan(""));
    for (std::size_t r = 0; r < all.size(); ++r) {
      if (!std::isnan(all[r])) per_group[group_of(participant_of[r])] = all[r];
    }
    std::vector<double> sorted = per_group;
    std::sort(sorted.begin(), sorted.end());
    // With an even count, the middle value nearer the good end: with two groups, the faster one.
    const double median = check.min_busbw_gbs ? sorted[sorted.size() / 2] : sorted[(sorted.size() - 1) / 2];
    for (int p = 0; p < participants; ++p) {
      const double v = per_group[group_of(p)];
      slow_rounds[p] += check.min_busbw_gbs ? (v * kSlowFactor < median) : (v > kSlowFactor * median);
    }
    ++rounds;
  }
  if (world.rank() != 0) return;
  bool named = false;
  for (int p = 0; p < participants && rounds == 2; ++p) {
    if (slow_rounds[p] != 2) continue;
    named = true;
    add({name_of(p), what, accept::Status::fail, by_node ? "SLOW_NODE" : "SLOW_RANK", "slow in every group", "",
         fmt::format("in both pairings, every group with it ran {} of the median group",
                     check.min_busbw_gbs ? "below half the bus bandwidth" : "above twice the time")});
  }
  if (rounds < 2) {
    add({"allocation", what, accept::Status::skip, "ISOLATION_BUDGET", "", "",
         fmt::format("--budget {:g} s ran out after {} of 2 pairings", budget_seconds, rounds)});
  } else if (!named) {
    add({"allocation", what, accept::Status::skip, "NO_SLOW_PARTICIPANT", "", "",
         "every group ran alike: the shortfall is not one node or rank"});
  }
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
    spec = accept::read_spec(command->spec);
    bench::RawBenchOptions raw;
    raw.backend = spec.run.backend;
    raw.algorithms = {spec.run.algorithm};
    raw.collectives = {"allreduce"};
    for (const auto& check : spec.collectives) {
      if (check.collective == "alltoall") raw.collectives = {"all"};
    }
    raw.iterations = spec.run.iterations;
    raw.warmup = spec.run.warmup;
    raw.min_bytes = raw.max_bytes = "4";
    raw.inject_delay = command->inject_delay;
    options = bench::resolve(raw);
    accept::check_runnable(spec, command->spec, size_of(options.type), to_string(options.type), 0);
    // Outputs are checked here, before MPI starts, and first written once every check that can refuse
    // the run has passed: a refused run leaves an earlier run's files as they were.
    bench::refuse_same_output("--json", command->json, "--junit", command->junit);
    bench::refuse_same_output("--spec", command->spec, "--json", command->json);
    bench::refuse_same_output("--spec", command->spec, "--junit", command->junit);
    // Only rank 0 writes, so only it checks (see tune's check_outputs).
    if (speaks_for_job() && !command->json.empty()) files::check_output_file(command->json, "--json");
    if (speaks_for_job() && !command->junit.empty()) files::check_output_file(command->junit, "--junit");
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
    std::unique_ptr<accept::VerdictLog> log;
    std::string open_error;
    if (rank == 0) {
      log = std::make_unique<accept::VerdictLog>(
          command->json, command->junit,
          [](const std::string& path, const std::string& text) { write_file_atomically(path, text); });
      try {
        log->start();  // from here the files say "not passed" until every check has its verdict
      } catch (const Error& e) {
        open_error = e.what();
      }
    }
    if (world.sum(open_error.empty() ? 0 : 1) != 0) throw UsageError(open_error, __FILE__, __LINE__);
    const std::string host = processor_name();
    const std::vector<std::string> hosts = world.allgather(host);
    const topology::ClusterView view = topology::gather_cluster(world, host, topology::probe_local);
    auto add = [&](const accept::Verdict& v) {
      log->add(v);
      print(v);
    };
    // A stuck call: the check in progress fails, naming the late ranks and their hosts, and is on disk
    // with every verdict before it when the job is aborted (exit 124).
    std::unique_ptr<bench::Watchdog> watchdog;
    if (command->timeout_seconds > 0) {
      bench::Watchdog::AbortHook hook;
      if (rank == 0) {
        hook = [&log](const std::string& message) {
          log->fail_in_progress("allocation", "call in progress", "RANK_HUNG", message);
        };
      }
      watchdog = std::make_unique<bench::Watchdog>(MPI_COMM_WORLD, command->timeout_seconds, hosts, hook);
    }
    if (rank == 0) {
      fmt::print("# cctune accept {}: {} ranks on {} node(s)\n", command->spec, world.size(), view.nodes.size());
      fmt::print("# {:<14} {:<40} {:<7} {:>20} {:>18}  {}\n", "subject", "check", "verdict", "measured", "expected",
                 "fault / detail");
      for (const auto& node : view.nodes) {
        const auto type = std::find_if(view.types.begin(), view.types.end(),
                                       [&](const topology::NodeType& t) { return t.fingerprint == node.fingerprint; });
        for (const accept::Verdict& v : accept::check_node(spec.node, type->model, node.host)) add(v);
      }
    }
    // Each node alone (all nodes at once, each on its own communicator), then the whole allocation.
    MPI_Comm node_comm = MPI_COMM_NULL;
    CCTUNE_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node_comm));
    Communicator node = Communicator::duplicate(node_comm);
    MPI_Comm_free(&node_comm);
    for (const accept::CollectiveCheck& check : spec.collectives) {
      if (check.scope != accept::Scope::allocation) {
        if (rank == 0) log->begin("each node", check.name());
        const Outcome outcome = run_check(check, options, node.get(), watchdog.get(), "each node alone");
        std::ostringstream mine;
        if (node.rank() == 0) mine << host << ' ' << outcome.busbw_gbs << ' ' << outcome.median_us << ' ' << outcome.wrong;
        const auto reports = world.gather_to_root(mine.str());
        for (const std::string& report : reports) {
          if (report.empty()) continue;
          std::istringstream in(report);
          std::string reporter;
          Outcome o;
          in >> reporter >> o.busbw_gbs >> o.median_us >> o.wrong;
          add(judge(check, reporter, o));
        }
      }
      if (check.scope != accept::Scope::node) {
        if (rank == 0) log->begin("allocation", check.name());
        const Outcome outcome = run_check(check, options, world.get(), watchdog.get(), "whole allocation");
        bool missed = false;
        if (rank == 0) {
          const accept::Verdict verdict = judge(check, "allocation", outcome);
          missed = verdict.status == accept::Status::fail && verdict.fault != "WRONG_RESULT";
          add(verdict);
        }
        if (world.sum(missed ? 1 : 0) != 0) {
          isolate(check, options, world, hosts, command->budget_seconds, watchdog.get(), add);
        }
      }
    }
    if (rank != 0) return static_cast<int>(kOk);
    log->finish();
    const bool passed = log->all_pass();
    const auto& all = log->verdicts();
    const auto count = [&](accept::Status s) {
      return std::count_if(all.begin(), all.end(), [&](const accept::Verdict& v) { return v.status == s; });
    };
    fmt::print("# {}: {} passed, {} failed, {} skipped; verdicts in {} and {}\n", passed ? "ACCEPTED" : "NOT ACCEPTED",
               count(accept::Status::pass), count(accept::Status::fail), count(accept::Status::skip), command->json,
               command->junit);
    if (const auto failure = bench::write_failure(stdout, "standard output")) {
      fmt::print(stderr, "cctune: error: {} (the verdict files are whole)\n", *failure);
      return static_cast<int>(kFailed);
    }
    return static_cast<int>(passed ? kOk : kFailed);
  });
}

}  // namespace cctune::cli
