#include "bench/json_writer.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>

#include "collectives/error.hpp"
#include "bench/statistics.hpp"
#include "bench/text_writer.hpp"
#include "collectives/files.hpp"

namespace cctune::bench {
namespace {

using Json = nlohmann::ordered_json;

// nccl-tests writes its booleans as the strings "true" and "false".
const char* flag(bool value) { return value ? "true" : "false"; }

// nccl-tests' -I 1 block: statistics over the iterations after -K, every time, and with more than one
// process each one's own times.
Json per_iteration_block(const PlacementResult& p, int skip) {
  const Summary s = per_iteration_summary(p, skip);
  std::vector<double> kept(p.samples_us.begin() + std::min<std::ptrdiff_t>(skip, static_cast<std::ptrdiff_t>(p.samples_us.size())),
                           p.samples_us.end());
  std::sort(kept.begin(), kept.end());
  Json j;
  j["skipped_iterations"] = skip;
  j["min_us"] = s.min;
  j["max_us"] = s.max;
  j["avg_us"] = s.mean;
  j["p50_us"] = kept.empty() ? 0.0 : kept[kept.size() / 2];
  j["p95_us"] = kept.empty() ? 0.0 : percentile_sorted(kept, 95);
  j["p99_us"] = s.p99;
  // nccl-tests' stdev divides by n (ours, under "cctune", by n - 1).
  const double stdev = population_stdev(s);
  j["stdev_us"] = stdev;
  j["cv_pct"] = s.mean > 0 ? 100.0 * stdev / s.mean : 0.0;
  j["times_us"] = p.samples_us;
  if (p.per_rank_samples_us.size() > 1) j["per_process_max_times_us"] = p.per_rank_samples_us;
  return j;
}

Json placement_to_json(const PlacementResult& p, bool cputime, bool checked) {
  Json j;
  j[cputime ? "cpu_time" : "time"] = p.time_us;
  j["alg_bw"] = p.algbw_gbs;
  j["bus_bw"] = p.busbw_gbs;
  j["nwrong"] = p.wrong && checked ? Json(static_cast<double>(*p.wrong)) : Json(nullptr);
  return j;
}

// Our statistics of a placement, under the row's "cctune" key.
Json our_placement(const PlacementResult& p, std::optional<double> sol_pct) {
  Json j;
  j["sol_pct"] = sol_pct ? Json(*sol_pct) : Json(nullptr);
  j["nwrong"] = p.wrong ? Json(*p.wrong) : Json(nullptr);
  j["min_us"] = p.slowest.min;
  j["median_us"] = p.slowest.median;
  j["p99_us"] = p.slowest.p99;
  j["max_us"] = p.slowest.max;
  j["mean_us"] = p.slowest.mean;
  j["stdev_us"] = p.slowest.stdev;
  j["cv_pct"] = p.slowest.cv_percent();
  j["times_us"] = p.samples_us;
  return j;
}

// "2026-12-01 18:10:00" from our ISO "2026-12-01T18:10:00Z": nccl-tests' form (here in UTC).
std::string nccl_tests_time(const std::string& iso) {
  std::string t = iso;
  if (t.size() >= 19 && t[10] == 'T') t[10] = ' ';
  return t.substr(0, 19);
}

// Of the environment nccl-tests copies whole, what says how the run was made: NCCL's, Open MPI's,
// UCX's, Slurm's and our own settings, never anyone's credentials.
Json environment_list() {
  Json list = Json::array();
  for (char** e = environ; e && *e; ++e) {
    const std::string entry = *e;
    for (const char* prefix : {"NCCL_", "OMPI_MCA_", "UCX_", "SLURM_JOB_", "CCTUNE_", "CUDA_VISIBLE_DEVICES="}) {
      if (entry.rfind(prefix, 0) == 0) {
        list.push_back(entry);
        break;
      }
    }
  }
  return list;
}

}  // namespace

std::string free_json_path(const std::string& path) {
  // nccl-tests never overwrites: FILE, else FILE.0, FILE.1, ... Each name is taken by creating it
  // (O_EXCL), so two runs given the same name never write the same file.
  for (int i = -1; i < 1000; ++i) {
    const std::string candidate = i < 0 ? path : fmt::format("{}.{}", path, i);
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return candidate;
    }
    if (errno != EEXIST) {
      CCTUNE_USAGE_ERROR(fmt::format("cannot write JSON file '{}': {}", candidate, std::strerror(errno)));
    }
  }
  CCTUNE_USAGE_ERROR(fmt::format("-J {}: {}.0 to {}.999 exist too; give a new name", path, path, path));
}

