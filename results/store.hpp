#pragma once
// The results history: an SQLite database that several jobs may append to at once. WAL mode and a
// busy timeout let writers queue instead of failing; each record is one transaction, so a reader
// never sees half of one and a crash leaves none half-written.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "results/record.hpp"

namespace cctune::results {

// `given` when the user named one (--db), else $CCTUNE_DB, else $XDG_DATA_HOME/cctune/results.db, else
// ~/.local/share/cctune/results.db.
std::filesystem::path database_path(const std::string& given = {});

class Store {
 public:
  // Creates the file and its folder when missing. Throws UsageError "PATH: reason" for a file that is
  // not a cctune results database (corrupted, another program's, newer schema).
  explicit Store(const std::filesystem::path& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Returns the new record's id.
  std::int64_t append(const Record& record);
  // Newest first, without measurements.
  std::vector<Record> list(int limit = 50) const;
  // With measurements; nullopt for an unknown id.
  std::optional<Record> get(std::int64_t id) const;
  std::int64_t count() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  // A prepared statement, finalized when it goes out of scope.
  using Statement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;
  Statement prepare(const std::string& sql, const std::string& what) const;
  void exec(const char* sql) const;
  [[noreturn]] void fail(const std::string& what) const;
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

}  // namespace cctune::results
