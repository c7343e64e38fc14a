#pragma once
// nccl-tests' -J JSON, plus our keys. The file is a complete JSON document after every row: each
// row is appended and the closing part rewritten and flushed, so a crash or a watchdog abort keeps
// every finished row in a file any JSON parser loads ("complete": false marks such a file).
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/report.hpp"

namespace cctune::bench {

class JsonWriter final : public Sink {
 public:
  // Opens (and truncates) the file; throws UsageError naming it when it cannot be written.
  explicit JsonWriter(const std::string& path);
  ~JsonWriter() override;
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  void begin(const RunInfo& info, const BenchOptions& options) override;
  void begin_table(Collective collective, const std::string& algorithm) override;
  void row(const Row& row) override;
  void end_table(const TableTotals& totals) override;
  void end(const TableTotals& totals) override;

  // Thread-safe: the watchdog thread records why it is about to abort the job, so the file says so.
  void record_error(const std::string& message);

  static nlohmann::ordered_json row_to_json(const Row& row);
  // Everything before "results": version, args, env, config, devices.
  static nlohmann::ordered_json head_to_json(const RunInfo& info, const BenchOptions& options);

 private:
  void write_tail(bool complete);  // caller holds mutex_

  std::string path_;
  std::FILE* file_ = nullptr;
  long rows_end_ = 0;  // file offset just after the last row written
  bool first_row_ = true;
  TableTotals totals_;
  nlohmann::ordered_json tables_ = nlohmann::ordered_json::array();
  std::string current_collective_, current_algorithm_;
  nlohmann::ordered_json errors_ = nlohmann::ordered_json::array();
  std::mutex mutex_;  // the main thread writes rows, the watchdog thread may record an error
};

// The same document kept in memory, for the results store: complete once the sweep has ended.
class JsonCollector final : public Sink {
 public:
  void begin(const RunInfo& info, const BenchOptions& options) override;
  void row(const Row& row) override;
  void end(const TableTotals& totals) override;
  const nlohmann::ordered_json& document() const { return document_; }

 private:
  nlohmann::ordered_json document_;
};

}  // namespace cctune::bench
