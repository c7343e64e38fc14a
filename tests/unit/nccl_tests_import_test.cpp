// nccl-tests' text logs of several runs: each table its own record, with its own collective (issue 17).
// The logs are made here from nccl-tests' printf formats (../shared/notes/nccl-tests-formats.md), not
// copied from anyone's output.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "collectives/error.hpp"
#include "results/compare.hpp"
#include "results/files.hpp"
#include "results/nccl_tests.hpp"

namespace cctune::results {
namespace {

// One run of a 2.19-style binary: prelude, header, `rows` rows from 8 B doubling, footer.
std::string run_of(const std::string& binary, const std::string& redop, int rows, double busbw,
                   const std::vector<std::string>& hosts, bool failed = false) {
  std::string text = "# nccl-tests version 2.19.6 nccl-headers=22809 nccl-library=22809\n";
  text += "# Collective test starting: " + binary + "\n";
  text += "# nThread 1 nGpus 1 minBytes 8 maxBytes 1024 step: 2(factor) warmup iters: 1 iters: 20 agg iters: 1 "
          "validation: 1 graph: 0 unalign: 0\n#\n# Using devices\n";
  for (std::size_t r = 0; r < hosts.size(); ++r) {
    text += fmt::format("#  Rank {:2d} Group  0 Pid {:6d} on {:>10} device  0 [0000:1b:00] NVIDIA H100 80GB HBM3\n",
                        r, 1000 + r, hosts[r]);
  }
  text += "#\n#                                                              out-of-place                       "
          "in-place          \n"
          "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   "
          "busbw  #wrong \n"
          "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  "
          "(GB/s)         \n";
  std::size_t bytes = 8;
  for (int i = 0; i < rows; ++i, bytes *= 2) {
    text += fmt::format("{:12d}  {:12d}  {:>8}  {:>6}  {:6d}  {:7.2f}  {:6.2f}  {:6.2f}  {:6d}  {:7.2f}  {:6.2f}  {:6.2f}  {:6d}\n",
                        bytes, bytes / 4, "float", redop, -1, 10.0 + i, busbw, busbw, failed ? 3 : 0, 10.0 + i, busbw,
                        busbw, 0);
    // NCCL's own chatter between rows, as a job with NCCL_DEBUG=INFO prints it.
    if (i == 1) text += "node1:1234:1300 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/IPC\n";
  }
  text += fmt::format("# Out of bounds values : {} {}\n# Avg bus bandwidth    : {:g} \n#\n# Collective test concluded: {}\n#\n\n",
                      failed ? 3 : 0, failed ? "FAILED" : "OK", busbw, binary);
  return text;
}

TEST(NcclTestsImport, EveryTableIsItsOwnRecordWithItsOwnCollective) {
  // Five binaries in one log: each row once got the first binary's collective (50 allreduce rows).
  const std::vector<std::string> hosts{"node1", "node2"};
  const std::string log = run_of("all_reduce_perf", "sum", 10, 5, hosts) + run_of("all_gather_perf", "none", 10, 6, hosts) +
                          run_of("alltoall_perf", "none", 10, 7, hosts) + run_of("reduce_scatter_perf", "sum", 10, 8, hosts) +
                          run_of("broadcast_perf", "none", 10, 9, hosts);
  const auto records = records_from_nccl_tests_log(log, "five.log", std::nullopt);
  ASSERT_EQ(records.size(), 5u);
  const std::vector<std::string> expected{"allreduce", "allgather", "alltoall", "reducescatter", "broadcast"};
  for (std::size_t k = 0; k < records.size(); ++k) {
    const Record& r = records[k].record;
    EXPECT_EQ(r.source, fmt::format("five.log [{} of 5]", k + 1));
    ASSERT_EQ(r.measurements.size(), 20u) << k;  // 10 rows, both placements
    for (const Measurement& m : r.measurements) EXPECT_EQ(m.collective, expected[k]) << k;
    EXPECT_DOUBLE_EQ(r.measurements.front().busbw_gbs, 5.0 + static_cast<double>(k));
    EXPECT_EQ(r.nranks, 2);
    EXPECT_EQ(r.nnodes, 2);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(records[k].skipped_lines, 0u);
  }
}

TEST(NcclTestsImport, RepeatedRunsOfTwoBinariesStaySeparateAndEachComparesEqualToItself) {
  // 9 allreduce and 6 allgather runs once became 120 allreduce rows, and compared with itself showed
  // regressions (rows of different runs under one key).
  std::string log;
  for (int i = 0; i < 9; ++i) log += run_of("all_reduce_perf", "sum", 4, 1.0 + i, {"a", "b"});
  for (int i = 0; i < 6; ++i) log += run_of("all_gather_perf", "none", 4, 20.0 + i, {"a", "b"});
  const auto records = records_from_nccl_tests_log(log, "many.log", std::nullopt);
  ASSERT_EQ(records.size(), 15u);
  for (std::size_t k = 0; k < records.size(); ++k) {
    const Record& r = records[k].record;
    ASSERT_EQ(r.measurements.size(), 8u);
    EXPECT_EQ(r.measurements.front().collective, k < 9 ? "allreduce" : "allgather");
    EXPECT_DOUBLE_EQ(r.measurements.front().busbw_gbs, k < 9 ? 1.0 + static_cast<double>(k) : 20.0 + static_cast<double>(k - 9));
    const CompareReport report = compare(r, r, CompareOptions{});
    EXPECT_FALSE(report.any_regression) << k;
    EXPECT_EQ(report.rows.size(), 8u);
    for (const Comparison& row : report.rows) EXPECT_EQ(row.verdict, Verdict::same) << k;
  }
}

TEST(NcclTestsImport, AFailedTableIsKeptWithItsWrongCounts) {
  const auto records = records_from_nccl_tests_log(
      run_of("all_reduce_perf", "sum", 3, 5, {"a"}) + run_of("all_reduce_perf", "sum", 3, 5, {"a"}, true), "f.log",
      std::nullopt);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].record.measurements[0].wrong, 3);
  EXPECT_EQ(records[0].record.measurements[0].wrong, 0);
}

