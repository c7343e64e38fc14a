// The writers' files read back by their consumers: a JSON parser after every single row (a crash
// must leave a loadable file), and an nccl-tests-style line parser for the table.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "bench/json_writer.hpp"
#include "bench/text_writer.hpp"
#include "results/nccl_tests.hpp"
#include "collectives/error.hpp"
#include "tests/unit/temp_dir.hpp"

namespace cctune::bench {
namespace {

RunInfo sample_info() {
  RunInfo info;
  info.cctune_version = "0.1.0";
  info.git_revision = "abc";
  info.mpi_library = "Open MPI v4.1.4";
  info.start_time = "2026-11-21T00:00:00Z";
  info.nranks = 2;
  info.hosts = {"node1", "node1"};
  info.pids = {10, 11};
  info.ranks_per_node = {2};
  return info;
}

Row sample_row(std::uint64_t bytes) {
  Row row{Collective::allreduce, "mpi", "ring", shape_of(bytes, Collective::allreduce, DataType::float32, 2),
          DataType::float32, ReduceOp::sum, {}, {}};
  for (PlacementResult* p : {&row.out_of_place, &row.in_place}) {
    p->time_us = 12.5;
    p->algbw_gbs = 1.25;
    p->busbw_gbs = 1.25;
    p->wrong = 0;
    p->samples_us = {12, 13};
    p->slowest = summarize(p->samples_us);
  }
  return row;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(JsonWriter, FileIsValidJsonAfterEveryRow) {
  const test_files::TempDir dir("writer-json");
  const auto path = dir / "run.json";
  BenchOptions options;
  options.per_iteration = true;
  options.launch.blocking = Blocking::wait_and_meet;
  {
    JsonWriter writer(path.string());
    writer.begin(sample_info(), options);
    auto doc = nlohmann::json::parse(read_file(path));
    EXPECT_EQ(doc["results"].size(), 0u);
    EXPECT_FALSE(doc["cctune"]["complete"].get<bool>());
    writer.begin_table(Collective::allreduce, "ring");
    for (std::uint64_t bytes : {8u, 1024u, 1048576u}) {
      writer.row(sample_row(bytes));
      doc = nlohmann::json::parse(read_file(path));  // throws if the file is not complete JSON
      EXPECT_EQ(doc["results"].back()["size"], bytes);
      EXPECT_TRUE(doc["end_time"].is_null());
    }
    TableTotals totals;
    writer.end_table(totals);
    writer.end(totals);
  }
  const auto doc = nlohmann::ordered_json::parse(read_file(path));
  EXPECT_TRUE(doc["cctune"]["complete"].get<bool>());
  // nccl-tests' schema version 3: its keys in its order, its types (booleans as strings).
  std::vector<std::string> keys;
  for (const auto& item : doc.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"version", "start_time", "args", "env", "nccl_version", "config", "results",
                                            "out_of_bounds", "average_bus_bandwidth", "errors", "end_time", "cctune"}));
  EXPECT_EQ(doc["version"], 3);
  EXPECT_TRUE(doc["args"].is_array());
  EXPECT_TRUE(doc["env"].is_array());
  EXPECT_TRUE(doc["nccl_version"].is_number_integer());
  EXPECT_EQ(doc["config"]["per_iter_timing"], "true");
  EXPECT_EQ(doc["config"]["blocking_collectives"], "true");  // -z 1
  EXPECT_EQ(doc["config"]["graph"], 0);
  EXPECT_EQ(doc["config"]["devices"].size(), 2u);
  EXPECT_EQ(doc["config"]["devices"][1]["hostname"], "node1");
  EXPECT_EQ(doc["out_of_bounds"]["okay"], "true");
  EXPECT_EQ(doc["errors"], nlohmann::ordered_json::array({""}));
  ASSERT_EQ(doc["results"].size(), 3u);
  const auto& row = doc["results"][1];
  keys.clear();
  for (const auto& item : row.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"size", "count", "type", "redop", "root", "out_of_place",
                                            "out_of_place_per_iter", "in_place", "in_place_per_iter",
                                            "actual_iterations", "experiment_name", "cctune"}));
  EXPECT_EQ(row["root"], "    -1");
  EXPECT_EQ(row["out_of_place"]["nwrong"], 0.0);
  EXPECT_EQ(row["out_of_place_per_iter"]["times_us"], (std::vector<double>{12, 13}));
  EXPECT_EQ(row["out_of_place_per_iter"]["min_us"], 12.0);
  // ... and ours under "cctune".
  EXPECT_EQ(row["cctune"]["algorithm"], "ring");
  EXPECT_EQ(row["cctune"]["out_of_place"]["median_us"], 12.5);
  EXPECT_EQ(doc["cctune"]["ranks_per_node"][0], 2);
  EXPECT_EQ(doc["cctune"]["mpi_library"], "Open MPI v4.1.4");
}