JsonWriter::JsonWriter(const std::string& path, std::FILE* announce) : path_(path), announce_(announce) {
  std::string lower = path;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.size() < 5 || lower.compare(lower.size() - 5, 5, ".json") != 0) {
    CCTUNE_USAGE_ERROR(fmt::format("-J {}: nccl-tests writes JSON only to a name ending in .json; give one", path));
  }
  files::check_output_file(path, "cannot write JSON file");
}

std::optional<std::string> JsonWriter::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

std::string JsonWriter::path() const {
  std::lock_guard lock(mutex_);
  return path_;
}

Json JsonWriter::row_to_json(const Row& row, const BenchOptions& options, const SolBounds& sol) {
  Json j;
  j["size"] = row.shape.bytes;
  j["count"] = row.shape.count_per_call;
  j["type"] = std::string(to_string(row.type));
  j["redop"] = row.collective == Collective::allreduce ? std::string(to_string(row.op)) : "none";
  j["root"] = fmt::format("{:6}", -1);
  const bool alltoall = row.collective == Collective::alltoall;
  j["out_of_place"] = placement_to_json(row.out_of_place, options.launch.host_time, true);
  if (options.per_iteration) j["out_of_place_per_iter"] = per_iteration_block(row.out_of_place, options.per_iteration_skip);
  j["in_place"] = placement_to_json(row.in_place, options.launch.host_time, !alltoall);
  if (options.per_iteration) j["in_place_per_iter"] = per_iteration_block(row.in_place, options.per_iteration_skip);
  j["actual_iterations"] = row.out_of_place.samples_us.size();
  j["experiment_name"] = "";
  Json ours;
  ours["collective"] = std::string(to_string(row.collective));
  ours["backend"] = row.backend;
  ours["algorithm"] = row.algorithm;
  ours["requested_size"] = row.shape.requested_bytes;
  ours["buffer_count"] = row.shape.count;
  ours["out_of_place"] = our_placement(row.out_of_place, sol.percent(row.collective, row.out_of_place.busbw_gbs));
  ours["in_place"] = our_placement(row.in_place, sol.percent(row.collective, row.in_place.busbw_gbs));
  j["cctune"] = ours;
  return j;
}

void JsonWriter::begin(const RunInfo& info, const BenchOptions& options) {
  std::lock_guard lock(mutex_);
  options_ = options;
  info_ = info;
  try {
    path_ = free_json_path(path_);
  } catch (const UsageError& e) {
    failure_ = e.what();
    return;
  }
  if (announce_) {
    fmt::print(announce_, "# Writing JSON output to {}\n", path_);
    std::fflush(announce_);
  }
  write(false);
}

Json JsonWriter::head_to_json(const RunInfo& info, const BenchOptions& options) {
  Json head;
  head["version"] = 3;
  head["start_time"] = nccl_tests_time(info.start_time);
  head["args"] = options.arguments;
  head["env"] = environment_list();
  head["nccl_version"] = info.nccl_version_code;
  Json config;
  config["nthreads"] = 1;
  config["ngpus"] = 1;
  config["minimum_bytes"] = options.range.min_bytes;
  config["maximum_bytes"] = options.range.max_bytes;
  if (options.range.step) {
    config["step_bytes"] = options.range.step;
  } else {
    config["step_factor"] = options.range.factor;
  }
  config["warmup_iters"] = options.warmup;
  config["iterations"] = options.iterations;
  config["aggregated_iterations"] = options.launch.aggregated;
  config["validation"] = options.check_iterations > 0 ? 1 : 0;
  config["graph"] = options.launch.graph_launches;
  config["blocking_collectives"] = flag(options.launch.blocking != Blocking::none);
  config["per_iter_timing"] = flag(options.per_iteration);
  config["per_iter_skip"] = options.per_iteration_skip;
  config["parallel_init"] = flag(false);
  Json devices = Json::array();
  for (int r = 0; r < info.nranks; ++r) {
    const auto at = static_cast<std::size_t>(r);
    // nccl-tests cuts the host name at its first dot.
    const std::string host = info.hosts[at].substr(0, info.hosts[at].find('.'));
    Json device = {{"rank", r}, {"group", 0}, {"pid", info.pids[at]}, {"hostname", host}, {"device", -1},
                   {"device_hex", "cpu"}, {"device_info", "host memory"}};
    if (!info.devices.empty()) {
      const auto d = parse_device_description(info.devices[at]);
      device["device"] = d ? d->ordinal : 0;
      device["device_hex"] = d ? d->bus : "";
      device["device_info"] = d ? d->name : info.devices[at];
    }
    devices.push_back(device);
  }
  config["devices"] = devices;
  head["config"] = config;
  return head;
}

