#include "cli/verify_command.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <optional>

#include "bench/options.hpp"
#include "bench/sweep.hpp"
#include "bench/text_writer.hpp"
#include "cli/edge.hpp"
#include "cli/sweep_options.hpp"
#include "collectives/error.hpp"
#include "topology/cluster.hpp"
#include "topology/sources.hpp"
#include "results/record.hpp"
#include "results/store.hpp"
#include "tuner/measurement_env.hpp"
#include "tuner/verify.hpp"

namespace cctune::cli {

struct VerifyCommand {
  std::string profile;
  SweepOptions sweep;
  double timeout_seconds = 0;
  // As text, parsed by bench::parse_integer: CLI11 reads 010 as 8 and 0x10 as 16.
  std::string rounds = "5", iterations = "10";
  std::string db;
  bool no_db = false;
};

VerifyCommand* add_verify_command(CLI::App& app) {
  static VerifyCommand command;
  auto* sub = app.add_subcommand("verify", "The library's default (Open MPI's, NCCL's) against the profile's choices, "
                                           "interleaved on these ranks; exit 1 if tuned is slower beyond noise anywhere");
  sub->add_option("profile", command.profile, "The profile cctune tune wrote")->required();
  command.sweep.add_to(sub);
  sub->add_option("-T,--timeout", command.timeout_seconds,
                  "nccl, cuda profiles: abort a call stuck this many seconds, with a message (0: wait)")
      ->capture_default_str();
  sub->add_option("--rounds", command.rounds, "Interleaved rounds (1 to 100)")->capture_default_str();
  sub->add_option("-n,--iters", command.iterations, "Iterations per candidate per round (1 to 100000)")
      ->capture_default_str();
  sub->add_option("--db", command.db, "Record the comparison in this results database (default: as cctune bench)");
  sub->add_flag("--no-db", command.no_db, "Do not record the comparison");
  return &command;
}

namespace {

// Two measurements per size, "default" and "tuned", so that `cctune report` can draw one against the
// other; which algorithm was tuned in at each size is kept in the environment.
results::Record verify_record(const tuner::VerifyReport& report, const bench::RunInfo& info,
                              const std::string& fingerprint, const std::string& profile_path,
                              const std::string& backend, DataType type) {
  results::Record record = run_record("verify", info, fingerprint);
  nlohmann::json choices = nlohmann::json::array();
  for (const tuner::VerifyRow& row : report.rows) {
    for (const bool tuned : {false, true}) {
      results::Measurement m;
      m.collective = row.collective;
      m.backend = backend;
      m.algorithm = tuned ? "tuned" : "default";
      m.datatype = std::string(to_string(type));
      m.op = row.collective == "allreduce" ? "sum" : "none";
      m.bytes = row.bytes;
      m.median_us = tuned ? row.tuned_median_us : row.default_median_us;
      record.measurements.push_back(m);
    }
    nlohmann::json choice{{"collective", row.collective}, {"bytes", row.bytes}, {"tuned", row.tuned},
                          {"speedup", row.speedup}, {"slower", row.slower}};
    if (row.predicted) {
      choice["predicted_us"] = row.predicted_us ? nlohmann::json(*row.predicted_us) : nlohmann::json();
      choice["held"] = row.held();
    }
    choices.push_back(choice);
  }
  record.environment = {{"profile", profile_path},
                        {"hosts", info.hosts},
                        {"mpi_library", info.mpi_library},
                        {"geometric_mean_speedup", report.geometric_mean_speedup},
                        {"choices", choices}};
  record.environment["measured_under"] = tuner::to_json(tuner::measurement_environment());
  return record;
}

}  // namespace

int run_verify_command(VerifyCommand* command, int& argc, char**& argv) {
  tuner::Profile profile;
  tuner::VerifyOptions options;
  try {
    profile = tuner::read_profile(command->profile);
    bench::RawBenchOptions raw = command->sweep.raw();
    raw.backend = profile.backend;
    raw.timeout_seconds = command->timeout_seconds;
    options.bench = bench::resolve(raw);
    if (profile.backend == "mpi" && options.bench.timeout_seconds > 0) {
      throw UsageError("-T works with nccl and cuda profiles in verify", __FILE__, __LINE__);
    }
    std::vector<Collective> collectives;
    for (const auto& selection : options.bench.selections) collectives.push_back(selection.collective);
    tuner::check_runnable(profile, collectives);
    options.sizes = options.bench.sizes;
    options.rounds = static_cast<int>(bench::parse_integer("--rounds", command->rounds, 1, 100));
    options.iterations = static_cast<int>(bench::parse_integer("-n", command->iterations, 1, 100000));
    options.bench.command_line = join_command_line(argc, argv);
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }

  pin_to_one_cpu_if_unbound();  // before MPI_Init, so that MPI's memory is touched from there
  MpiRuntime mpi(argc, argv, false);
  return run_mpi_job([&](int& rank) {
    Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
    rank = world.rank();
    tuner::CandidateRunner runner(world, options.bench);
    const bench::RunInfo info = bench::gather_run_info(world, options.bench, &runner.backend(profile.backend));
    // Another shape than the profile's is verified only through the rules predicted for it.
    const bool measured_shape = info.nranks == profile.shape.nranks && info.nnodes == profile.shape.nnodes;
    if (!measured_shape && tuner::predicted_rules_for(profile, info.nranks, info.nnodes) == 0) {
      throw UsageError(fmt::format("{}: tuned for {} ranks on {} node(s), run on {} ranks on {} node(s), and it has no "
                                   "rule predicted for that shape (cctune plan --add-to)",
                                   command->profile, profile.shape.nranks, profile.shape.nnodes, info.nranks,
                                   info.nnodes),
                       __FILE__, __LINE__);
    }
    options.nnodes = info.nnodes;
    const topology::ClusterView view = topology::gather_cluster(world, processor_name(), topology::probe_local);
    const bool other_machine = rank == 0 && !profile.shape.fingerprint.empty() &&
                               view.types.front().fingerprint != profile.shape.fingerprint;
    if (world.sum(other_machine ? 1 : 0) != 0) {
      throw UsageError(command->profile + ": tuned on nodes with fingerprint " + profile.shape.fingerprint +
                           ", these have " + (rank == 0 ? view.types.front().fingerprint : std::string("another")),
                       __FILE__, __LINE__);
    }
    const std::unique_ptr<results::Store> store = open_run_store(world, command->db, command->no_db);
    const tuner::VerifyReport report = tuner::verify(runner, world, profile, options);
    if (rank != 0) return static_cast<int>(report.any_slower ? kFailed : kOk);
    return on_this_rank_alone([&] {
      fmt::print("# cctune verify {}: backend {}, the library's default ({}) against the profile, {} interleaved "
                 "rounds of {} calls, {} ranks\n",
                 command->profile, profile.backend, report.default_label, options.rounds, options.iterations, info.nranks);
      if (report.predicted_shape) {
        fmt::print("# {} ranks on {} node(s): the profile's rules predicted for this shape (cctune plan), re-measured; "
                   "a prediction held when its choice is not slower than default and its time is within {:.0f}%\n",
                   info.nranks, info.nnodes, 100 * tuner::kPredictionTolerance);
      }
      fmt::print("# {:>9}  {:>10}  {:>8}  {:>12}  {:>12}  {:>7}  {:>15}{}\n", "collective", "size (B)", "tuned",
                 "default (us)", "tuned (us)", "speedup", "range (rounds)",
                 report.predicted_shape ? fmt::format("  {:>14}  {:>7}  {}", "predicted (us)", "error", "prediction") : "");
      for (const auto& row : report.rows) {
        std::string prediction;
        if (report.predicted_shape) {
          const std::string error =
              row.predicted_us ? fmt::format("{:+.1f}%", 100 * (*row.predicted_us - row.tuned_median_us) / row.tuned_median_us) : "-";
          const char* verdict = !row.predicted ? "(no predicted rule)" : row.held() ? "held" : row.slower ? "NOT held: slower" : "NOT held: time";
          prediction = fmt::format("  {:>14}  {:>7}  {}", row.predicted_us ? fmt::format("{:.2f}", *row.predicted_us) : "-",
                                   error, verdict);
        }
        fmt::print("  {:>9}  {:>10}  {:>8}  {:>12.2f}  {:>12.2f}  {:>7.2f}  {:>6.2f} - {:<6.2f}{}{}\n", row.collective,
                   row.bytes, row.tuned, row.default_median_us, row.tuned_median_us, row.speedup, row.speedup_low,
                   row.speedup_high, prediction,
                   row.slower ? "  SLOWER beyond noise" : row.same_as_default ? "  (= default)" : "");
      }
      if (report.predicted_shape) {
        fmt::print("# predictions: {} of {} sizes held\n", report.predictions_held, report.predicted_sizes);
      }
      fmt::print("# geometric-mean speedup of tuned over default: {:.3f}x over {} sizes; {}\n",
                 report.geometric_mean_speedup, report.rows.size(),
                 report.any_slower ? "SLOWER than default beyond noise at some size" : "nowhere slower beyond noise");
      std::fflush(stdout);
      // After the report: a database that fails now must not cost the comparison just measured.
      if (store) {
        const auto recorded = record_or_warn(command->db, [&] {
          return store->append(verify_record(report, info, view.types.front().fingerprint, command->profile,
                                             profile.backend, options.bench.type));
        });
        if (recorded) fmt::print("# Recorded as run {}\n", *recorded);
      }
      if (const auto failure = bench::write_failure(stdout, "standard output")) {
        fmt::print(stderr, "cctune: error: {}\n", *failure);
        return static_cast<int>(kFailed);
      }
      return static_cast<int>(report.any_slower ? kFailed : kOk);
    });
  });
}

}  // namespace cctune::cli
