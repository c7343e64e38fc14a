#include "accept/acceptance.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "accept/isolation.hpp"
#include "accept/node_checks.hpp"
#include "bench/measure.hpp"
#include "bench/size_plan.hpp"
#include "bench/statistics.hpp"
#include "bench/watchdog.hpp"
#include "collectives/backends.hpp"
#include "collectives/bootstrap.hpp"
#include "collectives/error.hpp"
#include "topology/cluster.hpp"
#include "topology/sources.hpp"

namespace cctune::accept {

bench::BenchOptions bench_options(const Spec& spec, const std::string& spec_path, const std::string& inject_delay) {
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
  raw.inject_delay = inject_delay;
  bench::BenchOptions options = bench::resolve(raw);
  // run.algorithm is one name for every check: a check whose collective lacks it would fail in the
  // middle of the run, after the checks before it had measured.
  for (const auto& check : spec.collectives) {
    const bool runnable = std::any_of(options.selections.begin(), options.selections.end(), [&](const auto& selection) {
      return to_string(selection.collective) == check.collective;
    });
    if (!runnable) {
      CCTUNE_USAGE_ERROR(fmt::format("{}:{}: collectives[{}] is {}, and run.algorithm '{}' is not one of backend {}'s "
                                     "{} algorithms", spec_path, check.line, check.index, check.collective,
                                     spec.run.algorithm, spec.run.backend, check.collective));
    }
  }
  return options;
}

Reading reading_of(double value, const std::vector<double>& samples_us, Better better) {
  if (samples_us.size() < 2) return {value, 0};
  std::vector<double> sorted = samples_us;
  std::sort(sorted.begin(), sorted.end());
  const double q1 = bench::percentile_sorted(sorted, 25), q3 = bench::percentile_sorted(sorted, 75);
  if (better == Better::lower) return {value, (q3 - q1) / 2};
  const double median = bench::summarize(samples_us).median;
  if (!(q1 > 0) || !(q3 > 0) || !(median > 0)) return {value, 0};
  return {value, (value * median / q1 - value * median / q3) / 2};
}

Decision decide(double floor, const Reading& reading, Better better, int measurements) {
  const double short_by = better == Better::higher ? floor - reading.value : reading.value - floor;
  if (!(short_by > 0)) return Decision::pass;
  if (short_by > reading.spread) return Decision::fail;
  return measurements < kMaxMeasurements ? Decision::retest : Decision::warn;
}

std::vector<bool> fleet_outliers(const std::vector<double>& values, Better better) {
  std::vector<bool> out(values.size(), false);
  if (values.size() < 3) return out;
  const double median = bench::summarize(values).median;
  std::vector<double> deviations;
  for (double v : values) deviations.push_back(std::abs(v - median));
  const double mad = bench::summarize(deviations).median;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const bool far = better == Better::higher ? values[i] < kFleetFactor * median : values[i] * kFleetFactor > median;
    out[i] = far && std::abs(values[i] - median) > kSpreads * 1.4826 * mad;
  }
  return out;
}

