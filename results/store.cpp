#include "results/store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <thread>
#include <tuple>

#include "collectives/error.hpp"
#include "results/files.hpp"
#include "results/text.hpp"

namespace cctune::results {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// 2: measurements gained root and max_error (nccl-tests' rooted collectives and old error column).
constexpr int kSchemaVersion = 2;

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
  samples_us TEXT NOT NULL, root INTEGER NOT NULL DEFAULT -1, max_error REAL
);
CREATE INDEX IF NOT EXISTS measurements_by_run ON measurements(run_id);
)sql";

// The tables that make a file ours; a file with tables but not these is another program's.
constexpr const char* kOurTables[] = {"meta", "runs", "measurements"};

std::string column_text(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  return text ? reinterpret_cast<const char*>(text) : std::string();
}

bool busy(int code) { return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED; }

// A path as an SQLite URI ("file:/a%20b.db"), for the immutable=1 parameter.
std::string uri_of(const fs::path& path) {
  std::string uri = "file:";
  for (const unsigned char c : fs::absolute(path).string()) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      uri += fmt::format("%{:02X}", c);
    }
  }
  return uri + "?immutable=1";
}

}  // namespace

std::filesystem::path database_path(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* db = std::getenv("CCTUNE_DB"); db && *db) return db;
  if (const char* data = std::getenv("XDG_DATA_HOME"); data && *data) return std::filesystem::path(data) / "cctune" / "results.db";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : ".") / ".local" / "share" / "cctune" / "results.db";
}

std::int64_t parse_record_id(const std::string& text) {
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  const std::size_t first = digits ? std::min(text.find_first_not_of('0'), text.size()) : 0;
  // 19 significant digits at most: then it fits in 64 bits and the comparison below is exact.
  const bool fits = digits && text.size() - first <= 19 && std::stoull("0" + text.substr(first)) <= kMaxRecordInteger;
  const std::int64_t id = fits ? static_cast<std::int64_t>(std::stoull("0" + text.substr(first))) : 0;
  if (!fits || id < 1) {
    CCTUNE_USAGE_ERROR(fmt::format("record id '{}': not a whole number from 1 to {}", printable(text.substr(0, 40)),
                                   kMaxRecordInteger));
  }
  return id;
}

