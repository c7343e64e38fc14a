// Every bad input a user can type is refused with a UsageError whose message names the problem.
#include "bench/options.hpp"
#include "collectives/backends.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "collectives/error.hpp"
#include "tests/unit/temp_dir.hpp"

namespace cctune::bench {
namespace {

std::string error_of(const RawBenchOptions& raw) {
  try {
    resolve(raw);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(BenchOptions, DefaultsSelectEveryAlgorithmOfBothCollectives) {
  const BenchOptions options = resolve(RawBenchOptions{});
  ASSERT_EQ(options.selections.size(), 2u);
  EXPECT_EQ(options.selections[0].collective, Collective::allreduce);
  EXPECT_EQ(options.selections[0].algorithms,
            (std::vector<std::string>{"mpi", "ring", "recursive_doubling", "rabenseifner", "shm_direct", "shm_split",
                                      "ompi:1", "ompi:2", "ompi:3", "ompi:4", "ompi:5", "ompi:6"}));
  EXPECT_EQ(options.selections[1].algorithms, (std::vector<std::string>{"mpi", "pairwise", "bruck", "linear", "shm",
                                                                        "ompi:1", "ompi:2", "ompi:3", "ompi:4"}));
  EXPECT_EQ(options.sizes.front(), 8u);
  EXPECT_EQ(options.sizes.back(), 64u << 20);
}

TEST(BenchOptions, DefaultIsTheBackendsOwnAlgorithm) {
  RawBenchOptions raw;
  raw.collectives = {"allreduce,alltoall"};
  raw.algorithms = {"default"};
  const BenchOptions options = resolve(raw);
  ASSERT_EQ(options.selections.size(), 2u);
  EXPECT_EQ(options.selections[0].algorithms, std::vector<std::string>{"mpi"});
  EXPECT_EQ(options.selections[1].algorithms, std::vector<std::string>{"mpi"});
  EXPECT_EQ(options.selections[0].named, std::vector<std::string>{"mpi"});  // never skipped silently
}

std::string nccl_tests_error(const NcclTestsOptions& given, const std::string& backend = "mpi") {
  BenchOptions options = resolve(RawBenchOptions{});
  options.backend = backend;
  try {
    apply_nccl_tests_options(given, options);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(BenchOptions, NcclTestsOptionsAreHonouredOrRefusedWithTheReason) {
  // What nccl-tests' command lines carry runs as it is.
  NcclTestsOptions plain;
  plain.ngpus = "1";
  plain.nthreads = "1";
  plain.blocking = "1";
  plain.parallel_init = "1";
  plain.root = "0";
  plain.stream_null = "0";
  EXPECT_EQ(nccl_tests_error(plain), "");
  NcclTestsOptions honoured;
  honoured.agg_iters = "4";
  honoured.per_iter_timing = "1";
  honoured.per_iter_skip = "2";
  honoured.report_timestamps = "1";
  honoured.report_cputime = "1";
  honoured.memory = "1";
  honoured.run_cycles = "0";
  RawBenchOptions one;
  one.collectives = {"allreduce"};
  one.algorithms = {"default"};
  BenchOptions options = resolve(one);
  apply_nccl_tests_options(honoured, options);
  EXPECT_EQ(options.launch.aggregated, 4);
  EXPECT_TRUE(options.per_iteration && options.timestamps && options.launch.host_time && options.memory_report);
  EXPECT_EQ(options.per_iteration_skip, 2);
  EXPECT_EQ(options.run_cycles, 0);
  // Refused, each with what to do instead.
  const auto refused = [](auto set, const std::string& backend, const std::string& expected) {
    NcclTestsOptions given;
    set(given);
    const std::string message = nccl_tests_error(given, backend);
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  };
  refused([](NcclTestsOptions& g) { g.ngpus = "8"; }, "mpi", "-g 8: cctune drives one device per process");
  refused([](NcclTestsOptions& g) { g.nthreads = "2"; }, "mpi", "-t 2: cctune runs one thread per process");
  refused([](NcclTestsOptions& g) { g.cudagraph = "10"; }, "mpi", "-G 10: CUDA graphs need a device backend");
  refused([](NcclTestsOptions& g) { g.local_register = "1"; }, "mpi", "-R 1: buffer registration is NCCL's");
  refused([](NcclTestsOptions& g) { g.cta_policy = "1"; }, "mpi", "-x 1: a CTA policy is NCCL's");
  refused([](NcclTestsOptions& g) { g.stream_null = "1"; }, "mpi", "-y 1: the mpi backend uses no CUDA stream");
  refused([](NcclTestsOptions& g) { g.cta_policy = "3"; }, "mpi", "-x 3 is out of range");
#if CCTUNE_HAVE_NCCL
  // The nccl backend honours every launch option of nccl-tests, each as nccl-tests means it.
  NcclTestsOptions launch;
  launch.blocking = "3";
  launch.agg_iters = "4";
  launch.report_cputime = "1";
  launch.stream_null = "1";
  launch.local_register = "2";
  launch.cta_policy = "1";
  BenchOptions on_nccl = resolve(one);
  on_nccl.backend = "nccl";
  apply_nccl_tests_options(launch, on_nccl);
  EXPECT_EQ(on_nccl.launch.blocking, Blocking::wait_then_meet_untimed);
  EXPECT_EQ(on_nccl.launch.aggregated, 4);
  EXPECT_TRUE(on_nccl.launch.host_time && on_nccl.launch.null_stream);
  EXPECT_EQ(on_nccl.launch.registration, Registration::symmetric);
  EXPECT_EQ(on_nccl.launch.cta_policy, 1);
  EXPECT_EQ(on_nccl.launch.graph_launches, 0);
  NcclTestsOptions graphs;
  graphs.cudagraph = "5";
  graphs.agg_iters = "2";
  on_nccl = resolve(one);
  on_nccl.backend = "nccl";
  apply_nccl_tests_options(graphs, on_nccl);
  EXPECT_EQ(on_nccl.launch.graph_launches, 5);
  // What no backend can run.
  refused([](NcclTestsOptions& g) { g.cudagraph = "5", g.blocking = "1"; }, "nccl",
          "-G 5 with -z 1: a graph's calls run as one launch");
  refused([](NcclTestsOptions& g) { g.cudagraph = "5", g.stream_null = "1"; }, "nccl",
          "-G 5 with -y 1: CUDA cannot capture the legacy default stream");
  refused([](NcclTestsOptions& g) { g.cudagraph = "5", g.per_iter_timing = "1"; }, "nccl",
          "-I 1 with -G 5: a graph times its captured calls as a whole");
  EXPECT_EQ(nccl_tests_error([] {
              NcclTestsOptions g;
              g.unalign = "3";
              return g;
            }(), "nccl"),
            "");
#endif
#if CCTUNE_HAVE_CUDA
  refused([](NcclTestsOptions& g) { g.cudagraph = "2"; }, "cuda", "-G 2: each call of the cuda backend's kernels");
  refused([](NcclTestsOptions& g) { g.local_register = "1"; }, "cuda", "-R 1: buffer registration is NCCL's");
  refused([](NcclTestsOptions& g) { g.unalign = "3"; }, "cuda", "-u 3: the cuda backend's kernels move 16-byte words");
  EXPECT_EQ(nccl_tests_error([] {
              NcclTestsOptions g;
              g.blocking = "1";
              g.agg_iters = "2";
              return g;
            }(), "cuda"),
            "");
#endif
  refused([](NcclTestsOptions& g) { g.per_iter_skip = "20"; }, "mpi", "-K 20 leaves none of the -n 20 iterations");
  refused([](NcclTestsOptions& g) { g.ngpus = "x"; }, "mpi", "-g 'x' is not a whole number");
  // Cycles until interrupted would never reach a second algorithm.
  refused([](NcclTestsOptions& g) { g.run_cycles = "0"; }, "mpi", "-N 0 cycles until interrupted, so only the first");
  // -d all -o all: every pair the backend defines, avg on int32 left out.
  RawBenchOptions all_types;
  all_types.dtype = "all";
  all_types.op = "all";
  all_types.collectives = {"allreduce"};
  const BenchOptions every = resolve(all_types);
  ASSERT_EQ(every.selections.size(), 1u);
  EXPECT_EQ(every.selections[0].rows_of.size(), 5u * 4u - 1u);
  BenchOptions rooted = resolve(RawBenchOptions{});
  rooted.root = 4;
  EXPECT_THROW(check_against_world(rooted, 4), UsageError);
  EXPECT_NO_THROW(check_against_world(rooted, 5));
  BenchOptions gathered = resolve(RawBenchOptions{});
  gathered.per_iteration = true;
  gathered.iterations = 100'000'000;
  EXPECT_THROW(check_against_world(gathered, 3), UsageError);  // 2.4 GB of times at rank 0
}

TEST(BenchOptions, RunsAcrossNodesDropTheSharedMemoryAlgorithms) {
  const auto algorithms = find_backend("mpi").algorithms();
  BenchOptions options = resolve(RawBenchOptions{});
  EXPECT_TRUE(drop_one_node_only(options, algorithms, 1).empty());
  EXPECT_EQ(options.selections[1].algorithms.size(), 9u);

  EXPECT_EQ(drop_one_node_only(options, algorithms, 2), (std::vector<std::string>{"shm_direct", "shm_split", "shm"}));
  EXPECT_EQ(options.selections[0].algorithms,
            (std::vector<std::string>{"mpi", "ring", "recursive_doubling", "rabenseifner", "ompi:1", "ompi:2",
                                      "ompi:3", "ompi:4", "ompi:5", "ompi:6"}));
  EXPECT_EQ(options.selections[1].algorithms, (std::vector<std::string>{"mpi", "pairwise", "bruck", "linear",
                                                                        "ompi:1", "ompi:2", "ompi:3", "ompi:4"}));

  RawBenchOptions only_shared;
  only_shared.algorithms = {"shm,shm_split"};
  BenchOptions nothing_left = resolve(only_shared);
  try {
    drop_one_node_only(nothing_left, algorithms, 3);
    FAIL() << "expected a usage error";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "shm_split, shm need every rank on one node (shared memory), and this run spans 3 nodes");
  }
}

// A backend that cannot honour some algorithms here (as nccl on an older runtime, or LL128 where NCCL
// would not enable it); nothing else of it is used.
class PickyBackend final : public Backend {
 public:
  std::string_view name() const override { return "mpi"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::span<const AlgorithmInfo> algorithms() const override { return find_backend("mpi").algorithms(); }
  std::unique_ptr<Buffer> allocate(std::size_t) override { return nullptr; }
  std::unique_ptr<BoundCollective> bind(Collective, std::string_view) override { return nullptr; }
  std::optional<std::string> unavailable(Collective collective, std::string_view algorithm) const override {
    if (collective == Collective::alltoall && algorithm == "bruck") return "not in this runtime";
    if (algorithm == "ring") return "the hardware says no";
    return std::nullopt;
  }
};

TEST(BenchOptions, AllSkipsWhatTheBackendCannotRunHereButANamedOneStays_Item15) {
  const PickyBackend backend;
  BenchOptions options = resolve(RawBenchOptions{});
  EXPECT_EQ(drop_unavailable(options, backend),
            (std::vector<std::string>{"allreduce ring (the hardware says no)", "alltoall bruck (not in this runtime)"}));
  for (const auto& selection : options.selections) {
    EXPECT_EQ(std::count(selection.algorithms.begin(), selection.algorithms.end(), "ring"), 0);
    EXPECT_EQ(std::count(selection.algorithms.begin(), selection.algorithms.end(), "bruck"), 0);
    EXPECT_EQ(std::count(selection.algorithms.begin(), selection.algorithms.end(), "mpi"), 1);
  }

  RawBenchOptions named;
  named.algorithms = {"all,ring"};  // named as well: its own bind() says why, nothing is skipped silently
  BenchOptions kept = resolve(named);
  EXPECT_EQ(drop_unavailable(kept, backend), (std::vector<std::string>{"alltoall bruck (not in this runtime)"}));
  EXPECT_EQ(std::count(kept.selections[0].algorithms.begin(), kept.selections[0].algorithms.end(), "ring"), 1);

  RawBenchOptions nothing;
  nothing.collectives = {"alltoall"};
  nothing.algorithms = {"all"};
  BenchOptions only_bruck = resolve(nothing);
  only_bruck.selections[0].algorithms = {"bruck"};
  try {
    drop_unavailable(only_bruck, backend);
    FAIL() << "expected a usage error";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "no algorithm of --algorithm all can run here: alltoall bruck (not in this runtime)");
  }
}

TEST(BenchOptions, AListPicksAlgorithmsPerCollective) {
  RawBenchOptions raw;
  raw.algorithms = {"ring,bruck"};
  const BenchOptions options = resolve(raw);
  ASSERT_EQ(options.selections.size(), 2u);
  EXPECT_EQ(options.selections[0].algorithms, std::vector<std::string>{"ring"});
  EXPECT_EQ(options.selections[1].algorithms, std::vector<std::string>{"bruck"});
}

TEST(BenchOptions, BadInputsNameTheProblem) {
  RawBenchOptions raw;
  raw.algorithms = {"ringg"};
  EXPECT_NE(error_of(raw).find("unknown algorithm 'ringg'"), std::string::npos);

  raw = {};
  raw.collectives = {"allreduce"};
  raw.algorithms = {"bruck"};  // an alltoall algorithm
  EXPECT_NE(error_of(raw).find("unknown algorithm 'bruck'"), std::string::npos);

  raw = {};
  raw.dtype = "float8";
  EXPECT_NE(error_of(raw).find("unknown dtype 'float8'"), std::string::npos);

  raw = {};
  raw.min_bytes = "1G";
  raw.max_bytes = "1M";
  EXPECT_NE(error_of(raw).find("larger than maximum"), std::string::npos);

  raw = {};
  raw.factor = 1;
  EXPECT_NE(error_of(raw).find("-f 1"), std::string::npos);

  raw = {};
  raw.max_bytes = "99999999999999G";
  EXPECT_NE(error_of(raw).find("overflows"), std::string::npos);

  raw = {};
  raw.max_bytes = "16G";  // 4 Gi float elements
  EXPECT_NE(error_of(raw).find("MPI count"), std::string::npos);

  raw = {};
  raw.min_bytes = "2";
  EXPECT_NE(error_of(raw).find("smaller than one float element"), std::string::npos);

  raw = {};
  raw.dtype = "int32";
  raw.op = "avg";
  EXPECT_NE(error_of(raw).find("avg is not supported for int32"), std::string::npos);

  raw = {};
  raw.factor = 2;
  raw.step = "1M";
  EXPECT_NE(error_of(raw).find("not both"), std::string::npos);

  raw = {};
  raw.iterations = 0;
  EXPECT_NE(error_of(raw).find("-n 0"), std::string::npos);

  raw = {};
  raw.rounds = 0;
  EXPECT_NE(error_of(raw).find("--rounds 0 must be between 1 and -n (20)"), std::string::npos);
  raw.rounds = 21;
  EXPECT_NE(error_of(raw).find("--rounds 21 must be between 1 and -n (20)"), std::string::npos);
  raw.rounds = 20;
  EXPECT_EQ(resolve(raw).rounds, 20);

  raw = {};
  raw.aggregation = 7;
  EXPECT_NE(error_of(raw).find("-a 7"), std::string::npos);

  // The GPU backends: refused by a build without them, else their own limits are checked up front.
  const auto backends = backend_registry();
  const bool has_nccl = std::any_of(backends.begin(), backends.end(), [](const auto& b) { return b.name == "nccl"; });
  raw = {};
  raw.backend = "nccl";
  if (!has_nccl) {
    EXPECT_NE(error_of(raw).find("built without"), std::string::npos);
  } else {
    raw.op = "avg";
    EXPECT_NE(error_of(raw).find("sum, max and min"), std::string::npos);
    raw = {};
    raw.backend = "cuda";
    raw.dtype = "double";
    EXPECT_NE(error_of(raw).find("float, half and bfloat16"), std::string::npos);
    raw.dtype = "float";
    raw.inject_delay = "0:0.1";
    EXPECT_NE(error_of(raw).find("--backend mpi only"), std::string::npos);
  }

  raw = {};
  raw.backend = "gloo";
  EXPECT_NE(error_of(raw).find("unknown backend 'gloo'"), std::string::npos);
}

TEST(BenchOptions, AlltoallOnlyRunIgnoresTheReductionOp) {
  RawBenchOptions raw;
  raw.collectives = {"alltoall"};
  raw.dtype = "int32";
  raw.op = "avg";
  EXPECT_NO_THROW(resolve(raw));
}

TEST(InjectedDelay, Grammar) {
  const InjectedDelay d = parse_injected_delay("2:0.5:1M:ring");
  EXPECT_EQ(d.rank, 2);
  EXPECT_DOUBLE_EQ(d.seconds, 0.5);
  EXPECT_EQ(d.min_bytes, 1u << 20);
  EXPECT_EQ(d.algorithm, "ring");
  EXPECT_THROW(parse_injected_delay("2"), UsageError);
  EXPECT_THROW(parse_injected_delay("x:1"), UsageError);
  EXPECT_THROW(parse_injected_delay("1:-3"), UsageError);
  BenchOptions options = resolve(RawBenchOptions{});
  options.delay = d;
  EXPECT_THROW(check_against_world(options, 2), UsageError);
  EXPECT_NO_THROW(check_against_world(options, 3));
}

std::string integer_error(std::string_view option, std::string_view text, std::int64_t min, std::int64_t max) {
  try {
    parse_integer(option, text, min, max);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

// "-f -2" ran with a factor of 2^64-2 and "-f 0" silently meant 2: each whole-number option is read as
// the number it is and refused, naming the option, the value as typed and the range.
TEST(WholeNumberOptions, AreRangeCheckedAsTheNumberTheyAre_Item21) {
  EXPECT_EQ(integer_error("-f", "-2", 2, kMaxStepFactor), "-f -2 is out of range (2 to 1048576)");
  EXPECT_EQ(integer_error("-f", "0", 2, kMaxStepFactor), "-f 0 is out of range (2 to 1048576)");
  EXPECT_EQ(integer_error("-n", "99999999999999999999", 1, kMaxIterations),
            "-n 99999999999999999999 is out of range (1 to 100000000)");
  EXPECT_EQ(integer_error("-n", "1e3", 1, kMaxIterations), "-n '1e3' is not a whole number (1 to 100000000)");
  EXPECT_EQ(integer_error("-n", "2.7", 1, kMaxIterations), "-n '2.7' is not a whole number (1 to 100000000)");
  EXPECT_EQ(integer_error("-n", "", 1, kMaxIterations), "-n '' is not a whole number (1 to 100000000)");
  EXPECT_EQ(parse_integer("-f", "010", 2, kMaxStepFactor), 10);  // decimal, never octal
  EXPECT_EQ(parse_integer("-a", "3", 0, 3), 3);
  EXPECT_THROW(parse_unsigned("--seed", "-1"), UsageError);
  EXPECT_EQ(parse_unsigned("--seed", "18446744073709551615"), 18446744073709551615ull);
  EXPECT_THROW(parse_unsigned("--seed", "18446744073709551616"), UsageError);
  // What tune and verify hand over without the CLI's parsing is checked again.
  RawBenchOptions raw;
  raw.factor = 1ull << 40;
  EXPECT_NE(error_of(raw).find("-f 1099511627776 is out of range (2 to 1048576)"), std::string::npos);
  raw = {};
  raw.timeout_seconds = 1e300;
  EXPECT_NE(error_of(raw).find("-T 1e+300 must be a number of seconds from 0 to 604800"), std::string::npos);
  EXPECT_THROW(parse_injected_delay("1:inf"), UsageError);
}

// Two outputs of one command on the same file would overwrite each other.
TEST(SameOutput, TwoNamesForOneFileAreRefused_Item15) {
  const test_files::TempDir temp("same-output");
  const std::filesystem::path& dir = temp.path();
  std::filesystem::create_directories(dir / "sub");
  std::filesystem::create_directory_symlink(dir / "sub", dir / "link");
  const std::string a = (dir / "sub" / "x.json").string();
  EXPECT_THROW(refuse_same_output("--json", a, "--junit", a), UsageError);
  EXPECT_THROW(refuse_same_output("--json", a, "--junit", (dir / "sub" / "." / "x.json").string()), UsageError);
  EXPECT_THROW(refuse_same_output("-J", a, "--db", (dir / "link" / "x.json").string()), UsageError);
  try {
    refuse_same_output("-J", a, "--db", (dir / "sub" / ".." / "sub" / "x.json").string());
    ADD_FAILURE() << "not refused";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("-J '" + a + "' and --db"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(refuse_same_output("--json", a, "--junit", (dir / "sub" / "x.xml").string()));
  EXPECT_NO_THROW(refuse_same_output("--json", "", "--junit", ""));
}

}  // namespace
}  // namespace cctune::bench