namespace {

struct Measured {
  double busbw_gbs = 0, median_us = 0;
  std::uint64_t wrong = 0;
  double spread = 0;    // of the check's value (busbw or time), reading_of()
  int measurements = 1;
};

Better better_of(const CollectiveCheck& check) { return check.min_busbw_gbs ? Better::higher : Better::lower; }
double floor_of(const CollectiveCheck& check) { return check.min_busbw_gbs ? *check.min_busbw_gbs : *check.max_latency_us; }
double value_of(const CollectiveCheck& check, const Measured& m) { return check.min_busbw_gbs ? m.busbw_gbs : m.median_us; }

// On the rank that holds the result: whether it is near enough its floor to be measured again.
bool wants_retest(const CollectiveCheck& check, const Measured& m) {
  return m.wrong == 0 &&
         decide(floor_of(check), {value_of(check, m), m.spread}, better_of(check), m.measurements) == Decision::retest;
}

using Add = std::function<void(const Verdict&)>;

// The collectives between checks (agreeing on retests, gathering results, splitting communicators)
// are watched like the measured calls: a rank stopped there would otherwise hang the job past -T.
// An MPI error in a watched call (Open MPI over TCP returns one when a peer's node is gone) is
// handed to the watchdog, which asks every rank how far it got and names those that do not answer,
// as for a stuck call; without a watchdog it ends the run as any error does.
template <class F>
auto guarded(bench::Watchdog* watchdog, F&& f) {
  try {
    return f();
  } catch (const MpiError& e) {
    if (watchdog) watchdog->fail_now(e.what());
    throw;
  }
}

template <class F>
auto watched(bench::Watchdog* watchdog, const std::string& what, F&& f) {
  if (watchdog) watchdog->describe(what);
  return guarded(watchdog, [&] {
    bench::Watchdog::Call call(watchdog);
    return f();
  });
}

// One check on `comm` (every rank of it takes part); the result on its rank 0.
Measured run_check(const CollectiveCheck& check, bench::BenchOptions options, MPI_Comm comm,
                   bench::Watchdog* watchdog, const std::string& where) {
  // The same words on every rank: the watchdog's message and the failed verdict use them.
  Communicator communicator = watched(watchdog, where + ": " + check.name(), [&] { return Communicator::duplicate(comm); });
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
  auto backend = watched(watchdog, where + ": " + check.name(),
                         [&] { return find_backend(options.backend).create(comm, BackendSettings{backstop}); });
  bench::Measurer measurer(*backend, communicator, options, watchdog);
  const Collective collective = check.collective == "allreduce" ? Collective::allreduce : Collective::alltoall;
  const bench::MessageShape shape = bench::shape_of(check.bytes, collective, options.type, communicator.size());
  const auto result = guarded(watchdog, [&] {
    measurer.allocate(shape.bytes);
    const auto selection = std::find_if(options.selections.begin(), options.selections.end(),
                                        [&](const auto& s) { return s.collective == collective; });
    if (selection == options.selections.end()) CCTUNE_USAGE_ERROR("run.algorithm has no " + check.collective);
    auto bound = backend->bind(collective, selection->algorithms.front());
    return measurer.measure(*bound, shape, false,
                            bench::Repetitions{options.iterations, options.warmup, options.check_iterations});
  });
  const Better better = check.min_busbw_gbs ? Better::higher : Better::lower;
  const double value = better == Better::higher ? result.busbw_gbs : result.slowest.median;
  return {result.busbw_gbs, result.slowest.median, result.wrong.value_or(0),
          reading_of(value, result.samples_us, better).spread, 1};
}

// A result within its spread of the floor is measured again, up to kMaxMeasurements in all, the last
// one kept. Every rank of the job runs each retest (the watchdog counts calls on all of them), so
// whether one comes is summed over `world` from the ranks that hold a result (`holds`).
Measured run_check_under_control(const CollectiveCheck& check, const bench::BenchOptions& options, MPI_Comm comm,
                                 bench::Watchdog* watchdog, const std::string& where, const Communicator& world,
                                 bool holds) {
  Measured outcome = run_check(check, options, comm, watchdog, where);
  for (;;) {
    const bool retest = holds && wants_retest(check, outcome);
    if (watched(watchdog, where + ": agreeing on retests of " + check.name(),
                [&] { return world.sum(retest ? 1 : 0); }) == 0) {
      return outcome;
    }
    const Measured again = run_check(check, options, comm, watchdog, where + ", retest");
    if (retest) {
      const int measurements = outcome.measurements + 1;
      outcome = again;
      outcome.measurements = measurements;
    }
  }
}

Verdict judge(const CollectiveCheck& check, const std::string& subject, const Measured& outcome) {
  Verdict v{subject, check.name(), Status::pass, "", "", "", ""};
  v.repeats = outcome.measurements;
  v.spread = outcome.spread;
  if (outcome.wrong != 0) {
    v.status = Status::fail;
    v.fault = "WRONG_RESULT";
    v.measured = fmt::format("{} wrong elements", outcome.wrong);
    v.expected = "0";
    return v;
  }
  if (check.min_sol_pct) {
    v.measured = fmt::format("{:.3f} GB/s, {:.1f}% of SOL {:.3f}", outcome.busbw_gbs,
                             100.0 * outcome.busbw_gbs / check.sol_gbs, check.sol_gbs);
    v.expected = fmt::format(">= {:g}% of SOL: {:.3f} GB/s", *check.min_sol_pct, *check.min_busbw_gbs);
  } else if (check.min_busbw_gbs) {
    v.measured = fmt::format("{:.3f} GB/s", outcome.busbw_gbs);
    v.expected = fmt::format(">= {:g} GB/s", *check.min_busbw_gbs);
  } else {
    v.measured = fmt::format("{:.2f} us", outcome.median_us);
    v.expected = fmt::format("<= {:g} us", *check.max_latency_us);
  }
  const Decision decision =
      decide(floor_of(check), {value_of(check, outcome), outcome.spread}, better_of(check), outcome.measurements);
  const std::string fault = check.min_busbw_gbs ? "BUSBW_LOW" : "LATENCY_HIGH";
  const std::string unit = check.min_busbw_gbs ? "GB/s" : "us";
  if (decision == Decision::fail) {
    v.status = Status::fail;
    v.fault = fault;
  } else if (decision != Decision::pass) {
    // Retest only comes back here if the loop was skipped; it is still within the spread.
    v.status = Status::warn;
    v.fault = fault;
  }
  v.detail = fmt::format("{} measurement{}, spread {:.3g} {}", outcome.measurements, outcome.measurements == 1 ? "" : "s",
                         outcome.spread, unit);
  if (v.status == Status::warn) v.detail += ": short of the floor by no more than the spread";
  return v;
}

// One failed verdict per host of a rank the watchdog found silent, or behind outside any call, its
// ranks and why in the detail, so that the drain list names the node.
std::vector<Verdict> hung_hosts(const bench::Watchdog::Hang& hang) {
  const std::vector<std::string>& hosts = hang.hosts;
  std::vector<Verdict> named;
  const auto blame = [&](const std::vector<int>& ranks, const char* measured, const char* why) {
    for (int r : ranks) {
      if (r < 0 || static_cast<std::size_t>(r) >= hosts.size()) continue;
      const std::string& h = hosts[static_cast<std::size_t>(r)];
      auto v = std::find_if(named.begin(), named.end(), [&](const Verdict& x) { return x.subject == h; });
      if (v == named.end()) v = named.insert(named.end(), Verdict{h, "", Status::fail, "", measured, "", ""});
      v->detail += fmt::format("{}rank {} {}", v->detail.empty() ? "" : "; ", r, why);
    }
  };
  // Not every late rank: one inside an earlier call may only be waiting on a silent peer.
  blame(hang.behind, "not arrived", "had not reached the stuck call");
  blame(hang.silent, "no answer", "did not answer the watchdog (stopped, or its node lost)");
  return named;
}

// After a whole-allocation check missed its mark: run it again on pairs of participants (nodes, or
// ranks on a single node), every pair of a round at once on its own communicator, in the rounds of
// isolation_rounds(); each pair runs twice and keeps its better run; judge_isolation() says whom to
// suspect (its rule is written there and in docs/acceptance.md), and a suspect is named only if it is
// slow again beside a faster partner (confirmation_rounds(), judge_confirmed()).
// What it took, on rank 0 when it measured.
std::optional<IsolationCost> isolate(const CollectiveCheck& check, const bench::BenchOptions& options, const Communicator& world,
             const std::vector<std::string>& hosts, double budget_seconds, bench::Watchdog* watchdog, const Add& add) {
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
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
  auto name_of = [&](int p) { return by_node ? distinct[p] : fmt::format("rank {} ({})", p, hosts[p]); };
  const std::string what = "isolation: " + check.name();
  if (participants < 3) {
    if (world.rank() == 0) {
      add({"allocation", what, Status::skip, "TOO_FEW_TO_ISOLATE", "", "",
           fmt::format("{} {}: pairs cannot tell them apart", participants, by_node ? "nodes" : "ranks")});
    }
    return std::nullopt;
  }
  const bool higher = check.min_busbw_gbs.has_value();
  const Better better = higher ? Better::higher : Better::lower;
  const double floor = higher ? *check.min_busbw_gbs : *check.max_latency_us;
  std::vector<Pairing> rounds = isolation_rounds(participants);
  std::vector<RoundValues> measured;
  int measurements = 0;
  // Measures rounds[measured.size()] onwards; false when the budget ran out first.
  const auto measure_rounds = [&] {
    while (measured.size() < rounds.size()) {
      const Pairing& pairing = rounds[measured.size()];
      const std::string where = fmt::format("isolation, round {} of {}", measured.size() + 1, rounds.size());
      if (watched(watchdog, where + ": agreeing on the time left", [&] { return world.max(elapsed()); }) > budget_seconds) {
        return false;
      }
      MPI_Comm group_comm = MPI_COMM_NULL;
      watched(watchdog, where + ": making its groups",
              [&] { CCTUNE_MPI(MPI_Comm_split(world.get(), pairing[me], world.rank(), &group_comm)); });
      const Measured first = run_check(check, options, group_comm, watchdog, where);
      const Measured second = run_check(check, options, group_comm, watchdog, where);
      measurements += 2;
      int group_rank = 0;
      MPI_Comm_rank(group_comm, &group_rank);
      MPI_Comm_free(&group_comm);
      const double value = higher ? std::max(first.busbw_gbs, second.busbw_gbs) : std::min(first.median_us, second.median_us);
      // Every group's value, from its first rank; NaN from the others.
      const std::vector<double> all = watched(watchdog, where + ": gathering its groups' results",
                                              [&] { return world.allgather(group_rank == 0 ? value : std::nan("")); });
      const int groups = *std::max_element(pairing.begin(), pairing.end()) + 1;
      RoundValues round(groups, GroupValue{{}, std::nan("")});
      for (int p = 0; p < participants; ++p) round[pairing[p]].members.push_back(p);
      for (std::size_t r = 0; r < all.size(); ++r) {
        if (!std::isnan(all[r])) round[pairing[participant_of[r]]].value = all[r];
      }
      measured.push_back(std::move(round));
    }
    return true;
  };
  // Every rank judges the same gathered values, so every rank agrees on the retest rounds.
  bool complete = measure_rounds();
  IsolationJudgement judgement;
  if (complete) {
    judgement = judge_isolation(participants, measured, better, floor);
    if (!judgement.blamed.empty()) {
      const IsolationJudgement suspects = std::move(judgement);
      for (Pairing& retest : confirmation_rounds(participants, suspects)) rounds.push_back(std::move(retest));
      complete = measure_rounds();
      if (complete) judgement = judge_confirmed(participants, measured, floor, suspects);
    }
  }
  const double seconds = watched(watchdog, "isolation: agreeing on its cost", [&] { return world.max(elapsed()); });
  if (world.rank() != 0) return std::nullopt;
  const IsolationCost cost{check.name(), static_cast<int>(measured.size()), static_cast<int>(rounds.size()),
                           measurements, seconds};
  const std::string cost_text =
      fmt::format("{} of {} rounds, {} measurements, {:.1f} s", cost.rounds, cost.planned, cost.measurements, cost.seconds);
  if (!complete) {
    add({"allocation", what, Status::skip, "ISOLATION_BUDGET", "", "",
         fmt::format("--budget {:g} s ran out after {}", budget_seconds, cost_text)});
    return cost;
  }
  const auto in_unit = [&](double v) { return higher ? fmt::format("{:.3f} GB/s", v) : fmt::format("{:.2f} us", v); };
  for (const Blame& blame : judgement.blamed) {
    add({name_of(blame.participant), what, Status::fail, by_node ? "SLOW_NODE" : "SLOW_RANK",
         "best " + in_unit(blame.best), "~" + in_unit(judgement.baseline) + " like the others",
         blame.reason + " (" + cost_text + ")"});
  }
  if (judgement.blamed.empty()) {
    add({"allocation", what, Status::skip, "NO_SLOW_PARTICIPANT", "", "", judgement.summary + " (" + cost_text + ")"});
  }
  return cost;
}

// min_sol_pct's floors: for each check, each node's (its ranks on one node) and the allocation's
// (every node), from the speed of light of that shape. Rank 0 knows the topology; every rank gets
// the floors, since the ranks that hold a result decide its retests.
struct SolFloors {
  struct Floor {
    double floor = 0, sol = 0;
  };
  std::map<std::pair<std::size_t, std::string>, Floor> node;  // (check, host)
  std::map<std::size_t, Floor> allocation;