// Everything of ours that nccl-tests' schema has no key for, under one key.
Json JsonWriter::cctune_to_json(const RunInfo& info, const BenchOptions& options, const Json& tables,
                                bool complete) {
  Json j;
  j["version"] = info.cctune_version;
  j["git_revision"] = info.git_revision;
  j["command"] = info.command_line;
  j["start_time"] = info.start_time;
  j["end_time"] = complete ? Json(utc_now()) : Json(nullptr);
  j["complete"] = complete;
  j["backend"] = options.backend;
  j["mpi_library"] = info.mpi_library;
  j["nccl_version"] = info.nccl_version.empty() ? Json(nullptr) : Json(info.nccl_version);
  j["nranks"] = info.nranks;
  j["nnodes"] = info.nnodes;
  j["ranks_per_node"] = info.ranks_per_node;
  j["hosts"] = info.hosts;
  Json sol;
  sol["allreduce_busbw_gbs"] = info.sol.allreduce_busbw_gbs > 0 ? Json(info.sol.allreduce_busbw_gbs) : Json(nullptr);
  sol["alltoall_busbw_gbs"] = info.sol.alltoall_busbw_gbs > 0 ? Json(info.sol.alltoall_busbw_gbs) : Json(nullptr);
  sol["basis"] = info.sol.basis;
  j["speed_of_light"] = sol;
  Json config;
  config["iters"] = options.iterations;
  config["warmup_iters"] = options.warmup;
  config["check_iters"] = options.check_iterations;
  config["rounds"] = options.rounds;
  config["datatype"] = std::string(to_string(options.type));
  config["op"] = std::string(to_string(options.op));
  config["average"] = static_cast<int>(options.aggregation);
  config["timeout_s"] = options.timeout_seconds;
  config["seed"] = options.seed;
  j["config"] = config;
  j["tables"] = tables;
  return j;
}

void JsonWriter::begin_table(Collective collective, const std::string& algorithm) {
  std::lock_guard lock(mutex_);
  current_collective_ = std::string(to_string(collective));
  current_algorithm_ = algorithm;
}

void JsonWriter::row(const Row& row) {
  std::lock_guard lock(mutex_);
  totals_.add(row);
  rows_.push_back(row_to_json(row, options_, info_.sol));
  // Cycles (-N) may add rows for hours, and each write is the whole document: past a few hundred
  // rows the file is rewritten at most once a second, so at most a second of rows is not yet in it.
  const auto now = std::chrono::steady_clock::now();
  if (options_.run_cycles != 1 && rows_.size() > 256 && now - last_write_ < std::chrono::seconds(1)) return;
  last_write_ = now;
  write(false);
}

void JsonWriter::end_table(const TableTotals& totals) {
  std::lock_guard lock(mutex_);
  tables_.push_back({{"collective", current_collective_},
                     {"algorithm", current_algorithm_},
                     {"out_of_bounds", {{"count", totals.wrong}, {"okay", totals.wrong == 0}}},
                     {"average_bus_bandwidth", {{"bandwidth", totals.average_busbw()}}}});
  write(false);
}

void JsonWriter::end(const TableTotals&) {
  std::lock_guard lock(mutex_);
  write(true);
}

void JsonWriter::record_error(const std::string& message) {
  std::lock_guard lock(mutex_);
  errors_.push_back(message);
  write(false);
}

// The whole document each time, rather than appending in place: an append that fails half-way (a
// full disk) would leave neither the old nor the new document. A row is about a kilobyte, so even
// hundreds of rows cost milliseconds per rewrite, taken between sizes, outside any timed call.
void JsonWriter::write(bool complete) {
  if (failure_) return;
  Json document = head_to_json(info_, options_);
  document["results"] = rows_;
  document["out_of_bounds"] = {{"count", totals_.wrong}, {"okay", flag(totals_.wrong == 0)}};
  document["average_bus_bandwidth"] = {{"bandwidth", totals_.average_busbw()}, {"okay", "unchecked"}};
  Json errors = errors_;
  if (errors.empty()) errors.push_back("");
  document["errors"] = errors;
  document["end_time"] = complete ? Json(nccl_tests_time(utc_now())) : Json(nullptr);
  document["cctune"] = cctune_to_json(info_, options_, tables_, complete);
  try {
    // Invalid UTF-8 (a host name, an argument, the environment) becomes U+FFFD rather than an abort.
    files::write_file_atomically(path_, document.dump(-1, ' ', false, Json::error_handler_t::replace));
    written_ = true;
  } catch (const Error& e) {
    failure_ = e.what();
    // The empty file that reserved the name is ours: nothing of the run reached it.
    if (!written_) ::unlink(path_.c_str());
  }
}

}  // namespace cctune::bench