TEST(JsonWriter, NeverOverwritesAndWritesOnlyToDotJson) {
  const test_files::TempDir dir("writer-names");
  const auto path = dir / "run.json";
  std::ofstream(path) << "{\"kept\": true}";
  std::ofstream(dir / "run.json.0") << "{}";
  {
    JsonWriter writer(path.string());
    writer.begin(sample_info(), BenchOptions{});
    EXPECT_EQ(writer.path(), path.string() + ".1");  // as nccl-tests: FILE, FILE.0, FILE.1, ...
  }
  EXPECT_EQ(read_file(path), "{\"kept\": true}");
  EXPECT_TRUE(nlohmann::json::parse(read_file(path.string() + ".1")).contains("results"));
  EXPECT_THROW(JsonWriter((dir / "run.txt").string()), UsageError);
  EXPECT_NO_THROW(JsonWriter((dir / "RUN.JSON").string()));
}

TEST(JsonWriter, UnwritablePathIsAUsageError) {
  EXPECT_THROW(JsonWriter("/nonexistent-dir/out.json"), UsageError);
}

// A check that refuses the run after the writer exists (the results database) must find the file of
// the run before as it was: the writer writes nothing until begin().
TEST(JsonWriter, ConstructionLeavesAnExistingFileUntouched_Item12) {
  const test_files::TempDir dir("writer-item12");
  const auto path = dir / "previous.json";
  std::ofstream(path) << "{\"kept\": true}";
  {
    JsonWriter writer(path.string());
  }
  EXPECT_EQ(read_file(path), "{\"kept\": true}");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 1);
}

// A write that fails (here: a file size limit, as good as a full disk for the writer, and one that holds
// for root too) leaves the last complete version in place, leaves no temporary file beside it in the
// folder where the write was tried and failed, and is reported, not thrown: the sweep goes on and the
// command exits non-zero at the end.
TEST(JsonWriter, AFailedWriteKeepsTheLastCompleteVersionAndLeavesNoTemporary_Item11_Item16) {
  const test_files::TempDir dir("writer-item11");
  const auto path = dir / "run.json";
  BenchOptions options;
  JsonWriter writer(path.string());
  writer.begin(sample_info(), options);
  writer.begin_table(Collective::allreduce, "ring");
  writer.row(sample_row(8));
  EXPECT_FALSE(writer.failure().has_value());
  const std::string complete = read_file(path);
  {
    // Past the limit write() fails with EFBIG (SIGXFSZ ignored), after the temporary file was made.
    rlimit before{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
    const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    rlimit small = before;
    small.rlim_cur = 16;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    writer.row(sample_row(1024));
    ::setrlimit(RLIMIT_FSIZE, &before);
    ::signal(SIGXFSZ, old_handler);
  }
  ASSERT_TRUE(writer.failure().has_value());
  EXPECT_NE(writer.failure()->find(path.string()), std::string::npos) << *writer.failure();
  writer.row(sample_row(4096));  // no further attempt, no throw
  TableTotals totals;
  writer.end(totals);
  EXPECT_EQ(read_file(path), complete);
  const auto doc = nlohmann::json::parse(read_file(path));
  ASSERT_EQ(doc["results"].size(), 1u);
  EXPECT_EQ(doc["results"][0]["size"], 8);
  EXPECT_FALSE(doc["cctune"]["complete"].get<bool>());
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) left.push_back(entry.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"run.json"});
}