  static CollectiveCheck with(const CollectiveCheck& check, const Floor& f) {
    CollectiveCheck resolved = check;
    resolved.min_busbw_gbs = f.floor;
    resolved.sol_gbs = f.sol;
    return resolved;
  }
  CollectiveCheck at_node(const CollectiveCheck& check, const std::string& host) const {
    if (!check.min_sol_pct) return check;
    const auto found = node.find({check.index, host});
    return with(check, found == node.end() ? Floor{} : found->second);
  }
  CollectiveCheck at_allocation(const CollectiveCheck& check) const {
    if (!check.min_sol_pct) return check;
    const auto found = allocation.find(check.index);
    return with(check, found == allocation.end() ? Floor{} : found->second);
  }
};

SolFloors sol_floors(const Spec& spec, const bench::BenchOptions& options, const Communicator& world,
                     const topology::ClusterView& view, const topology::SolInputs& given) {
  SolFloors floors;
  const bool wanted = std::any_of(spec.collectives.begin(), spec.collectives.end(),
                                  [](const CollectiveCheck& c) { return c.min_sol_pct.has_value(); });
  if (!wanted) return floors;
  const auto medium = options.backend == "mpi" ? topology::Medium::host : topology::Medium::device;
  topology::SolInputs inputs = given;
  if (medium == topology::Medium::host) {
    inputs.memory_gbs = topology::job_memory_bandwidth(world, world.rank() == 0 ? view.types.front().fingerprint : "");
  }
  std::ostringstream text;
  text.precision(17);
  std::string unknown;
  if (world.rank() == 0) {
    const auto model_of = [&](const topology::ClusterNode& n) -> const topology::NodeModel& {
      return std::find_if(view.types.begin(), view.types.end(),
                          [&](const topology::NodeType& t) { return t.fingerprint == n.fingerprint; })->model;
    };
    for (const CollectiveCheck& check : spec.collectives) {
      if (!check.min_sol_pct) continue;
      const Collective c = check.collective == "allreduce" ? Collective::allreduce : Collective::alltoall;
      const double share = *check.min_sol_pct / 100.0;
      if (check.scope != Scope::allocation) {
        for (const auto& n : view.nodes) {
          if (n.ranks.size() < 2) continue;  // nothing inside the node to measure (ONE_RANK)
          const auto sol = topology::speed_of_light(model_of(n), {1, static_cast<int>(n.ranks.size())}, medium, inputs);
          const double bound = sol.busbw_gbs(c);
          if (!(bound > 0) && unknown.empty()) unknown = check.name() + " on " + n.host + ": " + (sol.basis.empty() ? "" : sol.basis.front());
          text << check.index << ' ' << n.host << ' ' << share * bound << ' ' << bound << '\n';
        }
      }
      if (check.scope != Scope::node) {
        const auto sol = topology::speed_of_light(view, medium, inputs);
        const double bound = sol.busbw_gbs(c);
        if (!(bound > 0) && unknown.empty()) {
          unknown = check.name() + " on the allocation: " + (sol.basis.empty() ? "" : sol.basis.back());
        }
        text << check.index << " * " << share * bound << ' ' << bound << '\n';
      }
    }
    if (!unknown.empty()) text.str("unknown " + unknown);
  }
  const std::string shared = world.allgather(world.rank() == 0 ? text.str() : std::string()).front();
  if (shared.starts_with("unknown ")) {
    throw UsageError("min_sol_pct: the speed of light is not known for " + shared.substr(8) +
                         " (give --link-gbps or --gpu-model)", __FILE__, __LINE__);
  }
  std::istringstream in(shared);
  std::size_t index = 0;
  std::string host;
  SolFloors::Floor f;
  while (in >> index >> host >> f.floor >> f.sol) {
    if (host == "*") {
      floors.allocation[index] = f;
    } else {
      floors.node[{index, host}] = f;
    }
  }
  return floors;
}

}  // namespace

