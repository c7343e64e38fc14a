#pragma once
// Everything `cctune bench` was asked to do, checked before any rank communicates.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/size_plan.hpp"
#include "collectives/backend.hpp"
#include "collectives/types.hpp"

namespace cctune::bench {

// How a per-rank time becomes the reported time, as nccl-tests' -a.
enum class RankAggregation { rank0 = 0, average = 1, minimum = 2, maximum = 3 };

// A test-only fault: rank `rank` sleeps `seconds` before each timed call at sizes >= min_bytes,
// for the named algorithm only when one is given. Used to prove the watchdog and regressions.
struct InjectedDelay {
  int rank = 0;
  double seconds = 0;
  std::uint64_t min_bytes = 0;
  std::string algorithm;
};
InjectedDelay parse_injected_delay(const std::string& text);

// One type and reduction a table's rows are measured with (several with nccl-tests' -d all, -o all).
struct TypeAndOp {
  DataType type;
  ReduceOp op;
};

struct AlgorithmSelection {
  Collective collective;
  std::vector<std::string> algorithms;
  std::vector<std::string> named;  // those the user named (not through "all"): never skipped silently
  std::vector<TypeAndOp> rows_of;  // in row order, each with every size; empty: the options' type and op
};

struct BenchOptions {
  std::vector<AlgorithmSelection> selections;  // in run order
  std::string backend = "mpi";
  std::vector<std::uint64_t> sizes;
  SizeRange range;
  int iterations = 20;
  int warmup = 5;
  int check_iterations = 1;
  // The sweep runs this many times, each pass timing its share of `iterations` for every size, so a
  // stretch when a shared machine runs slow lands in one pass of many sizes rather than in all of a
  // few sizes' iterations, where the median can no longer reject it.
  int rounds = 1;
  DataType type = DataType::float32;
  ReduceOp op = ReduceOp::sum;
  RankAggregation aggregation = RankAggregation::average;
  double timeout_seconds = 0;  // 0: no watchdog
  std::string json_path;       // empty: no JSON
  std::uint64_t seed = 1;
  std::optional<InjectedDelay> delay;
  std::string command_line;
  std::vector<std::string> arguments;  // argv, as nccl-tests' JSON "args" lists it
  bool stats = false;  // --stats: min, median and p99 columns to the right of nccl-tests' 13
  // nccl-tests' options that change what is printed or timed (options.cpp, NcclTestsOptions).
  LaunchSettings launch;        // -z -m -C -y -G -R -x: how the timed calls are issued and timed
  int run_cycles = 1;           // -N: the sizes this many times in each table (0: until interrupted)
  bool per_iteration = false;   // -I 1: i_min i_max i_p99 i_cv% columns, per-iteration JSON blocks
  int per_iteration_skip = 0;   // -K: leading samples left out of those statistics
  bool timestamps = false;      // -S 1: a timestamp column
  bool memory_report = false;   // -M 1: a memory usage line after each table
  int root = 0;                 // -r: no collective of ours has a root; kept for the header
  int unalign = 0;              // -u: send and receive buffers start this many elements past an aligned address
};

// nccl-tests' options as typed (empty: not given). Each is either honoured with nccl-tests' meaning,
// accepted where it cannot change anything here, or refused with one line saying why.
struct NcclTestsOptions {
  std::string nthreads, ngpus, agg_iters, run_cycles, parallel_init, blocking, stream_null, cudagraph,
      report_cputime, report_timestamps, local_register, cta_policy, device_implementation, device_cta_count,
      memory, unalign, per_iter_timing, per_iter_skip, root;
};

// Applies them to resolved options (throws UsageError naming the option).
void apply_nccl_tests_options(const NcclTestsOptions& given, BenchOptions& options);

// The --algorithm name of each backend's own choice: the first algorithm it lists for a collective
// (MPI's MPI_Allreduce, NCCL's ncclAllReduce without forcing).
inline constexpr std::string_view kDefaultAlgorithm = "default";

// What the user typed, as strings, before resolution.
struct RawBenchOptions {
  std::string min_bytes = "8", max_bytes = "64M";
  std::uint64_t factor = 0;  // 0: not given
  std::string step;          // empty: not given
  int iterations = 20, warmup = 5, check_iterations = 1, aggregation = 1, rounds = 1;
  std::string dtype = "float", op = "sum";
  double timeout_seconds = 0;
  std::string json_path;
  std::vector<std::string> collectives{"all"};
  std::string backend = "mpi";
  std::vector<std::string> algorithms{"all"};
  std::uint64_t seed = 1;
  std::string inject_delay;
  bool stats = false;
};

// The ranges bench takes its whole-number options in: wide enough for any real run, narrow enough
// that no arithmetic on them can overflow.
inline constexpr std::int64_t kMaxIterations = 100'000'000;
inline constexpr std::int64_t kMaxStepFactor = 1 << 20;
inline constexpr double kMaxTimeoutSeconds = 7 * 86400.0;

// OPTION's value TEXT as the whole number it is (decimal, no suffix), within [min, max]. Anything
// else is a UsageError naming the option, the value as typed and the range: "-f -2 is out of range
// (2 to 1048576)", "-n '1e3' is not a whole number (1 to 100000000)".
std::int64_t parse_integer(std::string_view option, std::string_view text, std::int64_t min, std::int64_t max);
std::uint64_t parse_unsigned(std::string_view option, std::string_view text);  // 0 to 2^64-1

// Two outputs of one command naming the same file would overwrite each other: a UsageError naming
// both options. Empty paths are never the same. Compared as the files they are once written (the
// same folder entry through "./", "..", symbolic links to the folder, or the file itself).
void refuse_same_output(std::string_view option_a, const std::string& path_a, std::string_view option_b,
                        const std::string& path_b);

// Resolves names, builds the size plan and checks every combination; throws UsageError naming the
// offending option. Needs no MPI: the same answer on every rank.
BenchOptions resolve(const RawBenchOptions& raw);

// Checks that need the rank count (throws UsageError).
void check_against_world(const BenchOptions& options, int nranks);

// On a run that spans nodes, removes the algorithms that need every rank on one node (shared memory)
// and returns their names, for the one line that says so. Throws UsageError when nothing is left.
// Leaves out what `--algorithm all` brought in that the backend cannot honour here (an older NCCL
// runtime, LL128 where NCCL itself would not enable it): "name: reason" for each, for one line. An
// algorithm named on the command line stays, and its bind() says why it cannot run. Throws UsageError
// when nothing is left. Collective: the backend's answers are the same on every rank.
std::vector<std::string> drop_unavailable(BenchOptions& options, const Backend& backend);
std::vector<std::string> drop_one_node_only(BenchOptions& options, std::span<const AlgorithmInfo> algorithms,
                                            int nnodes);

}  // namespace cctune::bench