TEST(NcclTestsImport, NamesComeFromAboveTheTableOrItsConcludedLineAndCollectiveOnlyWhereNoneIs) {
  const std::string row = "          8             2     float     sum      -1    10.00    0.00    0.00      0    10.00    0.00    0.00      0\n";
  const std::string header = "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong\n";
  // An old log: the command line above, no "starting" line.
  auto records = records_from_nccl_tests_log("$ mpirun -np 2 ./build/alltoall_perf -b 8 -e 8\n" + header + row, "a.log",
                                             std::nullopt);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].record.source, "a.log");
  EXPECT_EQ(records[0].record.measurements[0].collective, "alltoall");
  // Named only by its footer; a second table after it with "Running:" names its own.
  records = records_from_nccl_tests_log(header + row + "# Collective test concluded: reduce_scatter_perf\n" +
                                            "Running: /opt/nccl-tests/build/all_gather_perf -b 8\n" + header + row,
                                        "b.log", std::string("broadcast"));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].record.measurements[0].collective, "reducescatter");
  EXPECT_EQ(records[1].record.measurements[0].collective, "allgather");
  // Nothing names it: --collective, or one line saying to give it.
  records = records_from_nccl_tests_log(header + row, "c.log", std::string("allreduce"));
  EXPECT_EQ(records[0].record.measurements[0].collective, "allreduce");
  try {
    records_from_nccl_tests_log(header + row, "c.log", std::nullopt);
    ADD_FAILURE() << "a log that names no binary was read";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("c.log: the log does not name its binary"), std::string::npos) << e.what();
  }
}