std::optional<Outcome> run_acceptance(const Spec& spec, const bench::BenchOptions& options,
                                      const Communicator& world, const AcceptanceSettings& settings,
                                      const Observer& observer) {
  const int rank = world.rank();
  // Made (nothing written yet) before the watchdog, whose thread may use it from the start.
  std::unique_ptr<VerdictLog> log;
  if (rank == 0) log = std::make_unique<VerdictLog>(settings.json_path, settings.junit_path, settings.write);
  // A stuck call: the check in progress fails, and so does each host of a rank that had not arrived
  // or did not answer (stopped, or its node lost), on disk with every verdict before it and in the
  // drain list when the job is aborted (exit 124). Started first, so that every collective after
  // this one is watched, and before the verdict files say the run has started.
  std::unique_ptr<bench::Watchdog> watchdog;
  if (settings.timeout_seconds > 0) {
    bench::Watchdog::AbortHook hook;
    if (rank == 0) {
      hook = [log = log.get(), &settings](const bench::Watchdog::Hang& hang) {
        // Each file on its own: a verdict file that cannot be written must not cost the drain list.
        bool logged = true;  // the verdicts are in the log (written to disk or not)
        try {
          logged = log->fail_in_progress("RANK_HUNG", hang.message, hung_hosts(hang));
        } catch (const std::exception& e) {
          std::fprintf(stderr, "cctune: error: %s\n", e.what());
        }
        if (!settings.drain_path.empty()) {
          std::vector<Verdict> named;
          if (logged) {
            named = log->verdicts();
          } else {  // the main thread held the log too long: the hung hosts alone
            for (Verdict& v : hung_hosts(hang)) {
              v.check = "call in progress";
              v.fault = "RANK_HUNG";
              named.push_back(std::move(v));
            }
          }
          try {
            settings.write(settings.drain_path, drain_list(named));
          } catch (const std::exception& e) {
            std::fprintf(stderr, "cctune: error: %s\n", e.what());
          }
        }
      };
    }
    watchdog = std::make_unique<bench::Watchdog>(MPI_COMM_WORLD, settings.timeout_seconds, std::vector<std::string>{}, hook);
    // Rank 0 gone: only it writes the verdict files (they keep the check in progress as INTERRUPTED),
    // but the drain list can still name its node; every rank that finds this writes the same file.
    if (rank != 0 && !settings.drain_path.empty()) {
      watchdog->on_rank_zero_gone([&settings](const std::string& message, const std::string& host) {
        if (host.empty()) return;
        settings.write(settings.drain_path,
                       drain_list({Verdict{host, "call in progress", Status::fail, "RANK_HUNG", "no answer", "",
                                           "rank 0: " + message}}));
      });
    }
  }
  std::string open_error;
  if (rank == 0) {
    try {
      log->start();  // from here the files say "not passed" until every check has its verdict
      // An earlier run's drain list must not outlive this run: a run that dies before its end (rank 0
      // lost) leaves an empty one, never the last run's nodes for DRAIN=1 to drain again.
      if (!settings.drain_path.empty()) settings.write(settings.drain_path, "");
    } catch (const Error& e) {
      open_error = e.what();
    }
  }
  bench::Watchdog* const w = watchdog.get();
  if (watched(w, "starting: agreeing that the verdict files opened", [&] { return world.sum(open_error.empty() ? 0 : 1); }) != 0) {
    throw UsageError(open_error, __FILE__, __LINE__);
  }
  const std::string host = processor_name();
  const std::vector<std::string> hosts = watched(w, "starting: gathering host names", [&] { return world.allgather(host); });
  if (watchdog) watchdog->set_hosts(hosts);
  // The probe runs outside any watched call: a node whose hwloc or driver hangs must not count as
  // arrived at the collective the others wait in, or nobody would be named.
  std::optional<topology::NodeModel> model;
  std::string probe_error;
  if (std::find(hosts.begin(), hosts.end(), host) - hosts.begin() == rank) {
    try {
      model = topology::probe_local();
    } catch (const std::exception& e) {
      probe_error = e.what();
    }
  }
  const topology::ClusterView view = watched(w, "starting: gathering each node's topology", [&] {
    return topology::gather_cluster(world, host, [&] {
      if (!model) throw std::runtime_error(probe_error);
      return *model;
    });
  });
  const SolFloors floors = watched(w, "starting: the speed of light of min_sol_pct checks",
                                   [&] { return sol_floors(spec, options, world, view, settings.sol); });
  const Add add = [&](const Verdict& v) {
    log->add(v);
    if (observer.reached) observer.reached(v);
  };
  // Several verdicts, one rewrite of the files.
  const auto add_all = [&](const std::vector<Verdict>& verdicts) {
    if (!log) return;  // rank 0 holds the log; the others have nothing to add
    log->add_all(verdicts);
    if (observer.reached) {
      for (const Verdict& v : verdicts) observer.reached(v);
    }
  };
  if (rank == 0) {
    if (observer.started) observer.started(world.size(), view.nodes.size());
    std::vector<Verdict> node_verdicts;
    for (const auto& node : view.nodes) {
      const auto type = std::find_if(view.types.begin(), view.types.end(),
                                     [&](const topology::NodeType& t) { return t.fingerprint == node.fingerprint; });
      for (Verdict& v : check_node(spec.node, type->model, node.host)) node_verdicts.push_back(std::move(v));
    }
    add_all(node_verdicts);
  }
  // Each node alone (all nodes at once, each on its own communicator), then the whole allocation.
  MPI_Comm node_comm = MPI_COMM_NULL;
  watched(w, "starting: splitting the job by node", [&] {
    CCTUNE_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node_comm));
  });
  Communicator node = watched(w, "starting: splitting the job by node", [&] { return Communicator::duplicate(node_comm); });
  MPI_Comm_free(&node_comm);
  // A node with one rank has no link inside it: its own measurement is a local copy, a busbw of 0 and
  // a latency of nothing; the allocation's checks measure its links.
  const bool measures_inside = node.size() > 1;
  for (const CollectiveCheck& spec_check : spec.collectives) {
    if (spec_check.scope != Scope::allocation) {
      const CollectiveCheck check = floors.at_node(spec_check, host);
      if (rank == 0) log->begin("each node", check.name());
      Measured outcome = run_check_under_control(check, options, node.get(), w, "each node alone", world,
                                                 node.rank() == 0 && measures_inside);
      std::vector<Verdict> verdicts;
      // A node flagged against the fleet is measured again before it is warned about, as a result near
      // its floor is: on shared cores one stray microsecond in an 8-byte latency made a healthy node an
      // outlier. Every node runs the retest, so the calls stay alike on every rank; the flagged ones
      // keep its result.
      for (;;) {
        std::ostringstream mine;
        mine.precision(17);
        if (node.rank() == 0) {
          mine << host << ' ' << (measures_inside ? 1 : 0) << ' ' << outcome.busbw_gbs << ' ' << outcome.median_us
               << ' ' << outcome.wrong << ' ' << outcome.spread << ' ' << outcome.measurements;
        }
        const auto reports =
            watched(w, "each node alone: gathering " + check.name(), [&] { return world.gather_to_root(mine.str()); });
        verdicts.clear();
        std::vector<double> values;
        std::vector<int> measurements, reporters;  // of each verdict: its node's count and world rank
        for (std::size_t from = 0; from < reports.size(); ++from) {
          const std::string& report = reports[from];
          if (report.empty()) continue;
          std::istringstream in(report);
          std::string reporter;
          int inside = 0;
          Measured o;
          in >> reporter >> inside >> o.busbw_gbs >> o.median_us >> o.wrong >> o.spread >> o.measurements;
          measurements.push_back(o.measurements);
          reporters.push_back(static_cast<int>(from));
          if (!inside && o.wrong == 0) {
            // Where the spec gives a node several GPUs, one rank on it leaves its GPU links unmeasured:
            // the launch is wrong (one rank per GPU), and accepting would hide that.
            const int gpus = spec.node.gpu_count.value_or(0);
            if (gpus > 1) {
              verdicts.push_back({reporter, check.name(), Status::fail, "ONE_RANK", "1 rank",
                                  fmt::format("{} ranks", gpus),
                                  fmt::format("one rank on a node the spec gives {} GPUs: its links inside the node "
                                              "are not measured; launch one rank per GPU",
                                              gpus)});
            } else {
              verdicts.push_back({reporter, check.name(), Status::skip, "ONE_RANK", "", "",
                                  "one rank on this node: no link inside it to measure (the allocation's checks "
                                  "measure the links between nodes)"});
            }
            values.push_back(std::nan(""));
            continue;
          }
          verdicts.push_back(judge(floors.at_node(spec_check, reporter), reporter, o));
          values.push_back(o.wrong == 0 ? value_of(check, o) : std::nan(""));
        }
        // Well below the rest of the fleet is a warning even above the floor: a node that will fail next.
        std::vector<double> fleet;
        for (double v : values) {
          if (!std::isnan(v)) fleet.push_back(v);
        }
        const std::vector<bool> outliers = fleet_outliers(fleet, better_of(check));
        std::vector<bool> flagged(verdicts.size(), false);
        std::vector<double> again(static_cast<std::size_t>(world.size()), 0.0);  // 1: that world rank's node
        for (std::size_t i = 0, f = 0; i < verdicts.size(); ++i) {
          if (std::isnan(values[i])) continue;
          flagged[i] = outliers[f++] && verdicts[i].status == Status::pass;
          if (flagged[i] && measurements[i] < kMaxMeasurements) again[static_cast<std::size_t>(reporters[i])] = 1;
        }
        again = watched(w, "each node alone: agreeing on fleet retests of " + check.name(), [&] { return world.max(again); });
        if (std::none_of(again.begin(), again.end(), [](double a) { return a > 0; })) {
          const double fleet_median = fleet.empty() ? 0 : bench::summarize(fleet).median;
          for (std::size_t i = 0; i < verdicts.size(); ++i) {
            if (!flagged[i]) continue;
            verdicts[i].status = Status::warn;
            verdicts[i].fault = "FLEET_OUTLIER";
            verdicts[i].detail += fmt::format("; the fleet's median is {:.3f} {} over {} nodes", fleet_median,
                                              check.min_busbw_gbs ? "GB/s" : "us", fleet.size());
          }
          break;
        }
        const Measured retest = run_check(check, options, node.get(), w, "each node alone, fleet retest");
        if (again[static_cast<std::size_t>(rank)] > 0) {
          const int count = outcome.measurements + 1;
          outcome = retest;
          outcome.measurements = count;
        }
      }
      add_all(verdicts);
    }
    if (spec_check.scope != Scope::node) {
      const CollectiveCheck check = floors.at_allocation(spec_check);
      if (rank == 0) log->begin("allocation", check.name());
      const Measured outcome = run_check_under_control(check, options, world.get(), w, "whole allocation", world, rank == 0);
      bool missed = false;
      if (rank == 0) {
        const Verdict verdict = judge(check, "allocation", outcome);
        missed = verdict.status == Status::fail && verdict.fault != "WRONG_RESULT";
        add(verdict);
      }
      if (watched(w, "whole allocation: agreeing whether " + check.name() + " missed", [&] { return world.sum(missed ? 1 : 0); }) != 0) {
        if (rank == 0) log->begin("allocation", "isolation: " + check.name());
        const auto cost = isolate(check, options, world, hosts, settings.budget_seconds, w, add);
        if (cost) log->add_isolation_cost(*cost);
      }
    }
  }
  if (rank != 0) return std::nullopt;
  log->finish();
  Outcome outcome{log->all_pass(), log->verdicts(), ""};
  if (!settings.drain_path.empty()) {
    try {
      settings.write(settings.drain_path, drain_list(outcome.verdicts));
    } catch (const std::exception& e) {
      outcome.drain_error = e.what();
    }
  }
  return outcome;
}

}  // namespace cctune::accept
