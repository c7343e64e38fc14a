#include "cli/tune_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "bench/options.hpp"
#include "bench/size_plan.hpp"
#include "bench/sweep.hpp"
#include "bench/text_writer.hpp"
#include "cli/edge.hpp"
#include "cli/sweep_options.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "topology/cluster.hpp"
#include "topology/sources.hpp"
#include "tuner/exporters.hpp"
#include "tuner/measurement_env.hpp"
#include "results/record.hpp"
#include "results/store.hpp"
#include "tuner/tune.hpp"
#include "tuner/verify.hpp"

namespace cctune::cli {

struct TuneCommand {
  SweepOptions sweep;
  std::string backend = "mpi";
  double timeout_seconds = 0;
  std::string strategy = "racing";
  std::string out_dir = "cctune-tuned";
  std::string dtype = "float";
  // As text, parsed by bench::parse_integer: CLI11 reads 010 as 8 and 0x10 as 16, and wraps -1 into
  // 2^64-1 for the seed.
  std::string initial_iterations = "5", rounds = "4";
  bool no_confirm = false;
  bool library_only = false;
  std::string db;
  bool no_db = false;
  std::string confirm_rounds = "5";
  std::string seed = "1";
};

TuneCommand* add_tune_command(CLI::App& app) {
  static TuneCommand command;
  auto* sub = app.add_subcommand("tune", "Measure the library's algorithms and cctune's on this allocation, choose per "
                                         "size, write a profile and the files a job imports");
  command.sweep.add_to(sub);
  sub->add_option("--backend", command.backend,
                  "mpi: Open MPI's algorithms and ours; nccl: NCCL's algorithms, protocols, channel caps and "
                  "p2p knobs; cuda: our kernels against NCCL's choice")
      ->capture_default_str();
  sub->add_option("-T,--timeout", command.timeout_seconds,
                  "nccl, cuda: abort a call stuck this many seconds, with a message (0: wait)")
      ->capture_default_str();
  sub->add_option("--strategy", command.strategy, "racing, exhaustive, or both (racing chooses; both also judges it)")
      ->check(CLI::IsMember({"racing", "exhaustive", "both"}))
      ->capture_default_str();
  sub->add_option("-o,--out-dir", command.out_dir, "Where profile.json, ompi-rules.conf and cctune.env go")
      ->capture_default_str();
  sub->add_option("-d,--datatype", command.dtype, "Element type of the measurements")->capture_default_str();
  sub->add_option("--initial-iters", command.initial_iterations, "Racing: iterations of the first round (1 to 1000)")
      ->capture_default_str();
  sub->add_option("--rounds", command.rounds, "Racing: rounds, each doubling the iterations (1 to 10)")
      ->capture_default_str();
  sub->add_option("--seed", command.seed, "Seed of the generated data (0 to 2^64-1)")->capture_default_str();
  sub->add_option("--confirm-rounds", command.confirm_rounds,
                  "Rounds of the final check against the library's default; a choice must win most of them "
                  "(1 to 100)")
      ->capture_default_str();
  sub->add_option("--db", command.db, "Record the tuning's measurements in this results database (default: as bench)");
  sub->add_flag("--no-db", command.no_db, "Do not record the tuning");
  sub->add_flag("--library-only", command.library_only,
                "mpi: candidates only Open MPI's own algorithms, which a job gets from the rules file alone "
                "(cctune's need libcctune-mpi.so preloaded, which the env file arranges)");
  sub->add_flag("--no-confirm", command.no_confirm,
                "Keep the search's choices without the final interleaved check against the library's default");
  return &command;
}

namespace {

constexpr const char* kOutputs[] = {"profile.json", "ompi-rules.conf", "cctune.env"};

// Before anything is measured: the folder exists or can be made, and what tune will write in it can
// be written (an hour of tuning must not end in "cannot write").
void check_outputs(const std::string& out_dir) {
  files::check_output_folder(out_dir, "the output folder (-o)");
  std::error_code ec;
  if (!std::filesystem::is_directory(out_dir, ec)) return;
  for (const char* name : kOutputs) {
    files::check_output_file((std::filesystem::path(out_dir) / name).string(), "the output file");
  }
}

// Rank 0 alone, after the ranks are done talking (see on_this_rank_alone).
void make_output_folder(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) CCTUNE_THROW("cannot make the output folder '" + dir.string() + "': " + ec.message());
}

// "12.3 GiB": the peak memory line's unit.
std::string gib(std::uint64_t bytes) { return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1ull << 30)); }

