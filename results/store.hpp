#pragma once
// The results history: an SQLite database that several jobs may append to at once. WAL mode lets
// readers go on while one writes, and writers queue behind each other; each record (or, for a run
// recorded as it goes, each row) is one transaction, so a reader never sees half of one and a crash
// leaves none half-written.
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collectives/error.hpp"
#include "results/record.hpp"

namespace cctune::results {

// The longest any one use of the store (opening it, storing a record or a row, listing, reading a
// record) waits in all for locks that other processes hold, however many times SQLite retries.
// Then it gives up with one line naming the database (UsageError).
inline constexpr std::chrono::seconds kLockWait{30};

// The UsageError a use of the store throws when another process held the lock past the bound: a
// caller that can try again later (bench, storing rows as it goes) tells it from a failure that stays.
class DatabaseLocked : public UsageError {
 public:
  using UsageError::UsageError;
};

// `given` when the user named one (--db), else $CCTUNE_DB, else $XDG_DATA_HOME/cctune/results.db, else
// ~/.local/share/cctune/results.db.
std::filesystem::path database_path(const std::string& given = {});

// A record id as typed ("12"): a whole number from 1 to 2^63-1. UsageError naming the text otherwise.
std::int64_t parse_record_id(const std::string& text);

enum class Access {
  // Never changes the file: no schema added, no journal mode switched, nothing created. A file that is
  // missing, empty or an SQLite database without tables reads as a history with no records; a file
  // that the user may only read can be read.
  read,
  // Creates the file and its folder when missing, and gives a new or empty file the schema. Proves at
  // once that the database can be written (takes and releases the write lock).
  write,
};

class Store {
 public:
  // Throws UsageError "PATH: reason" for a file that is not a cctune results database (corrupted,
  // another program's, a newer schema, not a regular file) and leaves it as it was; also when the
  // database stays locked for kLockWait, or cannot be written (Access::write).
  explicit Store(const std::filesystem::path& path, Access access = Access::write);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The whole record in one transaction. Returns the new record's id.
  std::int64_t append(const Record& record);

  // A run recorded as it goes, so that a run killed halfway (the watchdog, a crash, scancel) keeps
  // every row it finished: begin_run() stores the record's head as incomplete (complete = false, its
  // measurements ignored), add_measurements() each row as it ends, add_error() a message in
  // environment.errors, finish_run() marks it complete.
  std::int64_t begin_run(const Record& head);
  void add_measurements(std::int64_t id, const std::vector<Measurement>& measurements);
  void add_error(std::int64_t id, const std::string& message);
  void finish_run(std::int64_t id, const std::string& ended);

  // Newest first, without measurements.
  std::vector<Record> list(int limit = 50) const;
  // With measurements (unreadable() rows left out and counted in skipped_rows); nullopt for an
  // unknown id.
  std::optional<Record> get(std::int64_t id) const;
  std::int64_t count() const;
  const std::filesystem::path& path() const { return path_; }

  // The bound on lock waits of every use that follows (kLockWait until set): bench stores a row in
  // the middle of a sweep, where the other ranks wait for rank 0, with a much shorter one.
  void set_lock_wait(std::chrono::milliseconds wait) { lock_wait_ = wait; }

 private:
  // A prepared statement, finalized when it goes out of scope.
  using Statement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;
  void open_connection(int flags, bool immutable);
  void check_schema(bool may_create);
  Statement prepare(const std::string& sql, const std::string& what) const;
  void exec(const char* sql, const std::string& what) const;
  // Steps a statement; before its first row, retries while another process holds the lock, until the
  // deadline (SQLite does not always call the busy handler).
  int step(sqlite3_stmt* statement, bool may_retry) const;
  Record run_from_row(sqlite3_stmt* statement) const;
  void start_deadline() const;
  static int on_busy(void* store, int attempts);
  [[noreturn]] void fail(const std::string& what) const;
  [[noreturn]] void fail_with(int code, const std::string& message, const std::string& what) const;
  void in_transaction(const std::string& what, const std::function<void()>& body);
  std::filesystem::path path_;
  Access access_;
  sqlite3* db_ = nullptr;
  int schema_version_ = 0;
  bool empty_ = false;  // Access::read of a missing file or one with no tables yet: no records
  std::chrono::milliseconds lock_wait_{kLockWait};
  // Every public operation restarts it: the end of its lock_wait_.
  mutable std::chrono::steady_clock::time_point deadline_;
};

}  // namespace cctune::results