TEST(NcclTestsImport, ARunThatFailedBeforeItsTableIsRefusedWithTheReasonInIt) {
  const std::string log = "# Collective test starting: all_reduce_perf\n"
                          "node1:1234:1234 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>\n"
                          "node1:1234:1234 [0] transport/net_ib.cc:123 NCCL WARN NET/IB : Got async event : port error\n"
                          "node1: Test NCCL failure common.cu:1005 'unhandled system error'\n";
  try {
    records_from_nccl_tests_log(log, "dead.log", std::nullopt);
    ADD_FAILURE() << "a log without a table was read";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dead.log: no nccl-tests table rows found; the log says: "), std::string::npos) << what;
    EXPECT_NE(what.find("NCCL WARN NET/IB : Got async event"), std::string::npos) << what;
  }
  // perftest's ib_write_bw rows also begin with two whole numbers: not nccl-tests output.
  try {
    records_from_nccl_tests_log(" #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]\n"
                                " 65536      5000             11745.28            11744.91              0.187919\n",
                                "ib.log", std::nullopt);
    ADD_FAILURE() << "perftest output was read";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("ib.log: not nccl-tests output"), std::string::npos) << e.what();
  }
}

TEST(NcclTestsImport, LabelsWholeTablesLostAndInheritedNamesAreHandled) {
  const std::string log = run_of("all_reduce_perf", "sum", 3, 5, {"a", "b"});
  // srun --label pads the task id: " 0: " once there are ten tasks or more.
  std::string labelled;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) labelled += " 0: " + line + "\n";
  auto records = records_from_nccl_tests_log(labelled, "label.log", std::nullopt);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].record.measurements.size(), 6u);
  EXPECT_EQ(records[0].skipped_lines, 0u);
  // A second table none of whose rows can be read is not stored, but its rows are counted.
  const std::string header = "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong\n";
  records = records_from_nccl_tests_log(log + "# Collective test starting: all_gather_perf\n" + header +
                                            "          8             2     float    none      -1    garbage\n",
                                        "lost.log", std::nullopt);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].skipped_lines, 1u);
  // A table whose prelude was cut takes the name before it, until its own "concluded" line says.
  const std::string row = "          8             2     float     sum      -1    10.00    0.00    0.00      0    10.00    0.00    0.00      0\n";
  records = records_from_nccl_tests_log(log + header + row + "# Collective test concluded: reduce_scatter_perf\n",
                                        "cut.log", std::nullopt);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].record.measurements[0].collective, "reducescatter");
}

// Every layout in tests/fixtures/nccl-tests (written by its make_fixtures.py from nccl-tests' printf
// formats) against what its .expected.json says an importer must read: every value, exactly.
const std::filesystem::path kFixtures = std::filesystem::path(CCTUNE_SOURCE_DIR) / "tests" / "fixtures" / "nccl-tests";

void expect_placement(const Measurement& m, const nlohmann::json& want, const std::string& where) {
  EXPECT_EQ(m.median_us, want["time"].get<double>()) << where;
  EXPECT_EQ(m.mean_us, want["time"].get<double>()) << where;
  EXPECT_EQ(m.algbw_gbs, want["algbw"].get<double>()) << where;
  EXPECT_EQ(m.busbw_gbs, want["busbw"].get<double>()) << where;
  EXPECT_EQ(m.wrong, want["wrong"].is_null() ? -1 : want["wrong"].get<std::int64_t>()) << where;
  // JSON: the per-iteration block's statistics and times.
  if (want.contains("min") && !want["min"].is_null()) {
    EXPECT_EQ(m.min_us, want["min"].get<double>()) << where;
  }
  if (want.contains("p99") && !want["p99"].is_null()) {
    EXPECT_EQ(m.p99_us, want["p99"].get<double>()) << where;
  }
  if (want.contains("samples") && !want["samples"].is_null()) {
    EXPECT_EQ(m.samples_us, want["samples"].get<std::vector<double>>()) << where;
  }
  if (want["error"].is_null()) {
    EXPECT_FALSE(m.max_error.has_value()) << where;
  } else {
    ASSERT_TRUE(m.max_error.has_value()) << where;
    EXPECT_EQ(*m.max_error, want["error"].get<double>()) << where;
  }
}

class Fixture : public testing::TestWithParam<std::string> {};

