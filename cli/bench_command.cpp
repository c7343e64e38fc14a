#include "cli/bench_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "bench/json_writer.hpp"
#include "bench/options.hpp"
#include "bench/progress.hpp"
#include "bench/sweep.hpp"
#include "bench/text_writer.hpp"
#include "bench/watchdog.hpp"
#include "cli/bench_recorder.hpp"
#include "cli/edge.hpp"
#include "cli/sol_options.hpp"
#include "topology/speed_of_light.hpp"
#include "collectives/backends.hpp"
#include "collectives/bootstrap.hpp"
#include "collectives/error.hpp"
#include "results/record.hpp"
#include "results/store.hpp"
#include <tuple>

namespace cctune::cli {

struct BenchCommand {
  CLI::App* app = nullptr;
  bench::RawBenchOptions raw;
  // Whole numbers as typed: CLI11 would wrap "-2" into an unsigned option and take "010" as octal,
  // so bench::parse_integer reads them, each in its range.
  std::string iterations = "20", warmup = "5", check_iterations = "1", rounds = "1", aggregation = "1", factor,
              seed = "1";
  bool list = false;
  bool no_progress = false;
  std::string db;
  bool no_db = false;
  bench::NcclTestsOptions nccl_tests;
  SolOptions sol;
};

BenchCommand* add_bench_command(CLI::App& app) {
  static BenchCommand command;
  auto* sub = app.add_subcommand("bench", "Sweep collectives over message sizes: timed, verified, nccl-tests output");
  command.app = sub;
  auto& raw = command.raw;
  // A bare `cctune bench` is all_reduce_perf: one collective, what a plain job gets from the backend.
  raw.collectives = {"allreduce"};
  raw.algorithms = {"default"};
  sub->add_option("-b,--minbytes", raw.min_bytes, "Smallest message size (K, M, G suffixes)")->capture_default_str();
  sub->add_option("-e,--maxbytes", raw.max_bytes, "Largest message size")->capture_default_str();
  sub->add_option("-f,--stepfactor", command.factor, "Multiply the size by this factor each step (default 2)");
  sub->add_option("-i,--stepbytes", raw.step, "Add this many bytes each step instead of multiplying");
  sub->add_option("-n,--iters", command.iterations, "Timed iterations per size")->capture_default_str();
  sub->add_option("-w,--warmup_iters", command.warmup, "Untimed warm-up iterations per size (in each round)")
      ->capture_default_str();
  sub->add_option("-c,--check", command.check_iterations, "Verified iterations per size (0: no check)")
      ->capture_default_str();
  sub->add_option("--rounds", command.rounds,
                  "Sweep every size this many times, each round timing its share of -n (rounds spread a slow "
                  "stretch of a shared machine over many sizes)")
      ->capture_default_str();
  sub->add_option("-d,--datatype", raw.dtype, "float, double, int32, half, bfloat16")->capture_default_str();
  sub->add_option("-o,--op", raw.op, "sum, max, min, avg")->capture_default_str();
  sub->add_option("-a,--average", command.aggregation, "Time across ranks: 0 rank 0, 1 average, 2 min, 3 max")
      ->capture_default_str();
  sub->add_option("-T,--timeout", raw.timeout_seconds,
                  "Abort a collective call stuck this many seconds, naming the ranks that had not arrived "
                  "(0: never)")
      ->capture_default_str();
  sub->add_option("-J,--output_file", raw.json_path, "Write the results as JSON to this file");
  sub->add_option("--collective", raw.collectives, "allreduce, alltoall, or all")->delimiter(',')
      ->capture_default_str();
  sub->add_option("--backend", raw.backend, "mpi (nccl and cuda in CUDA builds)")->capture_default_str();
  sub->add_option("--algorithm", raw.algorithms,
                  "One name, a comma-separated list, all, or default: the backend's own (MPI's, NCCL's choice); "
                  "see --list")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--seed", command.seed, "Seed of the generated input data")->capture_default_str();
  sub->add_option("--db", command.db,
                  "Record the run in this results database (default: $CCTUNE_DB, else "
                  "~/.local/share/cctune/results.db; see cctune results)");
  sub->add_flag("--no-db", command.no_db, "Do not record the run in the results database");
  sub->add_flag("--list", command.list, "List the backends' algorithms and exit");
  sub->add_flag("--no-progress", command.no_progress, "Never draw the progress line");
  // nccl-tests' options, so that its command lines run as they are (bench::apply_nccl_tests_options).
  auto& nt = command.nccl_tests;
  for (auto [names, target, help] : std::initializer_list<std::tuple<const char*, std::string*, const char*>>{
           {"-t,--nthreads", &nt.nthreads, "nccl-tests: threads per process (1)"},
           {"-g,--ngpus", &nt.ngpus, "nccl-tests: devices per thread (1: one device per process)"},
           {"-m,--agg_iters", &nt.agg_iters, "nccl-tests: calls per timed iteration (mpi backend)"},
           {"-N,--run_cycles", &nt.run_cycles, "nccl-tests: print every size this many times (0: until Ctrl-C)"},
           {"-p,--parallel_init", &nt.parallel_init, "nccl-tests: parallel init 0/1 (no effect)"},
           {"-z,--blocking", &nt.blocking, "nccl-tests: blocking mode 0-3 (no effect on mpi: its calls block)"},
           {"-y,--stream_null", &nt.stream_null, "nccl-tests: use the null stream (0)"},
           {"-G,--cudagraph", &nt.cudagraph, "nccl-tests: CUDA graph launches (0)"},
           {"-C,--report_cputime", &nt.report_cputime, "nccl-tests: label the time as CPU time 0/1 (mpi backend)"},
           {"-S,--report_timestamps", &nt.report_timestamps, "nccl-tests: a timestamp column 0/1"},
           {"-R,--local_register", &nt.local_register, "nccl-tests: buffer registration (0)"},
           {"-x,--cta_policy", &nt.cta_policy, "nccl-tests: NCCL CTA policy (not available)"},
           {"-D,--device_implementation", &nt.device_implementation, "nccl-tests: device implementation (0)"},
           {"-V,--device_cta_count", &nt.device_cta_count, "nccl-tests: CTAs of a device implementation (not available)"},
           {"-M,--memory", &nt.memory, "nccl-tests: memory usage line after each table 0/1"},
           {"-u,--unalign", &nt.unalign, "nccl-tests: misalign buffers by this many elements (0)"},
           {"-I,--per_iter_timing", &nt.per_iter_timing, "nccl-tests: per-iteration statistics columns 0/1"},
           {"-K,--per_iter_skip", &nt.per_iter_skip, "nccl-tests: leading samples left out of -I statistics"},
           {"-r,--root", &nt.root, "nccl-tests: root rank of rooted collectives (none here)"}}) {
    sub->add_option(names, *target, help)->group("nccl-tests options");
  }
  command.sol.add_to(sub);
  sub->add_flag("--stats", raw.stats, "Add min, median and p99 columns (slowest rank, out of place) to the table");
  sub->add_option("--inject-delay", raw.inject_delay,
                  "Testing only: RANK:SECONDS[:MIN_SIZE[:ALGORITHM]] makes that rank sleep before each timed "
                  "call")
      ->group("Testing");
  return &command;
}

namespace {

int list_algorithms() {
  for (const auto& backend : backend_registry()) {
    fmt::print("backend {}: {}\n", backend.name, backend.description);
    for (const auto& info : backend.algorithms()) {
      fmt::print("  {:<10} {:<20} {}{}\n", to_string(info.collective), info.name, info.description,
                 info.one_node_only ? " (one node only)" : "");
    }
  }
  return kOk;
}


}  // namespace

int run_bench_command(BenchCommand* command, int& argc, char**& argv) {
  if (command->list) return list_algorithms();
  bench::BenchOptions options;
  topology::SolInputs sol_inputs;
  try {
    bench::RawBenchOptions raw = command->raw;
    using bench::kMaxIterations;
    raw.iterations = static_cast<int>(bench::parse_integer("-n", command->iterations, 1, kMaxIterations));
    raw.warmup = static_cast<int>(bench::parse_integer("-w", command->warmup, 0, kMaxIterations));
    raw.check_iterations = static_cast<int>(bench::parse_integer("-c", command->check_iterations, 0, kMaxIterations));
    raw.rounds = static_cast<int>(bench::parse_integer("--rounds", command->rounds, 1, kMaxIterations));
    raw.aggregation = static_cast<int>(bench::parse_integer("-a", command->aggregation, 0, 3));
    if (!command->factor.empty()) {
      raw.factor = static_cast<std::uint64_t>(bench::parse_integer("-f", command->factor, 2, bench::kMaxStepFactor));
    }
    raw.seed = bench::parse_unsigned("--seed", command->seed);
    options = bench::resolve(raw);
    sol_inputs = command->sol.inputs();
    bench::apply_nccl_tests_options(command->nccl_tests, options);
    // The JSON file written over the results database (or the other way round) would destroy it.
    if (!command->no_db) {
      bench::refuse_same_output("-J", options.json_path, "--db", results::database_path(command->db).string());
    }
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }
  options.command_line = join_command_line(argc, argv);
  options.arguments.assign(argv, argv + argc);
  // Before MPI_Init: a singleton MPI_Init sets OMPI_COMM_WORLD_RANK in our own environment, which
  // would make a plain run look as if mpirun had started it.
  std::unique_ptr<bench::ProgressLine> progress;
  if (speaks_for_job() && !command->no_progress) progress = bench::ProgressLine::open_if_terminal();

  pin_to_one_cpu_if_unbound();  // before MPI_Init, so that MPI's memory is touched from there
  MpiRuntime mpi(argc, argv, options.timeout_seconds > 0);
  return run_mpi_job([&](int& rank) {
    Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
    rank = world.rank();
    bench::check_against_world(options, world.size());
    auto backend =
        find_backend(options.backend).create(MPI_COMM_WORLD, BackendSettings{options.timeout_seconds, options.launch});
    bench::RunInfo info = bench::gather_run_info(world, options, backend.get());
    const topology::SpeedOfLight sol = topology::job_speed_of_light(
        world, options.backend == "mpi" ? topology::Medium::host : topology::Medium::device, sol_inputs);
    info.sol = {sol.allreduce.busbw_gbs(), sol.alltoall.busbw_gbs(), sol.basis};
    const auto unavailable = bench::drop_unavailable(options, *backend);
    if (rank == 0 && !unavailable.empty()) {
      fmt::print(stderr, "cctune: skipping what cannot run here: {}\n", fmt::join(unavailable, "; "));
    }
    const auto skipped = bench::drop_one_node_only(options, backend->algorithms(), info.nnodes);
    if (rank == 0 && !skipped.empty()) {
      fmt::print(stderr, "cctune: skipping {}: shared memory needs every rank on one node, and this run spans {} nodes\n",
                 fmt::join(skipped, ", "), info.nnodes);
    }

    // Rank 0 owns the outputs; every rank must learn whether opening them failed, or some would
    // wait forever in the first collective.
    std::unique_ptr<bench::JsonWriter> json;
    std::string open_error;
    if (rank == 0 && !options.json_path.empty()) {
      try {
        json = std::make_unique<bench::JsonWriter>(options.json_path, stdout);
      } catch (const UsageError& e) {
        open_error = e.what();
      }
    }
    // The JSON file's error, if any, travels with the database's: one collective check for both.
    const std::unique_ptr<results::Store> store = open_run_store(world, command->db, command->no_db, open_error);
    std::unique_ptr<RunRecorder> recorder;
    if (store) recorder = std::make_unique<RunRecorder>(*store, !command->db.empty());

    // A device backend enforces -T itself, so that NCCL's communicator is aborted rather than the job.
    std::unique_ptr<bench::Watchdog> watchdog;
    if (options.timeout_seconds > 0 && options.backend == "mpi") {
      bench::Watchdog::AbortHook record;
      if (json) record = [writer = json.get()](const bench::Watchdog::Hang& hang) { writer->record_error(hang.message); };
      if (recorder) {
        record = [also = std::move(record), db = recorder.get()](const bench::Watchdog::Hang& hang) {
          if (also) also(hang);
          db->record_error(hang.message);
        };
      }
      watchdog = std::make_unique<bench::Watchdog>(MPI_COMM_WORLD, options.timeout_seconds, info.hosts, record);
    }
    bench::TextWriter text(stdout);
    std::vector<bench::Sink*> sinks;
    if (rank == 0) {
      sinks.push_back(&text);
      if (json) sinks.push_back(json.get());
      if (recorder) sinks.push_back(recorder.get());
    }
    if (options.run_cycles == 0) bench::stop_cycles_on_interrupt();
    const std::uint64_t wrong =
        bench::run_sweep(*backend, world, options, info, sinks, watchdog.get(), progress.get());
    if (recorder && !recorder->failed()) {
      fmt::print("# Recorded as run {} in {}\n", recorder->id(), store->path().string());
      std::fflush(stdout);
    }

    // Outputs that did not all arrive fail the run with one line: the table on stdout (a full disk,
    // /dev/full), or the JSON file, which keeps the last version written whole (the table has every row).
    if (rank == 0) {
      if (const auto failure = bench::write_failure(stdout, "standard output")) {
        fmt::print(stderr, "cctune: error: {}\n", *failure);
        return static_cast<int>(kFailed);
      }
    }
    if (const std::optional<std::string> failure = json ? json->failure() : std::nullopt) {
      fmt::print(stderr, "cctune: error: {} (the file keeps the last version written whole)\n", *failure);
      return static_cast<int>(kFailed);
    }
    return static_cast<int>(wrong == 0 && !(recorder && recorder->failed_the_run()) ? kOk : kFailed);
  });
}

}  // namespace cctune::cli
