// nccl-tests' text logs of several runs: each table its own record, with its own collective (issue 17).
// The logs are made here from nccl-tests' printf formats (../shared/notes/nccl-tests-formats.md), not
// copied from anyone's output.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "collectives/error.hpp"
#include "results/compare.hpp"
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
    EXPECT_NE(std::string(e.what()).find("ib.log: no nccl-tests table rows found"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cctune::results
