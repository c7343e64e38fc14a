// The results database as several jobs use it at once: records survive concurrent writers whole, and
// files that are not our database are refused with one message instead of being overwritten.
#include "results/store.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "collectives/error.hpp"
#include "results/files.hpp"
#include "results/nccl_tests.hpp"
#include "results/text.hpp"

namespace cctune::results {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cctune-results-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

Record sample_record(int writer, int index) {
  Record r;
  r.kind = "bench";
  r.started = "2026-11-21T00:00:00Z";
  r.ended = "2026-11-21T00:00:01Z";
  r.command = "cctune bench writer " + std::to_string(writer);
  r.cctune_version = "test";
  r.git_revision = "abc";
  r.nranks = 4;
  r.nnodes = 1;
  r.complete = true;
  r.environment = {{"writer", writer}, {"index", index}};
  for (std::uint64_t bytes = 8; bytes <= 1024; bytes *= 2) {
    Measurement m;
    m.collective = "allreduce";
    m.backend = "mpi";
    m.algorithm = "ring";
    m.datatype = "float";
    m.op = "sum";
    m.bytes = bytes;
    m.count = bytes / 4;
    m.median_us = static_cast<double>(writer * 1000 + index + 1);  // a time: above 0
    m.wrong = 0;
    m.samples_us = {1.0 * writer, 2.0 * index, static_cast<double>(bytes)};
    r.measurements.push_back(m);
  }
  return r;
}

TEST(ResultsStore, RoundTripsARecordWithItsSamples) {
  TempDir dir;
  Store store(dir.path / "sub" / "results.db");
  const Record written = sample_record(3, 7);
  const std::int64_t id = store.append(written);
  const auto read = store.get(id);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->command, written.command);
  EXPECT_EQ(read->environment, written.environment);
  ASSERT_EQ(read->measurements.size(), written.measurements.size());
  EXPECT_EQ(read->measurements[2].samples_us, written.measurements[2].samples_us);
  EXPECT_EQ(read->measurements[2].bytes, 32u);
  EXPECT_FALSE(store.get(id + 1).has_value());
  EXPECT_EQ(store.list().front().id, id);
  // The exported JSON reads back as the same record.
  const Record back = record_from_json(record_to_json(*read), "r.json");
  EXPECT_EQ(record_to_json(back), record_to_json(*read));
}

TEST(ResultsStore, RootAndMaxErrorRoundTripAndASchemaOneDatabaseIsUpgradedWhenWritten) {
  TempDir dir;
  const fs::path db = dir.path / "results.db";
  Record written = sample_record(1, 1);
  written.measurements[0].root = 3;
  written.measurements[0].max_error = 2e-07;
  std::int64_t id = 0;
  {
    Store store(db);
    id = store.append(written);
    const auto read = store.get(id);
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->measurements[0].root, 3);
    ASSERT_TRUE(read->measurements[0].max_error.has_value());
    EXPECT_EQ(*read->measurements[0].max_error, 2e-07);
    EXPECT_EQ(read->measurements[1].root, -1);
    EXPECT_FALSE(read->measurements[1].max_error.has_value());
  }
  // The same file as schema 1 wrote it: without the two columns.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "ALTER TABLE measurements DROP COLUMN root; ALTER TABLE measurements DROP COLUMN max_error; "
                         "UPDATE meta SET value = '1' WHERE key = 'schema_version';",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(raw);
  sqlite3_close(raw);
  {
    Store reader(db, Access::read);  // read as it is
    const auto read = reader.get(id);
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->measurements[0].root, -1);
    EXPECT_EQ(read->measurements.size(), written.measurements.size());
  }
  const auto schema_version = [&] {
    sqlite3* check = nullptr;
    EXPECT_EQ(sqlite3_open(db.c_str(), &check), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(check, "SELECT value FROM meta WHERE key='schema_version'", -1, &statement, nullptr);
    std::string version = sqlite3_step(statement) == SQLITE_ROW
                              ? reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))
                              : "";
    sqlite3_finalize(statement);
    sqlite3_close(check);
    return version;
  };
  EXPECT_EQ(schema_version(), "1");  // reading changed nothing
  Store store(db);  // upgraded
  EXPECT_EQ(schema_version(), "2");
  const std::int64_t next = store.append(written);
  EXPECT_EQ(store.get(next)->measurements[0].root, 3);
  EXPECT_EQ(store.get(id)->measurements[0].root, -1);
}