std::string text_of(const BenchOptions& options, const std::vector<Row>& rows, Collective collective,
                    const RunInfo& info = sample_info()) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  {
    TextWriter writer(out);
    writer.begin(info, options);
    writer.begin_table(collective, "ring");
    TableTotals totals;
    for (const Row& row : rows) {
      writer.row(row);
      totals.add(row);
    }
    writer.end_table(totals);
  }
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(TextWriter, WritesNcclTestsLayoutByteForByte) {
  const std::string text = text_of(BenchOptions{}, {sample_row(1048576)}, Collective::allreduce);
  const std::vector<std::string> lines = lines_of(text);
  // nccl-tests 2.19.6's header, as util.cu renders it (../shared/notes/nccl-tests-formats.md), trailing
  // blanks included: parsers that cut by column find theirs.
  const std::vector<std::string> header{
      "#",
      "#                                                              out-of-place                       in-place          ",
      "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong",
      "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  (GB/s)       "};
  // Ours, %SOL, comes after nccl-tests' columns, which stay where they are.
  const std::vector<std::string> ours{"", "", "    %SOL ", "      (%) "};
  const auto at = std::search(lines.begin(), lines.end(), header.begin(), header.begin() + 2);
  ASSERT_NE(at, lines.end()) << text;
  for (std::size_t i = 1; i < header.size(); ++i) {
    EXPECT_EQ(*(at + static_cast<long>(i)), header[i] + ours[i]) << text;
  }
  const std::string row = (at + 4)->substr(0, 118);
  // A row is nccl-tests' 118 characters, its 13 fields ending at nccl-tests' columns, then %SOL.
  EXPECT_EQ(*(at + 4), row + "     N/A") << *(at + 4);
  constexpr std::size_t kEnds[] = {12, 26, 36, 44, 52, 61, 69, 77, 85, 94, 102, 110, 118};
  for (std::size_t end : kEnds) {
    EXPECT_NE(row[end - 1], ' ') << row << " column " << end;
    if (end < row.size()) {
      EXPECT_EQ(row[end], ' ') << row << " column " << end;
    }
  }
  EXPECT_EQ(row, "     1048576        262144     float     sum      -1    12.50    1.25    1.25       0    12.50    1.25    "
                 "1.25       0");
  EXPECT_NE(text.find("# nccl-tests version 2.19.6 nccl-headers=0 nccl-library=0\n"
                      "# Collective test starting: all_reduce_perf (cctune backend mpi algorithm ring)\n"
                      "# nThread 1 nGpus 1 minBytes 8 maxBytes 67108864 step: 2(factor) warmup iters: 5 iters: 20 agg "
                      "iters: 1 validation: 1 graph: 0 unalign: 0\n#\n# Using devices\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 1.25 \n#\n"
                      "# Collective test concluded: all_reduce_perf\n#\n\n"),
            std::string::npos)
      << text;
}

TEST(TextWriter, LaunchOptionsAreStatedInTheHeaderAsNcclTestsStatesThem) {
  // A device backend's run: its ranks name their devices.
  RunInfo device = sample_info();
  device.devices = {"0 [0000:1b:00.0] NVIDIA H200", "1 [0000:43:00.0] NVIDIA H200"};
  BenchOptions options;
  options.backend = "nccl";
  options.launch.graph_launches = 3;
  options.launch.blocking = Blocking::wait;
  const std::string text = text_of(options, {sample_row(1048576)}, Collective::allreduce, device);
  EXPECT_NE(text.find(" agg iters: 1 validation: 1 graph: 3 unalign: 0\n# Blocking Enabled: wait after each inner "
                      "iteration (-m), no barrier \n#\n# Using devices\n"),
            std::string::npos)
      << text;
  options.launch.graph_launches = 0;
  options.launch.blocking = Blocking::wait_then_meet_untimed;
  options.per_iteration = true;
  const std::string three = text_of(options, {sample_row(1048576)}, Collective::allreduce, device);
  EXPECT_NE(three.find("# Blocking Enabled: wait and barrier after each outer iteration (-n); time excludes barrier "
                       "\n# Per-Iteration Report: host timing; "),
            std::string::npos)
      << three;
  // Queued back to back, each iteration is timed between two events on the stream.
  options.launch.blocking = Blocking::none;
  const std::string events = text_of(options, {sample_row(1048576)}, Collective::allreduce, device);
  EXPECT_NE(events.find("\n# Per-Iteration Report: CUDA event timing; "), std::string::npos) << events;
  EXPECT_EQ(events.find("# Blocking Enabled"), std::string::npos) << events;
  options.launch.host_time = true;  // -C 1: the host's time to issue them
  EXPECT_NE(text_of(options, {sample_row(1048576)}, Collective::allreduce, device)
                .find("\n# Per-Iteration Report: host timing; "),
            std::string::npos);
}

