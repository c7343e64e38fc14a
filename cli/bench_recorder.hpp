#pragma once
// `bench --db`: the results database as one more sink of the sweep. The run is stored when it starts
// and each row as it finishes, so that a run the watchdog stops, or a job killed halfway, keeps in the
// database what it keeps in its -J file: every finished row, marked incomplete until the sweep ends.
//
// Rank 0 stores the rows inside the sweep while the other ranks already wait for it in the next
// size's collective: a row therefore never waits long for a lock that another process holds (a
// second at most, a quarter of -T when that is less). A row that could not be stored is kept and
// stored with the next one; at the end of the sweep, when nobody waits any more, the rest get the
// whole results::kLockWait.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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
  // Called by the watchdog thread just before it aborts the job. Never waits for the sweep's thread:
  // when that is storing a row, the message is only on stderr and in the -J file.
  void record_error(const std::string& message);

  // The record's id; 0 until its head is stored.
  std::int64_t id() const { return id_; }
  // True once storing failed for good (rows still unstored when the sweep ended and the lock had
  // been held for results::kLockWait, a full disk). That was said in one line, and the sweep went on
  // without the database: its -J file and output still get every row.
  bool failed() const { return failed_; }
  // failed(), for a database named with --db: the run then exits 1.
  bool failed_the_run() const { return failed_ && required_; }

 private:
  bench::BenchOptions options_;
  // When what is kept is stored: it decides how long a lock may be waited for, and what a lock held
  // past that costs.
  enum class When { mid_run, abort, end };
  // Stores what is kept (the head, rows). False when the lock was held past the wait (everything is
  // still kept) or storing failed for good (failed_).
  bool store_kept(When when);
  void give_up(const Error& e);

  results::Store& store_;
  bool required_;
  std::chrono::milliseconds row_wait_{1000};
  std::int64_t id_ = 0;
  std::optional<results::Record> head_;              // until stored
  std::vector<results::Measurement> kept_;           // rows not stored yet
  std::size_t kept_rows_ = 0;
  bool said_locked_ = false;
  bool failed_ = false;
  std::mutex mutex_;
};

}  // namespace cctune::cli