void print_report(const tuner::TuneReport& report, bool judged) {
  for (const auto& part : report.collectives) {
    fmt::print("\n# tune {}: candidates {}\n", to_string(part.collective), fmt::join(part.labels(), " "));
    for (const std::string& why : part.left_out) fmt::print("# left out {}\n", why);
    for (const std::string& what : part.failed) fmt::print("# left out after a wrong result: {}\n", what);
    fmt::print("# {:>10}  {:>12}  {:>8}  {:>12}  {:>7}", "size (B)", "default (us)", "chosen", "chosen (us)", "speedup");
    if (judged) fmt::print("  {:>10}  {:>13}", "exhaustive", "vs its best");
    if (!part.confirmed_speedup.empty()) fmt::print("  {:>9}", "confirmed");
    fmt::print("\n");
    double worst = 1.0;
    for (std::size_t s = 0; s < part.bytes.size(); ++s) {
      const auto& d = part.chosen.sizes[s];
      const double default_us = d.median_us[0];
      fmt::print("  {:>10}  {:>12.2f}  {:>8}  {:>12.2f}  {:>7.2f}", part.bytes[s], default_us,
                 part.label(d.winner), d.winner_median_us, default_us / d.winner_median_us);
      if (judged) {
        const auto& e = part.exhaustive.sizes[s];
        // The strategy's own choice (before any confirmation revert) judged on exhaustive's own,
        // longer measurements of the same size in the same state.
        const std::size_t raced = !part.reverted.empty() && part.reverted[s] ? d.runner_up : d.winner;
        const double ratio = e.median_us[raced] / e.winner_median_us;
        worst = std::max(worst, ratio);
        fmt::print("  {:>10}  {:>12.1f}%", part.label(e.winner), 100.0 * (ratio - 1.0));
      }
      if (!part.confirmed_speedup.empty()) fmt::print("  {:>9.2f}", part.confirmed_speedup[s]);
      if (!part.reverted.empty() && part.reverted[s]) {
        fmt::print("  (reverted to {}: {} was not confirmed {:.2f}x faster)", part.label(0),
                   part.label(d.runner_up), tuner::VerifyRow::kMargin);
      }
      fmt::print("\n");
    }
    const auto reverted = std::count(part.reverted.begin(), part.reverted.end(), true);
    fmt::print("# measured {} calls in {:.1f} s, confirmation {:.1f} s ({} size(s) reverted to {})",
               part.chosen.iterations, part.chosen_seconds, part.confirm_seconds, reverted, part.label(0));
    if (judged) {
      fmt::print("; exhaustive {} calls in {:.1f} s: racing cost {:.0f}% of its time, its choices (before "
                 "confirmation) at most {:.1f}% slower than the exhaustive optimum",
                 part.exhaustive.iterations, part.exhaustive_seconds,
                 100.0 * part.chosen_seconds / part.exhaustive_seconds, 100.0 * (worst - 1.0));
    }
    fmt::print("\n");
  }
  fmt::print("# at most {} bound configuration(s) alive at once ({} created)", report.peak_live, report.binds);
  if (report.peak_device_bytes > 0) fmt::print("; peak GPU memory in use {} (the most of any rank)", gib(report.peak_device_bytes));
  fmt::print("\n");
}

}  // namespace

namespace {

// Every candidate's median at every size, as the strategy that chose measured it (a candidate racing
// dropped early has few calls behind its median), with the choices in the environment.
results::Record tune_record(const tuner::TuneReport& report, const bench::RunInfo& info, const std::string& fingerprint,
                            const std::string& profile_path, DataType type) {
  results::Record record = run_record("tune", info, fingerprint);
  for (const auto& part : report.collectives) {
    for (std::size_t s = 0; s < part.bytes.size(); ++s) {
      const tuner::SizeDecision& decision = part.chosen.sizes[s];
      for (std::size_t c = 0; c < part.space.size(); ++c) {
        if (decision.median_us[c] <= 0) continue;
        results::Measurement m;
        m.collective = std::string(to_string(part.collective));
        m.backend = part.space[c].backend;
        m.algorithm = part.label(c);
        m.datatype = std::string(to_string(type));
        m.op = part.collective == Collective::allreduce ? "sum" : "none";
        m.bytes = part.bytes[s];
        m.median_us = decision.median_us[c];
        record.measurements.push_back(m);
      }
    }
  }
  record.environment = {{"profile", profile_path},
                        {"hosts", info.hosts},
                        {"mpi_library", info.mpi_library},
                        {"choices", nlohmann::json::parse(tuner::profile_to_json(report.profile))["rules"]},
                        {"peak_live_bound", report.peak_live},
                        {"bound_created", report.binds},
                        {"peak_device_bytes", report.peak_device_bytes}};
  record.environment["measured_under"] = tuner::to_json(tuner::measurement_environment());
  for (const auto& part : report.collectives) {
    for (const auto* list : {&part.left_out, &part.failed}) {
      for (const std::string& line : *list) record.environment["left_out"].push_back(line);
    }
  }
  return record;
}

}  // namespace