TEST(TextWriter, OnAHostBackendMinusZClaimsNoBarrierAndPerIterationTimesAreTheHosts) {
  // mpi's calls have completed when they return: every -z mode times the same, with no barrier.
  BenchOptions options;
  options.launch.blocking = Blocking::wait_and_meet;
  options.per_iteration = true;
  const std::string text = text_of(options, {sample_row(1048576)}, Collective::allreduce);
  EXPECT_EQ(text.find("# Blocking Enabled"), std::string::npos) << text;
  EXPECT_NE(text.find("\n# Per-Iteration Report: host timing; "), std::string::npos) << text;
  options.launch.blocking = Blocking::none;
  EXPECT_NE(text_of(options, {sample_row(1048576)}, Collective::allreduce).find("\n# Per-Iteration Report: host timing; "),
            std::string::npos);
}

TEST(TextWriter, WideValuesNeverOverflowTheirColumnAndStatsOnlyWhenAsked) {
  Row wide = sample_row(8589934592ull);
  wide.out_of_place.time_us = 105854.4;  // nccl-tests' getFloatStr: "105854"
  wide.out_of_place.algbw_gbs = 1234.567;  // "1234.6"
  wide.out_of_place.wrong = 2000000;       // "%6g": "2e+06"
  const std::string row = lines_of(text_of(BenchOptions{}, {wide}, Collective::allreduce)).at(12);
  EXPECT_EQ(row.size(), 118u + 8) << row;  // and %SOL
  EXPECT_NE(row.find("   105854  1234.6"), std::string::npos) << row;
  EXPECT_NE(row.find("   2e+06"), std::string::npos) << row;
  BenchOptions stats;
  stats.stats = true;
  const std::string with = text_of(stats, {sample_row(1048576)}, Collective::allreduce);
  EXPECT_NE(with.find("1.25       0     12.00     12.50     13.00     N/A\n"), std::string::npos) << with;
  EXPECT_NE(with.find("#wrong       min    median       p99    %SOL \n"), std::string::npos) << with;
}

TEST(TextWriter, DevicesArePrintedAndWrittenAsNcclTestsDoes) {
  const auto d = parse_device_description("1 [0000:1B:00.0] NVIDIA H200");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->ordinal, 1);
  EXPECT_EQ(d->bus, "0000:1b:00");
  EXPECT_EQ(d->name, "NVIDIA H200");
  EXPECT_FALSE(parse_device_description("cpu").has_value());
  RunInfo info = sample_info();
  info.devices = {"0 [0000:19:00.0] NVIDIA H200", "1 [0000:3B:00.0] NVIDIA H200"};
  const nlohmann::ordered_json head = JsonWriter::head_to_json(info, BenchOptions{});
  EXPECT_EQ(head["config"]["devices"][1]["device"], 1);
  EXPECT_EQ(head["config"]["devices"][1]["device_hex"], "0000:3b:00");
  EXPECT_EQ(head["config"]["devices"][1]["device_info"], "NVIDIA H200");
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  {
    TextWriter writer(out);
    writer.begin(info, BenchOptions{});
    writer.begin_table(Collective::allreduce, "nccl");
  }
  std::fclose(out);
  const std::string text(buffer, size);
  std::free(buffer);
  EXPECT_NE(text.find("#  Rank  1 Group  0 Pid     11 on      node1 device  1 [0000:3b:00] NVIDIA H200\n"),
            std::string::npos)
      << text;
}

