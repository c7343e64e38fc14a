#include "bench/json_writer.hpp"

#include <fmt/format.h>

#include "collectives/error.hpp"
#include "collectives/files.hpp"

namespace cctune::bench {
namespace {

nlohmann::ordered_json placement_to_json(const PlacementResult& p) {
  nlohmann::ordered_json j;
  j["time"] = p.time_us;
  j["alg_bw"] = p.algbw_gbs;
  j["bus_bw"] = p.busbw_gbs;
  j["nwrong"] = p.wrong ? nlohmann::ordered_json(*p.wrong) : nlohmann::ordered_json(nullptr);
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


}  // namespace

JsonWriter::JsonWriter(const std::string& path) : path_(path) {
  files::check_output_file(path, "cannot write JSON file");
}

std::optional<std::string> JsonWriter::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

nlohmann::ordered_json JsonWriter::row_to_json(const Row& row) {
  nlohmann::ordered_json j;
  j["size"] = row.shape.bytes;
  j["count"] = row.shape.count;
  j["type"] = std::string(to_string(row.type));
  j["redop"] = row.collective == Collective::allreduce ? std::string(to_string(row.op)) : "none";
  j["root"] = -1;
  j["out_of_place"] = placement_to_json(row.out_of_place);
  j["in_place"] = placement_to_json(row.in_place);
  j["collective"] = std::string(to_string(row.collective));
  j["backend"] = row.backend;
  j["algorithm"] = row.algorithm;
  j["requested_size"] = row.shape.requested_bytes;
  j["count_per_call"] = row.shape.count_per_call;
  return j;
}

void JsonWriter::begin(const RunInfo& info, const BenchOptions& options) {
  std::string text = head_to_json(info, options).dump(1);
  text.pop_back();  // drop the closing brace: rows and the tail follow
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  text += ",\n \"results\": [";
  std::lock_guard lock(mutex_);
  head_ = std::move(text);
  write(false);
}

nlohmann::ordered_json JsonWriter::head_to_json(const RunInfo& info, const BenchOptions& options) {
  nlohmann::ordered_json head;
  head["version"] = "cctune " + info.cctune_version;
  head["start_time"] = info.start_time;
  head["args"] = info.command_line;
  nlohmann::ordered_json env;
  env["hosts"] = info.hosts;
  env["pids"] = info.pids;
  env["nranks"] = info.nranks;
  env["nnodes"] = info.nnodes;
  env["ranks_per_node"] = info.ranks_per_node;
  env["mpi_library"] = info.mpi_library;
  env["cctune_version"] = info.cctune_version;
  env["git_revision"] = info.git_revision;
  head["env"] = env;
  if (info.nccl_version.empty()) {
    head["nccl_version"] = nullptr;
  } else {
    head["nccl_version"] = info.nccl_version;
  }
  if (!info.devices.empty()) head["env"]["devices"] = info.devices;
  nlohmann::ordered_json config;
  config["backend"] = options.backend;
  config["min_bytes"] = options.range.min_bytes;
  config["max_bytes"] = options.range.max_bytes;
  config["step_factor"] = options.range.step ? 0 : options.range.factor;
  config["step_bytes"] = options.range.step;
  config["iters"] = options.iterations;
  config["warmup_iters"] = options.warmup;
  config["check_iters"] = options.check_iterations;
  config["rounds"] = options.rounds;
  config["datatype"] = std::string(to_string(options.type));
  config["op"] = std::string(to_string(options.op));
  config["average"] = static_cast<int>(options.aggregation);
  config["timeout_s"] = options.timeout_seconds;
  config["seed"] = options.seed;
  head["config"] = config;
  nlohmann::ordered_json devices = nlohmann::ordered_json::array();
  for (int r = 0; r < info.nranks; ++r) {
    devices.push_back({{"rank", r}, {"host", info.hosts[r]}, {"pid", info.pids[r]}, {"device", "cpu"}});
  }
  head["devices"] = devices;
  return head;
}

void JsonWriter::begin_table(Collective collective, const std::string& algorithm) {
  current_collective_ = std::string(to_string(collective));
  current_algorithm_ = algorithm;
}

void JsonWriter::row(const Row& row) {
  std::lock_guard lock(mutex_);
  totals_.add(row);
  rows_.push_back(row_to_json(row).dump());
  write(false);
}

void JsonWriter::end_table(const TableTotals& totals) {
  std::lock_guard lock(mutex_);
  tables_.push_back({{"collective", current_collective_},
                     {"algorithm", current_algorithm_},
                     {"out_of_bounds", {{"count", totals.wrong}, {"okay", totals.wrong == 0}}},
                     {"average_bus_bandwidth", {{"bandwidth", totals.average_busbw()}, {"okay", true}}}});
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
  if (failure_ || head_.empty()) return;
  nlohmann::ordered_json tail;
  tail["out_of_bounds"] = {{"count", totals_.wrong}, {"okay", totals_.wrong == 0}};
  tail["average_bus_bandwidth"] = {{"bandwidth", totals_.average_busbw()}, {"okay", true}};
  tail["tables"] = tables_;
  tail["errors"] = errors_;
  tail["end_time"] = complete ? nlohmann::ordered_json(utc_now()) : nlohmann::ordered_json(nullptr);
  tail["complete"] = complete;
  std::string text = tail.dump(1);
  // Splice the tail's members after the results array: "],\n" + members without the outer braces.
  text = text.substr(1, text.size() - 2);
  std::string document = head_;
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    document += i == 0 ? "\n  " : ",\n  ";
    document += rows_[i];
  }
  document += fmt::format("\n ],{}}}\n", text);
  try {
    files::write_file_atomically(path_, document);
  } catch (const Error& e) {
    failure_ = e.what();
  }
}

}  // namespace cctune::bench
