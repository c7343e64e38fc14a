#include "bench/options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

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

}  // namespace

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
    if (used != parts[1].size() || !(delay.seconds >= 0)) CCTUNE_USAGE_ERROR(usage);
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
  options.type = parse_datatype(raw.dtype);
  options.op = parse_reduce_op(raw.op);

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
  if (reduces) check_supported(options.type, options.op);
  for (Collective c : collectives) backend.check(c, options.type, options.op);

  const auto requested = split_list(raw.algorithms);
  if (requested.empty()) CCTUNE_USAGE_ERROR("--algorithm needs a name, a comma-separated list, or all");
  for (const auto& name : requested) {
    const bool known = name == "all" || std::any_of(collectives.begin(), collectives.end(), [&](Collective c) {
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
  for (Collective c : collectives) {
    AlgorithmSelection selection{c, {}};
    for (const auto& info : backend.algorithms()) {
      if (info.collective != c) continue;
      const bool wanted = std::any_of(requested.begin(), requested.end(),
                                      [&](const std::string& name) { return name == "all" || name == info.name; });
      if (wanted) selection.algorithms.emplace_back(info.name);
    }
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
  options.sizes = make_size_plan(options.range);
  check_plan_fits(options.sizes, options.type);

  if (raw.iterations < 1) CCTUNE_USAGE_ERROR(fmt::format("-n {} must be at least 1", raw.iterations));
  if (raw.rounds < 1 || raw.rounds > raw.iterations) {
    CCTUNE_USAGE_ERROR(fmt::format("--rounds {} must be between 1 and -n ({}): each round times at least one "
                                   "iteration of every size", raw.rounds, raw.iterations));
  }
  if (raw.warmup < 0) CCTUNE_USAGE_ERROR(fmt::format("-w {} must not be negative", raw.warmup));
  if (raw.check_iterations < 0) CCTUNE_USAGE_ERROR(fmt::format("-c {} must not be negative", raw.check_iterations));
  if (raw.aggregation < 0 || raw.aggregation > 3) {
    CCTUNE_USAGE_ERROR(fmt::format("-a {} must be 0 (rank 0), 1 (average), 2 (minimum) or 3 (maximum)",
                                   raw.aggregation));
  }
  if (!(raw.timeout_seconds >= 0)) CCTUNE_USAGE_ERROR("-T must be a number of seconds, 0 or more");
  options.iterations = raw.iterations;
  options.warmup = raw.warmup;
  options.check_iterations = raw.check_iterations;
  options.rounds = raw.rounds;
  options.aggregation = static_cast<RankAggregation>(raw.aggregation);
  options.timeout_seconds = raw.timeout_seconds;
  options.json_path = raw.json_path;
  options.seed = raw.seed;
  if (!raw.inject_delay.empty()) {
    // The delay is a sleep before each host-timed call; device backends time on their stream.
    if (options.backend != "mpi") CCTUNE_USAGE_ERROR("--inject-delay works with --backend mpi only");
    options.delay = parse_injected_delay(raw.inject_delay);
  }
  return options;
}

void check_against_world(const BenchOptions& options, int nranks) {
  if (options.delay && options.delay->rank >= nranks) {
    CCTUNE_USAGE_ERROR(fmt::format("--inject-delay names rank {}, but there are only {} ranks", options.delay->rank,
                                   nranks));
  }
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

}  // namespace cctune::bench
