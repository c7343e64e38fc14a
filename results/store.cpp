#include "results/store.hpp"

#include <chrono>
#include <cstdlib>
#include <thread>
#include <memory>

#include "collectives/error.hpp"

namespace cctune::results {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  started TEXT NOT NULL,
  ended TEXT NOT NULL,
  command TEXT NOT NULL,
  cctune_version TEXT NOT NULL,
  git_revision TEXT NOT NULL,
  nranks INTEGER NOT NULL,
  nnodes INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  environment TEXT NOT NULL,
  source TEXT NOT NULL,
  complete INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS measurements (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  collective TEXT NOT NULL, backend TEXT NOT NULL, algorithm TEXT NOT NULL,
  datatype TEXT NOT NULL, op TEXT NOT NULL,
  bytes INTEGER NOT NULL, count INTEGER NOT NULL, in_place INTEGER NOT NULL,
  median_us REAL NOT NULL, min_us REAL NOT NULL, p99_us REAL NOT NULL, mean_us REAL NOT NULL,
  algbw_gbs REAL NOT NULL, busbw_gbs REAL NOT NULL, wrong INTEGER NOT NULL,
  samples_us TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurements_by_run ON measurements(run_id);
)sql";

std::string column_text(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  return text ? reinterpret_cast<const char*>(text) : std::string();
}

}  // namespace

std::filesystem::path database_path(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* db = std::getenv("CCTUNE_DB"); db && *db) return db;
  if (const char* data = std::getenv("XDG_DATA_HOME"); data && *data) return std::filesystem::path(data) / "cctune" / "results.db";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : ".") / ".local" / "share" / "cctune" / "results.db";
}

Store::Store(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) CCTUNE_USAGE_ERROR(path.string() + ": cannot create its folder: " + ec.message());
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    CCTUNE_USAGE_ERROR(path.string() + ": cannot open the results database: " + message);
  }
  try {
    // Writers wait for each other (up to a minute) rather than fail; WAL lets readers go on meanwhile.
    sqlite3_busy_timeout(db_, 60000);
    // Switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at once
    // instead of calling the busy handler when another process is creating it at the same moment
    // (the four-writer test caught this): retry for as long as the busy timeout would wait.
    for (int attempt = 0;; ++attempt) {
      if (sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) == SQLITE_OK) break;
      const int code = sqlite3_errcode(db_);
      if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || attempt == 6000) fail("switching to WAL mode");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    exec("PRAGMA foreign_keys=ON");
    exec("BEGIN IMMEDIATE");
    exec(kSchema);
    Statement statement = prepare("SELECT value FROM meta WHERE key='schema_version'", "reading the schema version");
    sqlite3_stmt* raw = statement.get();
    if (sqlite3_step(raw) == SQLITE_ROW) {
      const int version = std::atoi(column_text(raw, 0).c_str());
      if (version > kSchemaVersion) {
        exec("ROLLBACK");
        CCTUNE_USAGE_ERROR(path.string() + ": written by a newer cctune (schema " + std::to_string(version) + ")");
      }
    } else {
      exec("INSERT INTO meta(key, value) VALUES('schema_version', '1')");
    }
    statement.reset();
    exec("COMMIT");
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

Store::~Store() { sqlite3_close(db_); }

void Store::fail(const std::string& what) const {
  const int code = sqlite3_errcode(db_);
  const std::string message = sqlite3_errmsg(db_);
  if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
    CCTUNE_USAGE_ERROR(path_.string() + ": not a readable cctune results database (" + message + ")");
  }
  CCTUNE_THROW(path_.string() + ": " + what + ": " + message);
}

Store::Statement Store::prepare(const std::string& sql, const std::string& what) const {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) fail(what);
  return Statement(raw, sqlite3_finalize);
}

void Store::exec(const char* sql) const {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    sqlite3_free(error);
    fail(std::string("running ") + std::string(sql).substr(0, 40));
  }
}