TEST(ResultsStore, FourProcessesAppendingAtOnceLoseNothing) {
  TempDir dir;
  const fs::path db = dir.path / "results.db";
  constexpr int kWriters = 4, kRecords = 100;
  std::vector<pid_t> children;
  for (int writer = 0; writer < kWriters; ++writer) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // A separate process with its own connection, as four jobs on four nodes would be.
      int status = 0;
      try {
        Store store(db);
        for (int index = 0; index < kRecords; ++index) store.append(sample_record(writer, index));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", writer, e.what());
        status = 1;
      }
      _exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  Store store(db);
  ASSERT_EQ(store.count(), kWriters * kRecords);
  std::vector<std::vector<bool>> seen(kWriters, std::vector<bool>(kRecords, false));
  for (const Record& listed : store.list(kWriters * kRecords)) {
    const auto record = store.get(listed.id);
    ASSERT_TRUE(record.has_value());
    const int writer = record->environment.at("writer").get<int>();
    const int index = record->environment.at("index").get<int>();
    EXPECT_FALSE(seen[writer][index]);
    seen[writer][index] = true;
    // Whole: every measurement, each with this record's own samples.
    const Record expected = sample_record(writer, index);
    ASSERT_EQ(record->measurements.size(), expected.measurements.size());
    for (std::size_t m = 0; m < expected.measurements.size(); ++m) {
      EXPECT_EQ(record->measurements[m].samples_us, expected.measurements[m].samples_us);
    }
  }
}