Store::Store(const std::filesystem::path& path, Access access) : path_(path), access_(access) {
  start_deadline();
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  const bool exists = fs::exists(status);
  if (exists && !fs::is_regular_file(status)) {
    CCTUNE_USAGE_ERROR(printable(path.string()) + ": not a regular file, so not a cctune results database");
  }
  try {
    if (access == Access::read) {
      // A history that was never written to has no records; reading it creates nothing.
      if (!exists || fs::file_size(path, ec) == 0) {
        empty_ = true;
        return;
      }
      open_connection(SQLITE_OPEN_READONLY, false);
      // A WAL database needs its -shm file, which a reader without write access to the folder cannot
      // create. Without a -wal file, or with an empty one, the file alone is the whole database and
      // can be read as immutable; changes still in the -wal file would be missed that way (or read
      // half-checkpointed), so then it is refused.
      const int probe = sqlite3_exec(db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
      if ((probe & 0xff) == SQLITE_READONLY || (probe & 0xff) == SQLITE_CANTOPEN) {
        sqlite3_close(db_);
        db_ = nullptr;
        const fs::path wal = path.string() + "-wal";
        ec.clear();
        const bool wal_exists = fs::exists(wal, ec);
        const std::uintmax_t wal_size = wal_exists ? fs::file_size(wal, ec) : 0;
        if (ec || wal_size > 0) {
          CCTUNE_USAGE_ERROR(printable(path.string()) + ": the results database cannot be read without write access "
                             "to its folder while it has changes not yet copied from " + printable(wal.string()) +
                             " (the last process that writes to the database copies them when it closes it)");
        }
        open_connection(SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, true);
      }
      check_schema(false);
      return;
    }
    ec.clear();
    if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
    if (ec) CCTUNE_USAGE_ERROR(printable(path.string()) + ": cannot create its folder: " + ec.message());
    open_connection(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, false);
    check_schema(true);
    // Only now, with the file known to be ours: WAL lets readers go on while a writer works. Switching
    // needs the file to itself, and SQLite answers "locked" at once, without the busy handler, while
    // another process opens the same new file (the four-writer test caught this): retry until the
    // deadline.
    bool wal = false;
    {
      const Statement mode = prepare("PRAGMA journal_mode", "reading the journal mode");
      wal = step(mode.get(), true) == SQLITE_ROW && column_text(mode.get(), 0) == "wal";
    }
    while (!wal) {
      const int code = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
      if (code == SQLITE_OK) break;
      if (!busy(code) || Clock::now() >= deadline_) fail("switching to WAL mode");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    exec("PRAGMA foreign_keys=ON", "enabling foreign keys");
    // bench commits a transaction per row: in WAL mode NORMAL syncs at checkpoints only, and a killed
    // process still keeps every row it committed (only a power cut may lose the last few).
    exec("PRAGMA synchronous=NORMAL", "setting the sync mode");
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

Store::~Store() { sqlite3_close(db_); }

void Store::open_connection(int flags, bool immutable) {
  const std::string name = immutable ? uri_of(path_) : path_.string();
  const int code = sqlite3_open_v2(name.c_str(), &db_, flags, nullptr);
  if (code != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    fail_with(code, message, "opening it");
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_handler(db_, &Store::on_busy, this);
}

void Store::check_schema(bool may_create) {
  // The write lock first, so that two processes creating the same new file do not both add the schema.
  if (may_create) exec("BEGIN IMMEDIATE", "taking the write lock");
  try {
    std::set<std::string> tables;
    {
      const Statement statement = prepare("SELECT name FROM sqlite_master WHERE type = 'table'", "reading its tables");
      int rc = 0;
      for (bool first = true; (rc = step(statement.get(), first)) == SQLITE_ROW; first = false) {
        tables.insert(column_text(statement.get(), 0));
      }
      if (rc != SQLITE_DONE) fail("reading its tables");
    }
    if (tables.empty()) {
      if (may_create) {
        exec(kSchema, "creating the tables");
        exec("INSERT INTO meta(key, value) VALUES('schema_version', '2')", "creating the tables");
        schema_version_ = kSchemaVersion;
      } else {
        empty_ = true;
      }
    } else {
      const bool ours = std::all_of(std::begin(kOurTables), std::end(kOurTables),
                                    [&](const char* table) { return tables.count(table) != 0; });
      std::optional<std::string> version;
      if (ours) {
        const Statement statement =
            prepare("SELECT value FROM meta WHERE key='schema_version'", "reading the schema version");
        const int rc = step(statement.get(), true);
        if (rc == SQLITE_ROW) {
          version = column_text(statement.get(), 0);
        } else if (rc != SQLITE_DONE) {
          fail("reading the schema version");
        }
      }
      if (!version) {
        std::vector<std::string> names(tables.begin(), tables.end());
        if (names.size() > 5) names.resize(5), names.push_back("...");
        CCTUNE_USAGE_ERROR(printable(path_.string()) + ": not a cctune results database (it holds another program's "
                           "tables: " + printable(fmt::format("{}", fmt::join(names, ", "))) +
                           "); left as it was: give --db a file of its own");
      }
      const bool whole = !version->empty() && version->size() < 10 &&
                         version->find_first_not_of("0123456789") == std::string::npos;
      if (!whole || std::stoi(*version) < 1) {
        CCTUNE_USAGE_ERROR(printable(path_.string()) + ": not a readable cctune results database (schema version '" +
                           printable(version->substr(0, 20)) + "')");
      }
      if (std::stoi(*version) > kSchemaVersion) {
        CCTUNE_USAGE_ERROR(printable(path_.string()) + ": written by a newer cctune (schema " + *version + ")");
      }
      schema_version_ = std::stoi(*version);
      if (schema_version_ == 1 && may_create) {
        // In the same transaction as the check: a database is either still 1 or wholly 2.
        exec("ALTER TABLE measurements ADD COLUMN root INTEGER NOT NULL DEFAULT -1", "upgrading the schema");
        exec("ALTER TABLE measurements ADD COLUMN max_error REAL", "upgrading the schema");
        exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'", "upgrading the schema");
        schema_version_ = 2;
      }
    }
    if (may_create) exec("COMMIT", "creating the tables");
  } catch (...) {
    if (may_create) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void Store::start_deadline() const { deadline_ = Clock::now() + lock_wait_; }

int Store::on_busy(void* store, int attempts) {
  const auto* self = static_cast<const Store*>(store);
  const auto now = Clock::now();
  if (now >= self->deadline_) return 0;  // SQLite then answers SQLITE_BUSY
  // Short waits first (a writer's transaction takes milliseconds), then 25 ms at a time.
  const auto wait = std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(std::min(attempts + 1, 25)),
                                                                  self->deadline_ - now);
  std::this_thread::sleep_for(wait);
  return 1;
}

int Store::step(sqlite3_stmt* statement, bool may_retry) const {
  while (true) {
    const int rc = sqlite3_step(statement);
    if (!may_retry || !busy(rc) || Clock::now() >= deadline_) return rc;
    sqlite3_reset(statement);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Store::fail(const std::string& what) const { fail_with(sqlite3_extended_errcode(db_), sqlite3_errmsg(db_), what); }

void Store::fail_with(int code, const std::string& message, const std::string& what) const {
  const std::string path = printable(path_.string());
  const std::string detail = printable(message);
  switch (code & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      CCTUNE_USAGE_ERROR(path + ": not a readable cctune results database (" + detail + ")");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw DatabaseLocked(fmt::format("{}: the results database is locked by another process: gave up {} after "
                                       "waiting {:g} s",
                                       path, what, std::chrono::duration<double>(lock_wait_).count()),
                           __FILE__, __LINE__);
    case SQLITE_READONLY:
      CCTUNE_USAGE_ERROR(path + ": " + what + ": the results database cannot be written (a read-only file, folder "
                         "or file system)");
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      CCTUNE_USAGE_ERROR(path + ": cannot open the results database (" + detail + ")");
    case SQLITE_FULL:
      CCTUNE_USAGE_ERROR(path + ": " + what + ": the disk is full");
    default:
      CCTUNE_USAGE_ERROR(path + ": " + what + ": " + detail);
  }
}

Store::Statement Store::prepare(const std::string& sql, const std::string& what) const {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) fail(what);
  return Statement(raw, sqlite3_finalize);
}

void Store::exec(const char* sql, const std::string& what) const {
  while (true) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    // BEGIN IMMEDIATE may be refused without the busy handler (a writer recovering the WAL, say).
    if (!busy(rc) || Clock::now() >= deadline_ || std::string_view(sql) != "BEGIN IMMEDIATE") fail(what);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Store::in_transaction(const std::string& what, const std::function<void()>& body) {
  if (access_ != Access::write) CCTUNE_THROW(path_.string() + ": opened for reading only");
  start_deadline();
  exec("BEGIN IMMEDIATE", what);
  try {
    body();
    exec("COMMIT", what);
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

namespace {

constexpr const char* kInsertRun =
    "INSERT INTO runs(kind, started, ended, command, cctune_version, git_revision, nranks, nnodes, fingerprint, "
    "environment, source, complete) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)";
constexpr const char* kInsertMeasurement =
    "INSERT INTO measurements(run_id, collective, backend, algorithm, datatype, op, bytes, count, in_place, median_us, "
    "min_us, p99_us, mean_us, algbw_gbs, busbw_gbs, wrong, samples_us, root, max_error) "
    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

}  // namespace

std::int64_t Store::append(const Record& record) {
  std::int64_t id = 0;
  in_transaction("storing the record", [&] {
    id = begin_run(record);
    add_measurements(id, record.measurements);
    if (record.complete) finish_run(id, record.ended);
  });
  return id;
}

std::int64_t Store::begin_run(const Record& head) {
  // Inside append()'s transaction, or one of its own.
  const bool own = sqlite3_get_autocommit(db_) != 0;
  std::int64_t id = 0;
  const auto insert = [&] {
    const Statement run = prepare(kInsertRun, "storing the run");
    sqlite3_stmt* raw = run.get();
    const std::string environment = head.environment.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    int column = 0;
    for (const std::string* text :
         {&head.kind, &head.started, &head.ended, &head.command, &head.cctune_version, &head.git_revision}) {
      sqlite3_bind_text(raw, ++column, text->c_str(), -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int(raw, ++column, head.nranks);
    sqlite3_bind_int(raw, ++column, head.nnodes);
    sqlite3_bind_text(raw, ++column, head.fingerprint.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, ++column, environment.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, ++column, head.source.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(raw, ++column, 0);
    if (sqlite3_step(raw) != SQLITE_DONE) fail("storing the run");
    id = sqlite3_last_insert_rowid(db_);
  };
  if (own) {
    in_transaction("storing the run", insert);
  } else {
    insert();
  }
  return id;
}

void Store::add_measurements(std::int64_t id, const std::vector<Measurement>& measurements) {
  const auto insert = [&] {
    const Statement row = prepare(kInsertMeasurement, "storing a measurement");
    sqlite3_stmt* raw = row.get();
    for (const Measurement& m : measurements) {
      // NaN would be stored as NULL and fail the NOT NULL constraint with a message about neither.
      if (const std::string why = unreadable(m); !why.empty()) {
        CCTUNE_THROW(printable(path_.string()) + ": storing a measurement: " + why);
      }
      sqlite3_reset(raw);
      int column = 0;
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
      sqlite3_bind_int(raw, ++column, m.root);
      if (m.max_error && std::isfinite(*m.max_error)) {
        sqlite3_bind_double(raw, ++column, *m.max_error);
      } else {
        sqlite3_bind_null(raw, ++column);
      }
      if (sqlite3_step(raw) != SQLITE_DONE) fail("storing a measurement");
    }
  };
  if (sqlite3_get_autocommit(db_) != 0) {
    in_transaction("storing a measurement", insert);
  } else {
    insert();
  }
}

void Store::add_error(std::int64_t id, const std::string& message) {
  in_transaction("storing an error", [&] {
    const Statement read = prepare("SELECT environment FROM runs WHERE id = ?", "storing an error");
    sqlite3_bind_int64(read.get(), 1, id);
    if (sqlite3_step(read.get()) != SQLITE_ROW) fail("storing an error");
    nlohmann::json environment = nlohmann::json::parse(column_text(read.get(), 0), nullptr, false);
    if (!environment.is_object()) environment = nlohmann::json::object();
    if (!environment.contains("errors") || !environment["errors"].is_array()) {
      environment["errors"] = nlohmann::json::array();
    }
    environment["errors"].push_back(message);
    const std::string text = environment.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const Statement write = prepare("UPDATE runs SET environment = ? WHERE id = ?", "storing an error");
    sqlite3_bind_text(write.get(), 1, text.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(write.get(), 2, id);
    if (sqlite3_step(write.get()) != SQLITE_DONE) fail("storing an error");
  });
}

void Store::finish_run(std::int64_t id, const std::string& ended) {
  const auto update = [&] {
    const Statement statement = prepare("UPDATE runs SET complete = 1, ended = ? WHERE id = ?", "finishing the run");
    sqlite3_bind_text(statement.get(), 1, ended.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(statement.get(), 2, id);
    if (sqlite3_step(statement.get()) != SQLITE_DONE) fail("finishing the run");
  };
  if (sqlite3_get_autocommit(db_) != 0) {
    in_transaction("finishing the run", update);
  } else {
    update();
  }
}

namespace {

constexpr const char* kRunColumns =
    "SELECT id, kind, started, ended, command, cctune_version, git_revision, nranks, nnodes, fingerprint, "
    "environment, source, complete FROM runs ";

}  // namespace

std::vector<Record> Store::list(int limit) const {
  if (empty_) return {};
  start_deadline();
  const Statement statement = prepare(std::string(kRunColumns) + "ORDER BY id DESC LIMIT ?", "listing runs");
  sqlite3_stmt* raw = statement.get();
  sqlite3_bind_int(raw, 1, limit);
  std::vector<Record> records;
  int rc = 0;
  while ((rc = step(raw, records.empty())) == SQLITE_ROW) records.push_back(run_from_row(raw));
  if (rc != SQLITE_DONE) fail("listing runs");
  return records;
}

Record Store::run_from_row(sqlite3_stmt* s) const {
  Record r;
  r.id = sqlite3_column_int64(s, 0);
  r.kind = column_text(s, 1);
  r.started = column_text(s, 2);
  r.ended = column_text(s, 3);
  r.command = column_text(s, 4);
  r.cctune_version = column_text(s, 5);
  r.git_revision = column_text(s, 6);
  for (const auto& [column, field, name] : {std::tuple{7, &r.nranks, "nranks"}, std::tuple{8, &r.nnodes, "nnodes"}}) {
    const sqlite3_int64 value = sqlite3_column_int64(s, column);
    if (value < 0 || value > std::numeric_limits<int>::max()) {
      CCTUNE_USAGE_ERROR(fmt::format("{}: record {}: {} {} is not a whole number from 0 to {}",
                                     printable(path_.string()), r.id, name, value, std::numeric_limits<int>::max()));
    }
    *field = static_cast<int>(value);
  }
  r.fingerprint = column_text(s, 9);
  r.environment = parse_json_text(column_text(s, 10), path_.string());
  if (r.environment.is_discarded()) r.environment = nlohmann::json::object();
  r.source = column_text(s, 11);
  r.complete = sqlite3_column_int64(s, 12) != 0;
  return r;
}

std::optional<Record> Store::get(std::int64_t id) const {
  if (empty_) return std::nullopt;
  start_deadline();
  const Statement run = prepare(std::string(kRunColumns) + "WHERE id = ?", "reading a run");
  sqlite3_stmt* raw = run.get();
  sqlite3_bind_int64(raw, 1, id);
  const int rc = step(raw, true);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) fail("reading a run");
  Record record = run_from_row(raw);
  // A schema 1 file opened for reading only stays as it is: its rows have no root or error.
  const Statement rows = prepare(std::string("SELECT collective, backend, algorithm, datatype, op, bytes, count, "
                                             "in_place, median_us, min_us, p99_us, mean_us, algbw_gbs, busbw_gbs, "
                                             "wrong, samples_us, ") +
                                     (schema_version_ >= 2 ? "root, max_error" : "-1, NULL") +
                                     " FROM measurements WHERE run_id = ? ORDER BY rowid",
                                 "reading measurements");
  raw = rows.get();
  sqlite3_bind_int64(raw, 1, id);
  int step_rc = 0;
  for (bool first = true; (step_rc = step(raw, first)) == SQLITE_ROW; first = false) {
    Measurement m;
    m.collective = column_text(raw, 0);
    m.backend = column_text(raw, 1);
    m.algorithm = column_text(raw, 2);
    m.datatype = column_text(raw, 3);
    m.op = column_text(raw, 4);
    const sqlite3_int64 bytes = sqlite3_column_int64(raw, 5), count = sqlite3_column_int64(raw, 6);
    m.bytes = static_cast<std::uint64_t>(std::max<sqlite3_int64>(bytes, 0));
    m.count = static_cast<std::uint64_t>(std::max<sqlite3_int64>(count, 0));
    m.in_place = sqlite3_column_int64(raw, 7) != 0;
    // A NULL (what SQLite makes of a NaN) reads as 0, which unreadable() refuses as a median.
    m.median_us = sqlite3_column_double(raw, 8);
    m.min_us = sqlite3_column_double(raw, 9);
    m.p99_us = sqlite3_column_double(raw, 10);
    m.mean_us = sqlite3_column_double(raw, 11);
    m.algbw_gbs = sqlite3_column_double(raw, 12);
    m.busbw_gbs = sqlite3_column_double(raw, 13);
    m.wrong = sqlite3_column_int64(raw, 14);
    const sqlite3_int64 root = sqlite3_column_int64(raw, 16);
    m.root = root >= -1 && root <= std::numeric_limits<int>::max() ? static_cast<int>(root) : -1;
    if (sqlite3_column_type(raw, 17) != SQLITE_NULL) m.max_error = sqlite3_column_double(raw, 17);
    bool readable = bytes >= 0 && count >= 0;
    const auto samples = parse_json_text(column_text(raw, 15), path_.string());
    if (samples.is_array()) {
      for (const auto& value : samples) {
        if (!value.is_number()) readable = false;
        if (value.is_number()) m.samples_us.push_back(value.get<double>());
      }
    }
    if (!readable || !unreadable(m).empty()) {
      ++record.skipped_rows;
      continue;
    }
    record.measurements.push_back(std::move(m));
  }
  if (step_rc != SQLITE_DONE) fail("reading measurements");
  return record;
}

std::int64_t Store::count() const {
  if (empty_) return 0;
  start_deadline();
  const Statement statement = prepare("SELECT count(*) FROM runs", "counting runs");
  sqlite3_stmt* raw = statement.get();
  if (step(raw, true) != SQLITE_ROW) fail("counting runs");
  return sqlite3_column_int64(raw, 0);
}

}  // namespace cctune::results
