#pragma once
// nccl-tests' -J JSON (its schema version 3, keys, types and order), with our own keys under
// "cctune" (at the top and in each row). The file is a complete JSON document after every row: after
// each row the whole document is written to a temporary file beside it and renamed over it, so a
// crash, kill -9 or a watchdog abort keeps every finished row in a file any JSON parser loads
// ("complete": false marks such a file), and a write that fails (a full disk) leaves the last
// complete version in place, whether of this run or of the one before.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/report.hpp"

namespace cctune::bench {

class JsonWriter final : public Sink {
 public:
  // Refuses (UsageError) a name that does not end in .json, as nccl-tests writes only those, and a
  // file that cannot be written, but writes nothing yet. At begin() it takes PATH, or PATH.0,
  // PATH.1 ... when it exists (nccl-tests never overwrites), and says which on `announce`.
  explicit JsonWriter(const std::string& path, std::FILE* announce = nullptr);
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  void begin(const RunInfo& info, const BenchOptions& options) override;
  void begin_table(Collective collective, const std::string& algorithm) override;
  void row(const Row& row) override;
  void end_table(const TableTotals& totals) override;
  void end(const TableTotals& totals) override;

  // Thread-safe: the watchdog thread records why it is about to abort the job, so the file says so.
  void record_error(const std::string& message);

  // The first write that failed ("cannot write 'PATH': No space left on device"), after which the
  // writer stops writing: the file keeps the last version that was written whole. The sweep goes on
  // (the table on stdout has every row); the command reports this and exits non-zero.
  std::optional<std::string> failure() const;
  // The file written (after begin(): PATH or PATH.N).
  std::string path() const;

  // nccl-tests' row (its keys, in its order), with ours under "cctune".
  static nlohmann::ordered_json row_to_json(const Row& row, const BenchOptions& options, const SolBounds& sol = {});
  // Everything before "results": version, start_time, args, env, nccl_version, config.
  static nlohmann::ordered_json head_to_json(const RunInfo& info, const BenchOptions& options);
  // Our own keys, under "cctune": the build, the run's shape, our settings, a summary per table.
  static nlohmann::ordered_json cctune_to_json(const RunInfo& info, const BenchOptions& options,
                                               const nlohmann::ordered_json& tables, bool complete);

 private:
  void write(bool complete);  // caller holds mutex_

  std::string path_;
  std::FILE* announce_ = nullptr;
  RunInfo info_;
  BenchOptions options_;
  std::vector<nlohmann::ordered_json> rows_;
  std::optional<std::string> failure_;
  bool written_ = false;  // a whole document reached the file once
  std::chrono::steady_clock::time_point last_write_{};
  TableTotals totals_;
  nlohmann::ordered_json tables_ = nlohmann::ordered_json::array();
  std::string current_collective_, current_algorithm_;
  nlohmann::ordered_json errors_ = nlohmann::ordered_json::array();
  mutable std::mutex mutex_;  // the main thread writes rows, the watchdog thread may record an error
};

// PATH when nothing is there, else the first of PATH.0, PATH.1, ... that is free.
std::string free_json_path(const std::string& path);

}  // namespace cctune::bench