TEST_P(Fixture, ReadsEveryValueOfEveryTable) {
  const std::filesystem::path path = kFixtures / GetParam();
  std::ifstream expected_file(path.string() + ".expected.json");
  ASSERT_TRUE(expected_file) << path;
  const nlohmann::json expected = nlohmann::json::parse(expected_file);
  if (expected.contains("refused")) {
    try {
      load_record_files(path.string(), std::nullopt);
      ADD_FAILURE() << GetParam() << " was read";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(expected["refused"].get<std::string>()), std::string::npos) << e.what();
    }
    return;
  }
  std::optional<std::string> collective;
  if (expected.contains("collective_option")) {
    collective = expected["collective_option"].get<std::string>();
    // Without it, such a log is refused with what to give.
    EXPECT_THROW(load_record_files(path.string(), std::nullopt), UsageError);
  }
  const std::vector<LoadedFile> files = load_record_files(path.string(), collective);
  const nlohmann::json& tables = expected["tables"];
  ASSERT_EQ(files.size(), tables.size()) << GetParam();
  for (std::size_t t = 0; t < files.size(); ++t) {
    const Record& record = files[t].record;
    const nlohmann::json& table = tables[t];
    const std::string where = fmt::format("{} table {}", GetParam(), t + 1);
    // Placements an importer must leave out (a "nan" time in nccl-tests' JSON), each counted.
    std::size_t unreadable = 0, placements = 0;
    for (const auto& row : table["rows"]) {
      for (const char* key : {"out_of_place", "in_place"}) {
        if (row[key].is_string()) {
          ++unreadable;
        } else if (!row[key].is_null()) {
          ++placements;
        }
      }
    }
    EXPECT_EQ(files[t].skipped_lines, unreadable) << where;
    if (expected.contains("nccl_env")) {
      EXPECT_EQ(record.environment["nccl_env"], expected["nccl_env"]) << where;
    }
    EXPECT_EQ(record.kind, "nccl-tests") << where;
    EXPECT_EQ(record.complete, table["complete"].get<bool>()) << where;
    EXPECT_EQ(record.nranks, table["ranks"].get<int>()) << where;
    EXPECT_EQ(record.environment["hosts"], table["hosts"]) << where;
    const nlohmann::json& rows = table["rows"];
    ASSERT_EQ(record.measurements.size(), placements) << where;
    std::size_t next = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const nlohmann::json& row = rows[r];
      const std::string at = fmt::format("{} row {}", where, r + 1);
      for (const bool in_place : {false, true}) {
        if (!row[in_place ? "in_place" : "out_of_place"].is_object()) continue;
        const Measurement& m = record.measurements[next++];
        EXPECT_EQ(m.in_place, in_place) << at;
        EXPECT_EQ(m.collective, table["collective"].get<std::string>()) << at;
        EXPECT_EQ(m.bytes, row["size"].get<std::uint64_t>()) << at;
        EXPECT_EQ(m.count, row["count"].get<std::uint64_t>()) << at;
        EXPECT_EQ(m.datatype, row["type"].get<std::string>()) << at;
        const std::string redop = row["redop"].get<std::string>();
        EXPECT_EQ(m.op, redop.empty() ? "none" : redop) << at;
        EXPECT_EQ(m.root, row["root"].is_null() ? -1 : row["root"].get<int>()) << at;
        expect_placement(m, row[in_place ? "in_place" : "out_of_place"], at + (in_place ? " in" : " out"));
      }
    }
    // A record compares equal to itself: no row of another run under its keys.
    const CompareReport report = compare(record, record, CompareOptions{});
    EXPECT_FALSE(report.any_regression) << where;
  }
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kFixtures)) {
    const std::string name = entry.path().filename().string();
    if (std::filesystem::exists(entry.path().string() + ".expected.json")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(NcclTestsLayouts, Fixture, testing::ValuesIn(fixture_names()),
                         [](const testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(NcclTestsImport, EveryLayoutHasAFixture) {
  // A fixture folder that lost its files would make the parameterised test vanish, not fail.
  EXPECT_GE(fixture_names().size(), 11u);
}

}  // namespace
}  // namespace cctune::results