TEST(TextWriter, SolColumnGradesOutOfPlaceBusbwAgainstTheRunsBound) {
  RunInfo info = sample_info();
  info.sol = {2.5, 0, {"inside a node: test"}};
  Row row = sample_row(1048576);
  row.out_of_place.busbw_gbs = 2.0;  // 80% of 2.5
  const std::string text = text_of(BenchOptions{}, {row}, Collective::allreduce, info);
  EXPECT_NE(text.find("    2.00       0    12.50    1.25    1.25       0   80.00\n"), std::string::npos) << text;
  // The bound is kept per collective: alltoall's is unknown here.
  row.collective = Collective::alltoall;
  EXPECT_NE(text_of(BenchOptions{}, {row}, Collective::alltoall, info).find("     N/A     N/A\n"), std::string::npos);
  const auto j = JsonWriter::row_to_json(sample_row(1048576), BenchOptions{}, info.sol);
  EXPECT_DOUBLE_EQ(j["cctune"]["out_of_place"]["sol_pct"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(j["cctune"]["in_place"]["sol_pct"].get<double>(), 50.0);
  EXPECT_TRUE(JsonWriter::row_to_json(sample_row(8), BenchOptions{})["cctune"]["in_place"]["sol_pct"].is_null());
  // Our importer reads the table with the column (and takes nothing from it).
  const auto records = results::records_from_nccl_tests_log(text, "t.log", std::nullopt);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].skipped_lines, 0u);
  EXPECT_EQ(records[0].record.measurements.size(), 2u);
}

TEST(TextWriter, AlltoallRowsCountPerPeerAndLeaveInPlaceUnchecked) {
  Row row = sample_row(1048576);
  row.collective = Collective::alltoall;
  row.shape.count_per_call = row.shape.count / 4;
  const std::string text = text_of(BenchOptions{}, {row}, Collective::alltoall);
  EXPECT_NE(text.find("     1048576         65536     float    none      -1    12.50    1.25    1.25       0    12.50    "
                      "1.25    1.25     N/A     N/A\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# Collective test concluded: alltoall_perf\n"), std::string::npos) << text;
}

TEST(TextWriter, ItsOutputWithEveryOptionalColumnImportsBack) {
  BenchOptions options;
  options.stats = true;
  options.per_iteration = true;
  options.timestamps = true;
  options.launch.host_time = true;
  const std::string text = text_of(options, {sample_row(1048576), sample_row(2097152)}, Collective::allreduce);
  const auto records = results::records_from_nccl_tests_log(text, "ours.txt", std::nullopt);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].skipped_lines, 0u) << text;
  const results::Record& record = records[0].record;
  ASSERT_EQ(record.measurements.size(), 4u) << text;
  EXPECT_EQ(record.measurements[0].median_us, 12.5);  // ours, from --stats
  EXPECT_EQ(record.measurements[0].p99_us, 13.0);
  EXPECT_EQ(record.environment["time_statistic"], "cputime");
}

TEST(TextWriter, ItsOutputImportsBackAsTheSameRecord) {
  const std::string text = text_of(BenchOptions{}, {sample_row(1048576), sample_row(2097152)}, Collective::allreduce);
  const auto records = results::records_from_nccl_tests_log(text, "ours.txt", std::nullopt);
  ASSERT_EQ(records.size(), 1u);
  const results::Record& record = records[0].record;
  EXPECT_EQ(records[0].skipped_lines, 0u);
  ASSERT_EQ(record.measurements.size(), 4u);
  EXPECT_EQ(record.measurements[0].collective, "allreduce");
  EXPECT_EQ(record.measurements[0].backend, "mpi");
  EXPECT_EQ(record.measurements[0].algorithm, "ring");
  EXPECT_EQ(record.measurements[2].bytes, 2097152u);
  EXPECT_EQ(record.measurements[0].busbw_gbs, 1.25);
  EXPECT_TRUE(record.complete);
}

TEST(TextWriter, TimePrecisionShrinksAsTimesGrow) {
  // nccl-tests 2.19.6's getFloatStr: two decimals while they fit the column, then fewer, then an exponent.
  EXPECT_EQ(float_field(12.345, 7), "  12.35");
  EXPECT_EQ(float_field(123.45, 7), " 123.45");
  EXPECT_EQ(float_field(12345.6, 7), "12345.6");
  EXPECT_EQ(float_field(1234567.0, 7), "1234567");
  EXPECT_EQ(float_field(12345678.9, 7), "1.2e+07");
}

}  // namespace
}  // namespace cctune::bench