int run_tune_command(TuneCommand* command, int& argc, char**& argv) {
  tuner::TuneOptions options;
  try {
    // Before the backend is resolved: the same line whether or not this build has the one named.
    if (command->backend != "mpi" && command->library_only) {
      throw UsageError("--library-only is about Open MPI's algorithms: it needs --backend mpi", __FILE__, __LINE__);
    }
    bench::RawBenchOptions raw = command->sweep.raw();
    raw.dtype = command->dtype;
    raw.seed = bench::parse_unsigned("--seed", command->seed);
    raw.backend = command->backend;
    raw.timeout_seconds = command->timeout_seconds;
    options.bench = bench::resolve(raw);
    options.backend = options.bench.backend;
    if (options.backend == "mpi" && options.bench.timeout_seconds > 0) {
      throw UsageError("-T works with --backend nccl or cuda in tune (bench has a watchdog for mpi)", __FILE__, __LINE__);
    }
    options.bench.command_line = join_command_line(argc, argv);
    options.sizes = options.bench.sizes;
    options.collectives.clear();
    for (const auto& selection : options.bench.selections) options.collectives.push_back(selection.collective);
    options.strategy = command->strategy == "both"         ? tuner::Strategy::both
                       : command->strategy == "exhaustive" ? tuner::Strategy::exhaustive
                                                           : tuner::Strategy::racing;
    options.search = {static_cast<int>(bench::parse_integer("--initial-iters", command->initial_iterations, 1, 1000)),
                      static_cast<int>(bench::parse_integer("--rounds", command->rounds, 1, 10))};
    const int confirm_rounds = static_cast<int>(bench::parse_integer("--confirm-rounds", command->confirm_rounds, 1, 100));
    options.confirm_rounds = command->no_confirm ? 0 : confirm_rounds;
    options.library_only = command->library_only;
    // Every rank meets the same left-out candidates; rank 0 says so as it happens.
    options.note = [](const std::string& line) {
      if (!speaks_for_job()) return;
      std::fprintf(stderr, "cctune: %s\n", line.c_str());
      std::fflush(stderr);
    };
    for (Collective collective : options.collectives) {
      if (tuner::search_space(options.backend, collective, options.library_only).empty()) {
        throw UsageError(fmt::format("backend {} has nothing to tune for {}", options.backend, to_string(collective)),
                         __FILE__, __LINE__);
      }
    }
    // Only the rank that writes checks: another rank's filesystem may differ, and its refusal would be
    // silent (report_usage_error) and leave the job to hang. Rank 0 exiting 2 here ends the job: the
    // others are in MPI_Init, and mpirun stops a job one of whose processes exited non-zero.
    if (speaks_for_job()) check_outputs(command->out_dir);
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }

  pin_to_one_cpu_if_unbound();  // before MPI_Init, so that MPI's memory is touched from there
  MpiRuntime mpi(argc, argv, false);
  return run_mpi_job([&](int& rank) {
    Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
    rank = world.rank();
    tuner::CandidateRunner runner(world, options.bench);
    const bench::RunInfo info = bench::gather_run_info(world, options.bench, &runner.backend(options.backend));
    const topology::ClusterView view = topology::gather_cluster(world, processor_name(), topology::probe_local);
    const std::string fingerprint = rank == 0 ? view.types.front().fingerprint : std::string();
    if (rank == 0) {
      fmt::print("# cctune tune: backend {}, {} ranks on {} node(s), {}{}; strategy {}\n", options.backend, info.nranks,
                 info.nnodes, info.mpi_library, info.nccl_version.empty() ? "" : ", NCCL " + info.nccl_version,
                 command->strategy);
      if (!view.homogeneous()) fmt::print("# warning: the nodes are not built alike; the profile records node type 1\n");
      std::fflush(stdout);
    }
    const std::unique_ptr<results::Store> store = open_run_store(world, command->db, command->no_db);
    const tuner::TuneReport report = tuner::tune(runner, world, options, info, fingerprint);
    if (rank != 0) return static_cast<int>(kOk);
    return on_this_rank_alone([&] {
      print_report(report, options.strategy == tuner::Strategy::both);
      namespace fs = std::filesystem;
      const fs::path dir = fs::absolute(command->out_dir);
      make_output_folder(dir);
      const fs::path profile = dir / "profile.json", rules = dir / "ompi-rules.conf", env = dir / "cctune.env";
      write_file_atomically(profile, tuner::profile_to_json(report.profile));
      write_file_atomically(rules, tuner::export_ompi_rules(report.profile));
      write_file_atomically(env, tuner::export_env_file(report.profile, {profile.string(), rules.string(), mpi_shim_path(), self_path()}));
      fmt::print("\nwrote {}\nwrote {}\nwrote {}\n", profile.string(), rules.string(), env.string());
      if (store) {
        std::fflush(stdout);
        const auto id = record_or_warn(command->db, [&] {
          return store->append(tune_record(report, info, fingerprint, profile.string(), options.bench.type));
        });
        if (id) fmt::print("# Recorded as run {}\n", *id);
      }
      fmt::print("next: mpirun -np {} cctune verify {}\n", info.nranks, profile.string());
      // The report on a closed pipe or a full disk must not look like one that arrived (the files are whole).
      if (const auto failure = bench::write_failure(stdout, "standard output")) {
        fmt::print(stderr, "cctune: error: {} (the profile files are whole)\n", *failure);
        return static_cast<int>(kFailed);
      }
      return static_cast<int>(kOk);
    });
  });
}

}  // namespace cctune::cli