std::int64_t Store::append(const Record& record) {
  exec("BEGIN IMMEDIATE");
  try {
    Statement run = prepare("INSERT INTO runs(kind, started, ended, command, cctune_version, git_revision, nranks, "
                            "nnodes, fingerprint, environment, source, complete) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                            "preparing the run");
    sqlite3_stmt* raw = run.get();
    const std::string environment = record.environment.dump();
    int column = 0;
    for (const std::string* text : {&record.kind, &record.started, &record.ended, &record.command,
                                    &record.cctune_version, &record.git_revision}) {
      sqlite3_bind_text(raw, ++column, text->c_str(), -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int(raw, ++column, record.nranks);
    sqlite3_bind_int(raw, ++column, record.nnodes);
    sqlite3_bind_text(raw, ++column, record.fingerprint.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, ++column, environment.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, ++column, record.source.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(raw, ++column, record.complete ? 1 : 0);
    if (sqlite3_step(raw) != SQLITE_DONE) fail("storing the run");
    const std::int64_t id = sqlite3_last_insert_rowid(db_);

    Statement row = prepare("INSERT INTO measurements(run_id, collective, backend, algorithm, datatype, op, bytes, count, "
                            "in_place, median_us, min_us, p99_us, mean_us, algbw_gbs, busbw_gbs, wrong, samples_us) "
                            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            "preparing the measurements");
    raw = row.get();
    for (const Measurement& m : record.measurements) {
      sqlite3_reset(raw);
      column = 0;
      sqlite3_bind_int64(raw, ++column, id);
      for (const std::string* text : {&m.collective, &m.backend, &m.algorithm, &m.datatype, &m.op}) {
        sqlite3_bind_text(raw, ++column, text->c_str(), -1, SQLITE_TRANSIENT);
      }
      sqlite3_bind_int64(raw, ++column, static_cast<sqlite3_int64>(m.bytes));
      sqlite3_bind_int64(raw, ++column, static_cast<sqlite3_int64>(m.count));
      sqlite3_bind_int(raw, ++column, m.in_place ? 1 : 0);
      for (double value : {m.median_us, m.min_us, m.p99_us, m.mean_us, m.algbw_gbs, m.busbw_gbs}) {
        sqlite3_bind_double(raw, ++column, value);
      }
      sqlite3_bind_int64(raw, ++column, m.wrong);
      const std::string samples = nlohmann::json(m.samples_us).dump();
      sqlite3_bind_text(raw, ++column, samples.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(raw) != SQLITE_DONE) fail("storing a measurement");
    }
    row.reset();
    run.reset();
    exec("COMMIT");
    return id;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

namespace {

Record run_from_row(sqlite3_stmt* s) {
  Record r;
  r.id = sqlite3_column_int64(s, 0);
  r.kind = column_text(s, 1);
  r.started = column_text(s, 2);
  r.ended = column_text(s, 3);
  r.command = column_text(s, 4);
  r.cctune_version = column_text(s, 5);
  r.git_revision = column_text(s, 6);
  r.nranks = sqlite3_column_int(s, 7);
  r.nnodes = sqlite3_column_int(s, 8);
  r.fingerprint = column_text(s, 9);
  r.environment = nlohmann::json::parse(column_text(s, 10), nullptr, false);
  r.source = column_text(s, 11);
  r.complete = sqlite3_column_int(s, 12) != 0;
  return r;
}

constexpr const char* kRunColumns =
    "SELECT id, kind, started, ended, command, cctune_version, git_revision, nranks, nnodes, fingerprint, "
    "environment, source, complete FROM runs ";

}  // namespace

std::vector<Record> Store::list(int limit) const {
  const Statement statement = prepare(std::string(kRunColumns) + "ORDER BY id DESC LIMIT ?", "listing runs");
  sqlite3_stmt* raw = statement.get();
  sqlite3_bind_int(raw, 1, limit);
  std::vector<Record> records;
  int rc = 0;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) records.push_back(run_from_row(raw));
  if (rc != SQLITE_DONE) fail("listing runs");
  return records;
}

std::optional<Record> Store::get(std::int64_t id) const {
  const Statement run = prepare(std::string(kRunColumns) + "WHERE id = ?", "reading a run");
  sqlite3_stmt* raw = run.get();
  sqlite3_bind_int64(raw, 1, id);
  const int rc = sqlite3_step(raw);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) fail("reading a run");
  Record record = run_from_row(raw);
  const Statement rows = prepare("SELECT collective, backend, algorithm, datatype, op, bytes, count, in_place, median_us, "
                                 "min_us, p99_us, mean_us, algbw_gbs, busbw_gbs, wrong, samples_us FROM measurements "
                                 "WHERE run_id = ? ORDER BY rowid",
                                 "reading measurements");
  raw = rows.get();
  sqlite3_bind_int64(raw, 1, id);
  int step = 0;
  while ((step = sqlite3_step(raw)) == SQLITE_ROW) {
    Measurement m;
    m.collective = column_text(raw, 0);
    m.backend = column_text(raw, 1);
    m.algorithm = column_text(raw, 2);
    m.datatype = column_text(raw, 3);
    m.op = column_text(raw, 4);
    m.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 5));
    m.count = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 6));
    m.in_place = sqlite3_column_int(raw, 7) != 0;
    m.median_us = sqlite3_column_double(raw, 8);
    m.min_us = sqlite3_column_double(raw, 9);
    m.p99_us = sqlite3_column_double(raw, 10);
    m.mean_us = sqlite3_column_double(raw, 11);
    m.algbw_gbs = sqlite3_column_double(raw, 12);
    m.busbw_gbs = sqlite3_column_double(raw, 13);
    m.wrong = sqlite3_column_int64(raw, 14);
    const auto samples = nlohmann::json::parse(column_text(raw, 15), nullptr, false);
    if (samples.is_array()) {
      for (const auto& value : samples) {
        if (value.is_number()) m.samples_us.push_back(value.get<double>());
      }
    }
    record.measurements.push_back(std::move(m));
  }
  if (step != SQLITE_DONE) fail("reading measurements");
  return record;
}

std::int64_t Store::count() const {
  const Statement statement = prepare("SELECT count(*) FROM runs", "counting runs");
  sqlite3_stmt* raw = statement.get();
  if (sqlite3_step(raw) != SQLITE_ROW) fail("counting runs");
  return sqlite3_column_int64(raw, 0);
}

}  // namespace cctune::results
