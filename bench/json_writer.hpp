#pragma once
// nccl-tests' -J JSON, plus our keys. The file is a complete JSON document after every row: after
// each row the whole document is written to a temporary file beside it and renamed over it, so a
// crash, kill -9 or a watchdog abort keeps every finished row in a file any JSON parser loads
// ("complete": false marks such a file), and a write that fails (a full disk) leaves the last
// complete version in place, whether of this run or of the one before.
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/report.hpp"

namespace cctune::bench {

class JsonWriter final : public Sink {
 public:
  // Checks that the file can be written (UsageError naming it otherwise) but writes nothing yet: a
  // check that refuses the run later must leave an existing file as it was. The first write is at
  // begin().
  explicit JsonWriter(const std::string& path);
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

  static nlohmann::ordered_json row_to_json(const Row& row);
  // Everything before "results": version, args, env, config, devices.
  static nlohmann::ordered_json head_to_json(const RunInfo& info, const BenchOptions& options);

 private:
  void write(bool complete);  // caller holds mutex_

  std::string path_;
  std::string head_;                // everything up to and including "results": [
  std::vector<std::string> rows_;   // each row's JSON, one line each
  std::optional<std::string> failure_;
  TableTotals totals_;
  nlohmann::ordered_json tables_ = nlohmann::ordered_json::array();
  std::string current_collective_, current_algorithm_;
  nlohmann::ordered_json errors_ = nlohmann::ordered_json::array();
  mutable std::mutex mutex_;  // the main thread writes rows, the watchdog thread may record an error
};

}  // namespace cctune::bench
