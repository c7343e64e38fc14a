#pragma once
// `bench --db`: the results database as one more sink of the sweep. The run is stored when it starts
// and each row as it finishes, so that a run the watchdog stops, or a job killed halfway, keeps in the
// database what it keeps in its -J file: every finished row, marked incomplete until the sweep ends.
#include <cstdint>
#include <mutex>
#include <string>

#include "bench/report.hpp"
#include "results/store.hpp"

namespace cctune::cli {

class RunRecorder final : public bench::Sink {
 public:
  // `required`: the database was named with --db, and a failure to store fails the run (exit 1); the
  // default database, a convenience, only costs a warning (docs/results.md).
  RunRecorder(results::Store& store, bool required) : store_(store), required_(required) {}

  void begin(const bench::RunInfo& info, const bench::BenchOptions& options) override;
  void row(const bench::Row& row) override;
  void end(const bench::TableTotals& totals) override;
  // Thread-safe: the watchdog thread records why it is about to abort the job.
  void record_error(const std::string& message);

  // The record's id; 0 before begin().
  std::int64_t id() const { return id_; }
  // True once storing failed (a lock held past results::kLockWait, a full disk). That was said in one
  // line, and the sweep went on without the database: its -J file and output still get every row.
  bool failed() const { return failed_; }
  // failed(), for a database named with --db: the run then exits 1.
  bool failed_the_run() const { return failed_ && required_; }

 private:
  template <typename Action>
  void guarded(const Action& action);

  results::Store& store_;
  bool required_;
  std::int64_t id_ = 0;
  bool failed_ = false;
  std::mutex mutex_;
};

}  // namespace cctune::cli
