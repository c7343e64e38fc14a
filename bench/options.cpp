#include "bench/options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>
#include <charconv>
#include <filesystem>
#include <limits>

#include "collectives/backends.hpp"
#include "collectives/error.hpp"

namespace cctune::bench {
namespace {

std::vector<std::string> split_list(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::size_t start = 0;
    while (start <= item.size()) {
      const std::size_t comma = item.find(',', start);
      const std::string part = item.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!part.empty()) out.push_back(part);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

bool has_algorithm(const BackendEntry& backend, Collective collective, const std::string& name) {
  const auto infos = backend.algorithms();
  return std::any_of(infos.begin(), infos.end(),
                     [&](const AlgorithmInfo& info) { return info.collective == collective && info.name == name; });
}

std::string algorithm_names(const BackendEntry& backend, Collective collective) {
  std::string names;
  for (const auto& info : backend.algorithms()) {
    if (info.collective == collective) names += (names.empty() ? "" : ", ") + std::string(info.name);
  }
  return names;
}

template <typename Integer>
Integer parse_whole(std::string_view option, std::string_view text, Integer min, Integer max) {
  const std::string range = fmt::format("{} to {}", min, max);
  Integer value{};
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(text.data(), last, value);
  if (ec == std::errc::result_out_of_range) {
    CCTUNE_USAGE_ERROR(fmt::format("{} {} is out of range ({})", option, text, range));
  }
  if (text.empty() || ec != std::errc() || end != last) {
    CCTUNE_USAGE_ERROR(fmt::format("{} '{}' is not a whole number ({})", option, text, range));
  }
  if (value < min || value > max) CCTUNE_USAGE_ERROR(fmt::format("{} {} is out of range ({})", option, text, range));
  return value;
}

// Where `path` will be once written: its folder resolved (links, "..") and its own name, or, when it
// exists, what it links to.
std::filesystem::path resolved_output(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  if (ec) return fs::path(path).lexically_normal();
  const fs::path resolved = fs::weakly_canonical(absolute, ec);
  return ec ? absolute.lexically_normal() : resolved;
}

}  // namespace

std::int64_t parse_integer(std::string_view option, std::string_view text, std::int64_t min, std::int64_t max) {
  return parse_whole<std::int64_t>(option, text, min, max);
}

std::uint64_t parse_unsigned(std::string_view option, std::string_view text) {
  return parse_whole<std::uint64_t>(option, text, 0, std::numeric_limits<std::uint64_t>::max());
}

void refuse_same_output(std::string_view option_a, const std::string& path_a, std::string_view option_b,
                        const std::string& path_b) {
  if (path_a.empty() || path_b.empty()) return;
  std::error_code ec;
  const bool same =
      resolved_output(path_a) == resolved_output(path_b) || std::filesystem::equivalent(path_a, path_b, ec);
  if (same) {
    CCTUNE_USAGE_ERROR(fmt::format("{} '{}' and {} '{}' name the same file: one would overwrite the other", option_a,
                                   path_a, option_b, path_b));
  }
}

InjectedDelay parse_injected_delay(const std::string& text) {
  // RANK:SECONDS[:MIN_SIZE[:ALGORITHM]]
  const auto parts = split_list({[&] {
    std::string commas = text;
    std::replace(commas.begin(), commas.end(), ':', ',');
    return commas;
  }()});
  const std::string usage = "--inject-delay '" + text + "' must be RANK:SECONDS[:MIN_SIZE[:ALGORITHM]]";
  if (parts.size() < 2 || parts.size() > 4) CCTUNE_USAGE_ERROR(usage);
  InjectedDelay delay;
  const auto [end, ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), delay.rank);
  if (ec != std::errc() || end != parts[0].data() + parts[0].size() || delay.rank < 0) CCTUNE_USAGE_ERROR(usage);
  try {
    std::size_t used = 0;
    delay.seconds = std::stod(parts[1], &used);
    if (used != parts[1].size() || !(delay.seconds >= 0 && delay.seconds <= kMaxTimeoutSeconds)) {
      CCTUNE_USAGE_ERROR(usage + fmt::format(", SECONDS from 0 to {:g}", kMaxTimeoutSeconds));
    }
  } catch (const std::logic_error&) {
    CCTUNE_USAGE_ERROR(usage);
  }
  if (parts.size() > 2) delay.min_bytes = parse_size(parts[2]);
  if (parts.size() > 3) delay.algorithm = parts[3];
  return delay;
}

BenchOptions resolve(const RawBenchOptions& raw) {
  BenchOptions options;
  const BackendEntry& backend = find_backend(raw.backend);
  options.backend = std::string(backend.name);
  // nccl-tests' "all": every type (op) the backend has, each with every size, in the same table.
  const bool all_types = raw.dtype == "all", all_ops = raw.op == "all";
  options.type = all_types ? all_datatypes().front() : parse_datatype(raw.dtype);
  options.op = all_ops ? all_reduce_ops().front() : parse_reduce_op(raw.op);

  std::vector<Collective> collectives;
  for (const auto& name : split_list(raw.collectives)) {
    if (name == "all") {
      for (Collective c : all_collectives()) collectives.push_back(c);
    } else {
      collectives.push_back(parse_collective(name));
    }
  }
  if (collectives.empty()) CCTUNE_USAGE_ERROR("--collective needs at least one name");
  const bool reduces = std::find(collectives.begin(), collectives.end(), Collective::allreduce) != collectives.end();
  if (!all_types && !all_ops) {
    if (reduces) check_supported(options.type, options.op);
    for (Collective c : collectives) backend.check(c, options.type, options.op);
  }
  // What each collective measures under "all": the pairs the backend defines (alltoall has no op).
  const auto pairs_for = [&](Collective c) {
    std::vector<TypeAndOp> pairs;
    const std::vector<DataType> types = all_types ? std::vector<DataType>(all_datatypes().begin(), all_datatypes().end())
                                                  : std::vector<DataType>{options.type};
    const std::vector<ReduceOp> ops = c == Collective::alltoall ? std::vector<ReduceOp>{options.op}
                                      : all_ops ? std::vector<ReduceOp>(all_reduce_ops().begin(), all_reduce_ops().end())
                                                : std::vector<ReduceOp>{options.op};
    for (DataType type : types) {
      for (ReduceOp op : ops) {
        try {
          if (c == Collective::allreduce) check_supported(type, op);
          backend.check(c, type, op);
        } catch (const UsageError&) {
          continue;
        }
        pairs.push_back({type, op});
      }
    }
    if (pairs.empty()) {
      CCTUNE_USAGE_ERROR(fmt::format("-d {} -o {}: backend {} defines no such {}", raw.dtype, raw.op, backend.name,
                                     to_string(c)));
    }
    return pairs;
  };

  const auto requested = split_list(raw.algorithms);
  if (requested.empty()) CCTUNE_USAGE_ERROR("--algorithm needs a name, a comma-separated list, or all");
  for (const auto& name : requested) {
    const bool known = name == "all" || name == kDefaultAlgorithm || std::any_of(collectives.begin(), collectives.end(), [&](Collective c) {
                         return has_algorithm(backend, c, name);
                       });
    if (!known) {
      std::string choices;
      for (Collective c : collectives) {
        choices += fmt::format("{}{}: {}", choices.empty() ? "" : "; ", to_string(c), algorithm_names(backend, c));
      }
      CCTUNE_USAGE_ERROR(fmt::format("unknown algorithm '{}' for backend {} ({})", name, backend.name, choices));
    }
  }
  const bool by_default = std::find(requested.begin(), requested.end(), kDefaultAlgorithm) != requested.end();
  for (Collective c : collectives) {
    AlgorithmSelection selection{c, {}, {}, {}};
    bool first = true;  // a backend lists its library's own algorithm first
    for (const auto& info : backend.algorithms()) {
      if (info.collective != c) continue;
      const bool is_default = std::exchange(first, false) && by_default;
      const bool wanted = is_default || std::any_of(requested.begin(), requested.end(), [&](const std::string& name) {
                            return name == "all" || name == info.name;
                          });
      if (wanted) selection.algorithms.emplace_back(info.name);
      if (is_default || std::find(requested.begin(), requested.end(), info.name) != requested.end()) {
        selection.named.emplace_back(info.name);
      }
    }
    if (all_types || all_ops) selection.rows_of = pairs_for(c);
    if (!selection.algorithms.empty()) options.selections.push_back(std::move(selection));
  }

  options.range.min_bytes = parse_size(raw.min_bytes);
  options.range.max_bytes = parse_size(raw.max_bytes);
  if (raw.factor != 0 && !raw.step.empty()) CCTUNE_USAGE_ERROR("give either -f FACTOR or -i STEP, not both");
  if (!raw.step.empty()) {
    options.range.step = parse_size(raw.step);
    if (options.range.step == 0) CCTUNE_USAGE_ERROR("-i 0 would never grow the size; give a step of 1 or more");
  } else if (raw.factor != 0) {
    options.range.factor = raw.factor;
  }
  if (raw.factor == 1) CCTUNE_USAGE_ERROR("-f 1 would never grow the size; use -f 2 or more, or -i STEP");
  if (raw.factor > static_cast<std::uint64_t>(kMaxStepFactor)) {
    CCTUNE_USAGE_ERROR(fmt::format("-f {} is out of range (2 to {})", raw.factor, kMaxStepFactor));
  }
  options.sizes = make_size_plan(options.range);
  check_plan_fits(options.sizes, options.type);
  for (const auto& selection : options.selections) {
    for (const TypeAndOp& pair : selection.rows_of) check_plan_fits(options.sizes, pair.type);
  }

  if (raw.iterations < 1 || raw.iterations > kMaxIterations) {
    CCTUNE_USAGE_ERROR(fmt::format("-n {} must be at least 1 (1 to {})", raw.iterations, kMaxIterations));
  }
  if (raw.rounds < 1 || raw.rounds > raw.iterations) {
    CCTUNE_USAGE_ERROR(fmt::format("--rounds {} must be between 1 and -n ({}): each round times at least one "
                                   "iteration of every size", raw.rounds, raw.iterations));
  }
  if (raw.warmup < 0 || raw.warmup > kMaxIterations) {
    CCTUNE_USAGE_ERROR(fmt::format("-w {} is out of range (0 to {})", raw.warmup, kMaxIterations));
  }
  if (raw.check_iterations < 0 || raw.check_iterations > kMaxIterations) {
    CCTUNE_USAGE_ERROR(fmt::format("-c {} is out of range (0 to {})", raw.check_iterations, kMaxIterations));
  }
  if (raw.aggregation < 0 || raw.aggregation > 3) {
    CCTUNE_USAGE_ERROR(fmt::format("-a {} must be 0 (rank 0), 1 (average), 2 (minimum) or 3 (maximum)",
                                   raw.aggregation));
  }
  if (!(raw.timeout_seconds >= 0 && raw.timeout_seconds <= kMaxTimeoutSeconds)) {
    CCTUNE_USAGE_ERROR(fmt::format("-T {} must be a number of seconds from 0 to {:g} (0: no watchdog)",
                                   raw.timeout_seconds, kMaxTimeoutSeconds));
  }
  options.iterations = raw.iterations;
  options.warmup = raw.warmup;
  options.check_iterations = raw.check_iterations;
  options.rounds = raw.rounds;
  options.aggregation = static_cast<RankAggregation>(raw.aggregation);
  options.timeout_seconds = raw.timeout_seconds;
  options.json_path = raw.json_path;
  options.seed = raw.seed;
  options.stats = raw.stats;
  if (!raw.inject_delay.empty()) {
    // The delay is a sleep before each host-timed call; device backends time on their stream.
    if (options.backend != "mpi") CCTUNE_USAGE_ERROR("--inject-delay works with --backend mpi only");
    options.delay = parse_injected_delay(raw.inject_delay);
  }
  return options;
}

void check_against_world(const BenchOptions& options, int nranks) {
  // -I 1 gathers every rank's times at rank 0, in one message of at most 2^31 - 1 bytes.
  if (options.per_iteration &&
      static_cast<double>(nranks) * options.iterations * sizeof(double) > 2147483647.0) {
    CCTUNE_USAGE_ERROR(fmt::format("-I 1 with -n {} on {} ranks: every rank's times would not fit in one gather; "
                                   "lower -n",
                                   options.iterations, nranks));
  }
  if (options.root >= nranks) {
    CCTUNE_USAGE_ERROR(fmt::format("-r {}: there are only {} ranks (0 to {})", options.root, nranks, nranks - 1));
  }
  if (options.delay && options.delay->rank >= nranks) {
    CCTUNE_USAGE_ERROR(fmt::format("--inject-delay names rank {}, but there are only {} ranks", options.delay->rank,
                                   nranks));
  }
}

std::vector<std::string> drop_unavailable(BenchOptions& options, const Backend& backend) {
  std::vector<std::string> dropped;
  for (auto& selection : options.selections) {
    std::erase_if(selection.algorithms, [&](const std::string& name) {
      if (std::find(selection.named.begin(), selection.named.end(), name) != selection.named.end()) return false;
      const auto why = backend.unavailable(selection.collective, name);
      if (!why) return false;
      dropped.push_back(fmt::format("{} {} ({})", to_string(selection.collective), name, *why));
      return true;
    });
  }
  std::erase_if(options.selections, [](const AlgorithmSelection& selection) { return selection.algorithms.empty(); });
  if (options.selections.empty()) {
    CCTUNE_USAGE_ERROR(fmt::format("no algorithm of --algorithm all can run here: {}", fmt::join(dropped, "; ")));
  }
  return dropped;
}

std::vector<std::string> drop_one_node_only(BenchOptions& options, std::span<const AlgorithmInfo> algorithms,
                                            int nnodes) {
  std::vector<std::string> dropped;
  if (nnodes <= 1) return dropped;
  const auto one_node_only = [&](Collective collective, const std::string& name) {
    return std::any_of(algorithms.begin(), algorithms.end(), [&](const AlgorithmInfo& info) {
      return info.collective == collective && info.name == name && info.one_node_only;
    });
  };
  for (auto& selection : options.selections) {
    std::erase_if(selection.algorithms, [&](const std::string& name) {
      if (!one_node_only(selection.collective, name)) return false;
      if (std::find(dropped.begin(), dropped.end(), name) == dropped.end()) dropped.push_back(name);
      return true;
    });
  }
  std::erase_if(options.selections, [](const AlgorithmSelection& selection) { return selection.algorithms.empty(); });
  if (options.selections.empty()) {
    CCTUNE_USAGE_ERROR(fmt::format("{} {} every rank on one node (shared memory), and this run spans {} nodes",
                                   fmt::join(dropped, ", "), dropped.size() == 1 ? "needs" : "need", nnodes));
  }
  return dropped;
}

void apply_nccl_tests_options(const NcclTestsOptions& given, BenchOptions& options) {
  const BackendEntry& backend_entry = find_backend(options.backend);
  const auto value = [](std::string_view option, const std::string& text, std::int64_t min, std::int64_t max,
                        std::int64_t fallback) {
    return text.empty() ? fallback : parse_integer(option, text, min, max);
  };
  // Only the value nccl-tests would make a no-op here is accepted; anything else names what to do.
  const auto only = [&](std::string_view option, const std::string& text, std::int64_t accepted, std::int64_t max,
                        const std::string& why) {
    if (value(option, text, 0, max, accepted) != accepted) CCTUNE_USAGE_ERROR(fmt::format("{} {}: {}", option, text, why));
  };
  only("-t", given.nthreads, 1, 1024,
       "cctune runs one thread per process; start more ranks (mpirun -np N) instead of threads");
  if (!given.ngpus.empty() && parse_integer("-g", given.ngpus, 1, 1024) != 1) {
    CCTUNE_USAGE_ERROR(fmt::format("-g {}: cctune drives one device per process; launch one rank per GPU "
                                   "(mpirun -np N ... -g 1)",
                                   given.ngpus));
  }
  LaunchSettings& launch = options.launch;
  launch.aggregated = static_cast<int>(value("-m", given.agg_iters, 1, 1'000'000, 1));
  if (launch.aggregated > 1 && static_cast<std::int64_t>(launch.aggregated) * options.iterations > kMaxIterations) {
    CCTUNE_USAGE_ERROR(fmt::format("-m {} times -n {} is more than {} calls per size", launch.aggregated,
                                   options.iterations, kMaxIterations));
  }
  options.run_cycles = static_cast<int>(value("-N", given.run_cycles, 0, 1'000'000, 1));
  std::size_t tables = 0;
  for (const auto& selection : options.selections) tables += selection.algorithms.size();
  if (options.run_cycles == 0 && tables > 1) {
    CCTUNE_USAGE_ERROR(fmt::format("-N 0 cycles until interrupted, so only the first of the {} algorithms would ever "
                                   "run: name one (--collective C --algorithm A), or give a cycle count",
                                   tables));
  }
  if (options.run_cycles != 1 && options.rounds != 1) {
    CCTUNE_USAGE_ERROR(fmt::format("-N {} and --rounds {}: give one of them (cycles print every pass, rounds merge "
                                   "them)",
                                   options.run_cycles, options.rounds));
  }
  value("-p", given.parallel_init, 0, 1, 0);  // processes already initialise in parallel, one device each
  launch.blocking = static_cast<Blocking>(value("-z", given.blocking, 0, 3, 0));
  launch.null_stream = value("-y", given.stream_null, 0, 1, 0) == 1;
  launch.graph_launches = static_cast<int>(value("-G", given.cudagraph, 0, 1'000'000, 0));
  launch.host_time = value("-C", given.report_cputime, 0, 1, 0) == 1;
  options.timestamps = value("-S", given.report_timestamps, 0, 1, 0) == 1;
  launch.registration = static_cast<Registration>(value("-R", given.local_register, 0, 2, 0));
  // nccl-tests passes -x on as ncclConfig_t::CTAPolicy: 0 default, 1 efficiency, 2 zero (NCCL 2.28).
  launch.cta_policy = static_cast<int>(value("-x", given.cta_policy, 0, 2, -1));
  check_launch(launch, backend_entry.launch);
  only("-D", given.device_implementation, 0, 1'000'000, "NCCL's device implementations are not available in cctune");
  if (!given.device_cta_count.empty()) {
    value("-V", given.device_cta_count, 1, 1'000'000, 16);
    CCTUNE_USAGE_ERROR("-V: NCCL's device implementations (-D) are not available in cctune");
  }
  options.memory_report = value("-M", given.memory, 0, 1, 0) == 1;
  options.unalign = static_cast<int>(value("-u", given.unalign, 0, 1'000'000, 0));
  if (options.unalign != 0 && !backend_entry.launch.unaligned.empty()) {
    CCTUNE_USAGE_ERROR(fmt::format("-u {}: {}", options.unalign, backend_entry.launch.unaligned));
  }
  options.per_iteration = value("-I", given.per_iter_timing, 0, 1, 0) == 1;
  if (options.per_iteration && launch.graph_launches > 0) {
    CCTUNE_USAGE_ERROR(fmt::format("-I 1 with -G {}: a graph times its captured calls as a whole, one sample "
                                   "per launch; give one of them",
                                   launch.graph_launches));
  }
  options.per_iteration_skip = static_cast<int>(value("-K", given.per_iter_skip, 0, kMaxIterations, 0));
  if (options.per_iteration_skip >= options.iterations) {
    CCTUNE_USAGE_ERROR(fmt::format("-K {} leaves none of the -n {} iterations", options.per_iteration_skip,
                                   options.iterations));
  }
  options.root = static_cast<int>(value("-r", given.root, 0, 1'000'000, 0));
}

}  // namespace cctune::bench
