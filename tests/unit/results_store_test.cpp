// The results database as several jobs use it at once: records survive concurrent writers whole, and
// files that are not our database are refused with one message instead of being overwritten.
#include "results/store.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "collectives/error.hpp"

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
    m.median_us = static_cast<double>(writer * 1000 + index);
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
  }
  EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace cctune::results