TEST(ResultsStore, RefusesFilesThatAreNotItsDatabase) {
  TempDir dir;
  const fs::path garbage = dir.path / "garbage.db";
  {
    std::ofstream out(garbage);
    for (int i = 0; i < 1000; ++i) out << "this is not an SQLite database ";
  }
  const auto size = fs::file_size(garbage);
  try {
    Store store(garbage);
    FAIL() << "opened a garbage file";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a readable cctune results database"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::file_size(garbage), size);  // left as it was

  // A real database whose pages were damaged after the header.
  const fs::path damaged = dir.path / "damaged.db";
  {
    Store store(damaged);
    for (int i = 0; i < 20; ++i) store.append(sample_record(0, i));
  }
  fs::remove(dir.path / "damaged.db-wal");
  fs::remove(dir.path / "damaged.db-shm");
  {
    std::fstream file(damaged, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096 + 100);
    const std::string junk(8000, '\x5a');
    file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  bool refused = false;
  try {
    Store store(damaged);
    for (const Record& listed : store.list(100)) (void)store.get(listed.id);
  } catch (const UsageError& e) {
    refused = std::string(e.what()).find("not a readable cctune results database") != std::string::npos;
    if (!refused) ADD_FAILURE() << e.what();
  }
  EXPECT_TRUE(refused);
}


std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Another program's database, as it would make it: rollback journal, a table of its own.
void make_foreign_database(const fs::path& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* sql = "CREATE TABLE users(name TEXT); INSERT INTO users VALUES('ada');";
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

// A log of one table: its record.
ImportedLog only_table(const std::string& log, const std::string& name) {
  std::vector<ImportedLog> tables = records_from_nccl_tests_log(log, name, std::nullopt);
  EXPECT_EQ(tables.size(), 1u);
  return tables.empty() ? ImportedLog{} : tables.front();
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no UsageError)";
}

TEST(ResultsStore, ForeignDatabaseIsRefusedUntouchedByReadersAndWriters_Item13) {
  TempDir dir;
  const fs::path foreign = dir.path / "app.db";
  make_foreign_database(foreign);
  const std::string before = bytes_of(foreign);
  for (const Access access : {Access::read, Access::write}) {
    const std::string message = error_of([&] {
      Store store(foreign, access);
      (void)store.list();
    });
    EXPECT_NE(message.find("not a cctune results database"), std::string::npos) << message;
    EXPECT_NE(message.find("users"), std::string::npos) << message;
  }
  EXPECT_EQ(bytes_of(foreign), before);  // no tables added, still in rollback-journal mode
  EXPECT_FALSE(fs::exists(dir.path / "app.db-wal"));
  EXPECT_FALSE(fs::exists(dir.path / "app.db-shm"));
}

TEST(ResultsStore, ReadersCreateNothingAndOnlyANewOrEmptyFileGetsTheSchema_Item13) {
  TempDir dir;
  const fs::path missing = dir.path / "sub" / "missing.db";
  {
    Store store(missing, Access::read);
    EXPECT_TRUE(store.list().empty());
    EXPECT_FALSE(store.get(1).has_value());
    EXPECT_EQ(store.count(), 0);
  }
  EXPECT_FALSE(fs::exists(missing.parent_path()));
  const fs::path empty = dir.path / "empty.db";
  std::ofstream(empty).close();
  {
    Store store(empty, Access::read);
    EXPECT_TRUE(store.list().empty());
  }
  EXPECT_EQ(fs::file_size(empty), 0u);
  {
    Store store(empty, Access::write);
    store.append(sample_record(1, 1));
  }
  Store store(empty, Access::read);
  EXPECT_EQ(store.count(), 1);
  EXPECT_THROW(store.append(sample_record(1, 2)), Error);  // opened for reading
}

TEST(ResultsStore, RunRecordedAsItGoesIsIncompleteUntilItEnds_Item14) {
  TempDir dir;
  Store store(dir.path / "results.db");
  Record head = sample_record(2, 5);
  head.complete = true;  // ignored: a run that has just begun is not complete
  head.ended.clear();
  const std::vector<Measurement> rows = head.measurements;
  const std::int64_t id = store.begin_run(head);
  store.add_measurements(id, {rows[0], rows[1]});
  // A second reader, as `results show` would be while the run goes on, or after it was killed.
  Store reader(dir.path / "results.db", Access::read);
  auto seen = reader.get(id);
  ASSERT_TRUE(seen.has_value());
  EXPECT_FALSE(seen->complete);
  EXPECT_EQ(seen->measurements.size(), 2u);
  EXPECT_FALSE(reader.list().front().complete);
  store.add_error(id, "watchdog: allreduce ring 16384 B stuck");
  store.add_measurements(id, {rows[2]});
  seen = reader.get(id);
  EXPECT_EQ(seen->measurements.size(), 3u);
  EXPECT_EQ(seen->environment.at("errors"), nlohmann::json::array({"watchdog: allreduce ring 16384 B stuck"}));
  EXPECT_EQ(seen->environment.at("writer"), 2);
  store.finish_run(id, "2026-11-21T00:00:09Z");
  seen = reader.get(id);
  EXPECT_TRUE(seen->complete);
  EXPECT_EQ(seen->ended, "2026-11-21T00:00:09Z");
}

TEST(ResultsStore, UnreadableTimesAreLeftOutEverywhere_Item18) {
  Measurement good = sample_record(1, 1).measurements[0];
  EXPECT_EQ(unreadable(good), "");
  for (double bad : {0.0, -3.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    Measurement m = good;
    m.median_us = bad;
    EXPECT_NE(unreadable(m), "") << bad;
    m = good;
    m.samples_us.push_back(bad < 0 || !std::isfinite(bad) ? bad : -1);
    EXPECT_NE(unreadable(m), "") << bad;
  }
  // The store refuses to write one (a NaN would become NULL), and leaves out one that got in.
  TempDir dir;
  Store store(dir.path / "results.db");
  Record record = sample_record(1, 1);
  record.measurements[0].median_us = std::nan("");
  EXPECT_THROW(store.append(record), Error);
  record.measurements[0].median_us = 5;
  const std::int64_t id = store.append(record);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path / "results.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE measurements SET median_us = -1 WHERE bytes = 8", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const auto read = store.get(id);
  EXPECT_EQ(read->measurements.size(), record.measurements.size() - 1);
  EXPECT_EQ(read->skipped_rows, 1u);
  // Every reader (show, compare, report) says so in the same words, naming the record.
  EXPECT_EQ(skipped_note(*read), fmt::format("record {}: 1 unreadable row(s) left out", id));
  // Bench JSON: a row with a zero or negative time is left out and counted; nccl-tests' own -J has
  // only "time", which is then the median.
  const nlohmann::json bench = nlohmann::json::parse(R"({"config": {}, "results": [
    {"size": 8, "count": 2, "collective": "allreduce", "out_of_place": {"median_us": 0, "times_us": [1]},
     "in_place": {"median_us": -2}},
    {"size": 16, "count": 4, "collective": "allreduce", "out_of_place": {"time": 3.5}}]})");
  const Record imported = record_from_bench_json(bench, "b.json");
  ASSERT_EQ(imported.measurements.size(), 1u);
  EXPECT_EQ(imported.measurements[0].median_us, 3.5);
  EXPECT_EQ(imported.skipped_rows, 2u);
  Record from_file = imported;
  from_file.source = "b.json";  // what load_record_file sets
  EXPECT_EQ(skipped_note(from_file), "b.json: 2 unreadable row(s) left out");
  EXPECT_EQ(skipped_note(Record{}), "");
  // nccl-tests text: zero, negative and NaN times are unreadable lines.
  const std::string log =
      "# Collective test starting: all_reduce_perf\n"
      "           8             2     float     sum      -1     0.00    0.00    0.00      0     5.00    0.00    0.00      0\n"
      "          16             4     float     sum      -1    -4.00    0.00    0.00      0     5.00    0.00    0.00      0\n"
      "          32             8     float     sum      -1      nan    0.00    0.00      0     5.00    0.00    0.00      0\n"
      "          64            16     float     sum      -1     6.00    0.01    0.01      0     6.00    0.01    0.01      0\n";
  const ImportedLog parsed = only_table(log, "log.txt");
  EXPECT_EQ(parsed.record.measurements.size(), 2u);
  EXPECT_EQ(parsed.skipped_lines, 3u);
}

TEST(ResultsStore, IntegersFromFilesAndUsersAreRangeChecked_Item21) {
  const auto bench_with = [](const std::string& row) {
    return nlohmann::json::parse(R"({"config": {}, "results": [)" + row + "]}");
  };
  for (const auto& [row, expected] :
       {std::pair{R"({"size": -1, "collective": "allreduce", "out_of_place": {"time": 1}})",
                  "results[0].size: -1 is not a whole number from 0 to 9223372036854775807"},
        std::pair{R"({"size": 2.7, "collective": "allreduce", "out_of_place": {"time": 1}})", "results[0].size: 2.7"},
        std::pair{R"({"size": 1e300, "collective": "allreduce", "out_of_place": {"time": 1}})", "results[0].size: 1e+300"},
        std::pair{R"({"size": 8, "collective": "allreduce", "out_of_place": {"time": 1, "nwrong": 1e300}})",
                  "results[0].out_of_place.nwrong: 1e+300 is not a whole number from -1 to"},
        std::pair{R"({"size": "8", "collective": "allreduce", "out_of_place": {"time": 1}})",
                  "results[0].size: \"8\" is not a whole number"}}) {
    const std::string message = error_of([&] { record_from_bench_json(bench_with(row), "b.json"); });
    EXPECT_NE(message.find(std::string("b.json: ") + expected), std::string::npos) << message;
  }
  const nlohmann::json ranks = nlohmann::json::parse(R"({"config": {}, "env": {"nranks": 1e300}, "results": []})");
  EXPECT_NE(error_of([&] { record_from_bench_json(ranks, "b.json"); }).find("env.nranks: 1e+300"), std::string::npos);
  nlohmann::json record = record_to_json(sample_record(1, 1));
  record["version"] = 1e300;
  EXPECT_NE(error_of([&] { record_from_json(record, "r.json"); }).find("version: 1e+300"), std::string::npos);
  record["version"] = 1;
  record["nranks"] = 2.7;
  EXPECT_NE(error_of([&] { record_from_json(record, "r.json"); }).find("nranks: 2.7"), std::string::npos);
  // nccl-tests text: a #wrong that is not a whole count is an unreadable line, not INT64_MIN.
  const std::string log =
      "# Collective test starting: all_reduce_perf\n"
      "           8             2     float     sum      -1     5.00    0.00    0.00  1e300     5.00    0.00    0.00      0\n"
      "          16             4     float     sum      -1     5.00    0.00    0.00      0     5.00    0.00    0.00      0\n";
  const ImportedLog parsed = only_table(log, "log.txt");
  ASSERT_EQ(parsed.record.measurements.size(), 2u);
  EXPECT_EQ(parsed.record.measurements[0].bytes, 16u);
  EXPECT_EQ(parsed.skipped_lines, 1u);
  // Record ids as typed.
  EXPECT_EQ(parse_record_id("12"), 12);
  EXPECT_EQ(parse_record_id("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  for (const char* bad : {"99999999999999999999", "9223372036854775808", "0", "", "-1", "1e3"}) {
    const std::string message = error_of([&] { parse_record_id(bad); });
    EXPECT_NE(message.find(std::string("record id '") + bad + "': not a whole number from 1 to 9223372036854775807"),
              std::string::npos)
        << message;
  }
}

TEST(ResultsStore, AFiftyThousandCharacterLineIsReadWithoutRecursion_Item10) {
  // std::regex recursed once per character of such a line and overflowed the stack.
  const std::string row =
      "        1024           256     float     sum      -1    10.00    0.10    0.10      0    10.00    0.10    0.10      0\n";
  std::string log = "# Collective test starting: all_reduce_perf\n#  Rank  0 Group  0 Pid 1 on " +
                    std::string(50000, 'x') + " device\n" + "[1,0]<stdout>:" + std::string(50000, ' ') + "\n" +
                    "#  Rank  0 Group  0 Pid 1 on host-a device  0 [0x1b] cpu\n" + row + "2048 512 float sum " +
                    std::string(50000, '1') + "\n";
  const ImportedLog parsed = only_table(log, "long.txt");
  EXPECT_EQ(parsed.record.measurements.size(), 2u);
  EXPECT_EQ(parsed.record.nnodes, 1);          // the long "Rank" line was not read
  EXPECT_EQ(parsed.skipped_lines, 1u);         // the long row-shaped line was counted
}

TEST(ResultsStore, DeeplyNestedJsonIsRefusedInOneLine_Item10) {
  const std::string deep = "{\"config\": " + std::string(100000, '[') + std::string(100000, ']') + ", \"results\": []}";
  EXPECT_NE(error_of([&] { parse_json_text(deep, "deep.json"); }).find("deep.json: JSON nested more than 256"),
            std::string::npos);
  EXPECT_FALSE(parse_json_text(R"({"a": "[[[[[[[[[[[[[[[["})", "ok.json").is_discarded());
}

TEST(ResultsStore, FifosAndDevicesAreRefusedWithoutBlocking_Item7) {
  TempDir dir;
  const fs::path fifo = dir.path / "log.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo.string(), std::string("/dev/zero"), dir.path.string()}) {
    const std::string message = error_of([&] { load_record_file(path); });
    EXPECT_EQ(message.rfind(path + ": the results file: ", 0), 0u) << message;
  }
}

TEST(ResultsStore, PrintableReplacesEveryControlCharacter_Item22) {
  EXPECT_EQ(printable("\x1b]0;owned\x07ring\r\n\t\x7f"), "?]0;owned?ring????");
  EXPECT_EQ(printable("a\xc2\x9b" "31mb"), "a?31mb");  // C1 CSI, as UTF-8
  EXPECT_EQ(printable("\x9b\xff\xc0\xaf"), "????");      // not UTF-8 at all, an overlong '/'
  EXPECT_EQ(printable("busbw → 1.5 GB/s, µs, 日本"), "busbw → 1.5 GB/s, µs, 日本");
}

}  // namespace
}  // namespace cctune::results
