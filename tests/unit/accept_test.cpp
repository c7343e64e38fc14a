// The acceptance spec's grammar and the node checks, on the real GPU servers in shared/fixtures.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "accept/node_checks.hpp"
#include "accept/spec.hpp"
#include "accept/verdicts.hpp"
#include "collectives/error.hpp"
#include "tests/unit/no_hang.hpp"
#include "tests/unit/temp_dir.hpp"
#include "topology/sources.hpp"

namespace cctune::accept {
namespace {

std::string fixture(const std::string& name) { return std::string(CCTUNE_FIXTURES_DIR) + "/" + name; }

std::string error_of(const std::string& text) {
  try {
    parse_spec(text, "s.yaml");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

TEST(AcceptSpec, ReadsTheDocumentedExamples) {
  const Spec cpu = read_spec(std::string(CCTUNE_SOURCE_DIR) + "/examples/accept-cpu.yaml");
  EXPECT_EQ(cpu.node.gpu_count, 0);
  ASSERT_EQ(cpu.collectives.size(), 3u);
  EXPECT_EQ(cpu.collectives[0].bytes, 1048576u);
  EXPECT_DOUBLE_EQ(*cpu.collectives[0].min_busbw_gbs, 0.2);
  EXPECT_DOUBLE_EQ(*cpu.collectives[1].max_latency_us, 2000);
  const Spec h100 = read_spec(std::string(CCTUNE_SOURCE_DIR) + "/examples/accept-h100-ib.yaml");
  EXPECT_EQ(h100.node.gpu_model, "H100");
  EXPECT_DOUBLE_EQ(*h100.node.nic_min_speed_gbps, 400);
  EXPECT_EQ(h100.collectives[0].bytes, 8ull << 30);
  EXPECT_EQ(h100.collectives[0].scope, Scope::node);
}

TEST(AcceptSpec, NamesTheKeyAndLineOfEveryMistake) {
  EXPECT_EQ(error_of("version: 1\nnode:\n  gpus: {count: 8}\n  nicks: {count: 8}\n"),
            "s.yaml:4: node.nicks: unknown key (known here: gpus, nics, gpu_nic_path, numa_nodes)");
  EXPECT_EQ(error_of("version: 1\ncollectives:\n  - {collective: allreduce, size: 1024, min_busbw: 5GB/s}\n"),
            "s.yaml:3: collectives[0].size: '1024' needs a unit (B, G, GiB, K, KiB, M, MiB)");
  EXPECT_EQ(error_of("version: 1\ncollectives:\n  - {collective: allreduce, size: 1MiB, min_busbw: 5}\n"),
            "s.yaml:3: collectives[0].min_busbw: '5' needs a unit (GB/s, MB/s, TB/s)");
  EXPECT_EQ(error_of("version: 1\nnode:\n  gpus: {count: -2}\n"), "s.yaml:3: node.gpus.count: -2 is impossible (at least 0)");
  EXPECT_EQ(error_of("version: 1\nnode:\n  gpus: {count: 0, model: H100}\n"),
            "s.yaml:3: node.gpus.model: a model for zero GPUs is impossible");
  EXPECT_EQ(error_of("version: 1\ncollectives:\n  - {collective: allreduce, size: 0B, max_latency: 1us}\n"),
            "s.yaml:3: collectives[0].size: '0B' must be above 0");
  EXPECT_EQ(error_of("version: 1\ncollectives:\n  - {collective: allreduce, size: 8B}\n"),
            "s.yaml:3: collectives[0]: give exactly one of min_busbw, min_sol_pct and max_latency");
  EXPECT_EQ(error_of("version: 1\ncollectives:\n  - {collective: allreduce, size: 8B, min_sol_pct: 80, max_latency: 1us}\n"),
            "s.yaml:3: collectives[0]: give exactly one of min_busbw, min_sol_pct and max_latency");
  EXPECT_EQ(error_of("version: 1\ncollectives:\n  - {collective: allreduce, size: 8B, min_sol_pct: 0}\n"),
            "s.yaml:3: collectives[0].min_sol_pct: a percentage above 0, at most 100");
  EXPECT_EQ(error_of("version: 1\ncollectives:\n  - {collective: allreduce, size: 8B, min_sol_pct: .nan}\n"),
            "s.yaml:3: collectives[0].min_sol_pct: a percentage above 0, at most 100");
  EXPECT_EQ(error_of("version: 2\n"), "s.yaml:1: version: must be 1 (this cctune reads version 1)");
  EXPECT_NE(error_of("version: 1\nnode: [unclosed\n").find("s.yaml:"), std::string::npos);
}

TEST(AcceptNode, AnNdH100v5PassesTheH100Spec) {
  const Spec spec = read_spec(std::string(CCTUNE_SOURCE_DIR) + "/examples/accept-h100-ib.yaml");
  const auto model = topology::load_nccl_xml(fixture("nccl-azure-ndv5-8xH100-8xIB.xml"));
  std::map<std::string, Verdict> by_check;
  for (const Verdict& v : check_node(spec.node, model, "nd-h100-v5")) {
    EXPECT_NE(v.status, Status::fail) << v.check << ": " << v.measured << " " << v.fault << " " << v.detail;
    by_check[v.check] = v;
  }
  EXPECT_EQ(by_check["gpu count"].status, Status::pass);
  EXPECT_EQ(by_check["rdma nic count"].status, Status::pass);
  EXPECT_EQ(by_check["gpu-nic path"].measured, "PIX");
  // An NCCL topology file names neither the GPU model nor the NICs' speed: those are skipped, not passed.
  EXPECT_EQ(by_check["gpu model"].fault, "GPU_MODEL_UNKNOWN");
  EXPECT_EQ(by_check["nic speed"].fault, "NIC_SPEED_UNKNOWN");
}

TEST(AcceptNode, ADgx2hFailsItWithStableFaultCodes) {
  const Spec spec = read_spec(std::string(CCTUNE_SOURCE_DIR) + "/examples/accept-h100-ib.yaml");
  const auto model = topology::load_hwloc_xml(fixture("hwloc-nvidia-dgx2h-16xV100-nvswitch.xml"));
  std::map<std::string, Verdict> by_check;
  for (const Verdict& v : check_node(spec.node, model, "dgx2h")) by_check[v.check] = v;
  EXPECT_EQ(by_check["gpu count"].fault, "GPU_COUNT");
  EXPECT_EQ(by_check["gpu count"].measured, "16");
  EXPECT_EQ(by_check["gpu model"].fault, "GPU_MODEL");
  EXPECT_EQ(by_check["numa nodes"].status, Status::pass);
}

TEST(AcceptNode, AG4dnFailsThePixRuleOnTheGpusFarFromItsEfa) {
  NodeSpec spec;
  spec.gpu_nic_path = "PIX";
  spec.nic_rdma = true;
  const auto model = topology::load_hwloc_xml(fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml"));
  const auto verdicts = check_node(spec, model, "g4dn");
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].fault, "GPU_NIC_PATH");
  EXPECT_EQ(verdicts[0].measured, "SYS");  // GPUs 0-3 sit on the other socket from the EFA
}

// A spec with nothing to check would accept any node; one that says a thing twice, or holds a second
// YAML document, would have part of it silently ignored (yaml-cpp keeps the first key and reads one
// document).
TEST(AcceptSpec, EmptySpecsDuplicateKeysAndExtraDocumentsAreRefused_Item15) {
  for (const char* nothing : {"version: 1\n", "version: 1\ncollectives: []\n",
                              "version: 1\nnode: {nics: {rdma: true}}\n", "version: 1\nnode: {}\nrun: {iterations: 5}\n"}) {
    EXPECT_NE(error_of(nothing).find("s.yaml: nothing to check"), std::string::npos) << nothing;
  }
  EXPECT_EQ(error_of("version: 1\nnode:\n  numa_nodes: 1\n  numa_nodes: 2\n"),
            "s.yaml:4: node.numa_nodes: duplicate key (first given at line 3)");
  EXPECT_EQ(error_of("version: 1\ncollectives:\n"
                     "  - {collective: allreduce, size: 1MiB, size: 2MiB, min_busbw: 1GB/s}\n"),
            "s.yaml:3: collectives[0].size: duplicate key (first given at line 3)");
  EXPECT_EQ(error_of("version: 1\nversion: 1\nnode: {numa_nodes: 1}\n"),
            "s.yaml:2: version: duplicate key (first given at line 1)");
  EXPECT_EQ(error_of("version: 1\nnode: {numa_nodes: 1}\n---\nversion: 1\nnode: {gpus: {count: 8}}\n"),
            "s.yaml:4: ---: 2 YAML documents; a spec is one");
  EXPECT_EQ(error_of("version: 1\nnode: {numa_nodes: 1}\n"), "no error");
}

// A YAML alias is the node it names reached again: ten levels of `&aN [*aN-1, ... x10]` in 500 bytes
// are 1e10 nodes to any walk of the tree (a "billion laughs"). A spec has no use for aliases: they are
// refused with their line, and a spec of more nodes than any real one has is refused too, both at once.
std::string laughs(int levels) {
  std::string text = "version: 1\nnode: {numa_nodes: 1}\nx0: &a0 [lol]\n";
  for (int level = 1; level <= levels; ++level) {
    std::string list;
    for (int i = 0; i < 10; ++i) list += (i ? ", *a" : "*a") + std::to_string(level - 1);
    text += "x" + std::to_string(level) + ": &a" + std::to_string(level) + " [" + list + "]\n";
  }
  return text;
}

TEST(AcceptSpec, AliasesAndOverlyLargeSpecsAreRefusedAtOnce_Item15) {
  EXPECT_LT(laughs(10).size(), 700u);
  EXPECT_EQ(no_hang::within(30, [] { return error_of(laughs(10)); }),
            "s.yaml:4: aliases (*a0) are not allowed in a spec; write the value out");
  EXPECT_EQ(error_of("version: 1\nnode: &n {numa_nodes: 1}\nrun: {iterations: 5}\nx: *n\n"),
            "s.yaml:4: aliases (*n) are not allowed in a spec; write the value out");
  // An anchor that nothing refers to repeats nothing: harmless, and the spec reads as written.
  EXPECT_EQ(error_of("version: 1\nnode: &n {numa_nodes: 1}\n"), "no error");
  std::string wide = "version: 1\nnode: {numa_nodes: 1}\nrun: {iterations: 5}\nx: [";
  for (int i = 0; i < 200000; ++i) wide += "1,";
  wide += "1]\n";
  EXPECT_EQ(no_hang::within(30, [&] { return error_of(wide); }),
            "s.yaml: spec too complex (more than 100000 YAML nodes; real specs have a few hundred)");
}

// Whole numbers are read as the numbers they are: never wrapped, rounded or read in another base.
TEST(AcceptSpec, WholeNumbersAreRangeChecked_Item21) {
  EXPECT_EQ(error_of("version: 1\nnode:\n  numa_nodes: 99999999999999999999\n"),
            "s.yaml:3: node.numa_nodes: 99999999999999999999 is out of range (1 to 4096)");
  EXPECT_EQ(error_of("version: 1\nnode:\n  gpus: {count: 2.7}\n"),
            "s.yaml:3: node.gpus.count: '2.7' is not a whole number (0 to 4096)");
  EXPECT_EQ(error_of("version: 1e300\nnode: {numa_nodes: 1}\n"),
            "s.yaml:1: version: '1e300' is not a whole number (0 to 1000)");
  EXPECT_EQ(error_of("version: 1\nnode: {numa_nodes: 1}\nrun: {iterations: 4294967297}\n"),
            "s.yaml:3: run.iterations: 4294967297 is out of range (1 to 100000000)");
}

// 3B is less than one float element and 1e30B more than 64 bits can count: both are spec errors
// found before anything runs (exit 2), never a node that fails with BUSBW_LOW.
TEST(AcceptSpec, SizesBelowOneElementOrPastWhatACallCountsAreSpecErrors_Item19) {
  auto runnable_error = [](const std::string& text, int nranks) {
    try {
      check_runnable(parse_spec(text, "s.yaml"), "s.yaml", 4, "float32", nranks);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string head = "version: 1\ncollectives:\n  - {collective: ";
  EXPECT_EQ(runnable_error(head + "allreduce, size: 3B, min_busbw: 1GB/s}\n", 0),
            "s.yaml:3: collectives[0].size: 3 B is smaller than one float32 element (4 B)");
  EXPECT_EQ(error_of(head + "allreduce, size: 1e30B, min_busbw: 1GB/s}\n"),
            "s.yaml:3: collectives[0].size: '1e30B' is 1e+30 bytes, more than 64 bits can count");
  const std::string huge = runnable_error(head + "allreduce, size: 16GiB, min_busbw: 1GB/s}\n", 0);
  EXPECT_NE(huge.find("s.yaml:3: collectives[0].size: 16 GiB is more than the 2147483647 float32 elements"),
            std::string::npos) << huge;
  EXPECT_EQ(huge.find("-e"), std::string::npos) << huge;  // accept has no -e option to suggest
  EXPECT_EQ(runnable_error(head + "alltoall, size: 8B, max_latency: 1ms}\n", 4),
            "s.yaml:3: collectives[0].size: alltoall of 8 B on 4 ranks is less than one float32 element (4 B) per "
            "rank; give at least 16 B");
  EXPECT_EQ(runnable_error(head + "alltoall, size: 16B, max_latency: 1ms}\n", 4), "no error");
}

// A FIFO would block the read forever and /dev/zero never ends: both are refused unread, in one line.
TEST(AcceptSpec, AFifoOrADeviceAsTheSpecIsRefusedUnread_Item7) {
  const test_files::TempDir temp("accept-item7");
  const std::filesystem::path& dir = temp.path();
  const std::string fifo = (dir / "spec.fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/zero"), dir.string()}) {
    try {
      read_spec(path);
      ADD_FAILURE() << path << " was read";
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path + ": the spec: ", 0), 0u) << e.what();
    }
  }
}

// The verdict files say passed only once every check of the spec has its verdict: not when the log
// is made (nothing is written then, so a refused run leaves an earlier run's files alone), not after
// start(), not after some verdicts; and until then the JUnit file carries a failure too.
TEST(VerdictLog, SaysPassedOnlyWhenEveryCheckRanAndPassed_Item15_Item12) {
  std::map<std::string, std::string> files;
  VerdictLog log("v.json", "v.xml", [&](const std::string& path, const std::string& text) { files[path] = text; });
  EXPECT_TRUE(files.empty());
  log.start();
  auto passed = [&] { return nlohmann::json::parse(files.at("v.json"))["passed"].get<bool>(); };
  EXPECT_FALSE(passed());
  EXPECT_NE(files.at("v.xml").find("INCOMPLETE"), std::string::npos);
  log.add({"node1", "gpu count", Status::pass, "", "0", "0", ""});
  EXPECT_FALSE(passed());
  EXPECT_FALSE(log.all_pass());
  log.begin("allocation", "allreduce 1 MiB busbw >= 1 GB/s");
  log.add({"allocation", "allreduce 1 MiB busbw >= 1 GB/s", Status::pass, "", "2 GB/s", ">= 1 GB/s", ""});
  EXPECT_FALSE(passed());
  log.finish();
  EXPECT_TRUE(passed());
  EXPECT_TRUE(log.all_pass());
  EXPECT_TRUE(nlohmann::json::parse(files.at("v.json"))["complete"].get<bool>());
  EXPECT_EQ(files.at("v.xml").find("INCOMPLETE"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(files.at("v.json"))["verdicts"].size(), 2u);
  EXPECT_FALSE(nlohmann::json::parse(files.at("v.json")).contains("isolation"));
}

// What isolation cost is on disk at once, beside the verdicts, for whoever sizes --budget.
TEST(VerdictLog, KeepsWhatIsolationTook) {
  std::map<std::string, std::string> files;
  VerdictLog log("v.json", "", [&](const std::string& path, const std::string& text) { files[path] = text; });
  log.start();
  log.add_isolation_cost({"allreduce 1 MiB busbw >= 1 GB/s", 3, 4, 6, 2.5});
  const auto cost = nlohmann::json::parse(files.at("v.json"))["isolation"];
  ASSERT_EQ(cost.size(), 1u);
  EXPECT_EQ(cost[0]["check"], "allreduce 1 MiB busbw >= 1 GB/s");
  EXPECT_EQ(cost[0]["rounds"], 3);
  EXPECT_EQ(cost[0]["planned_rounds"], 4);
  EXPECT_EQ(cost[0]["measurements"], 6);
  EXPECT_DOUBLE_EQ(cost[0]["seconds"].get<double>(), 2.5);
}

}  // namespace
}  // namespace cctune::accept

namespace cctune::accept {
namespace {

// A warning does not fail the run; the files say so and carry how often it was measured and its spread.
TEST(VerdictLog, AWarningPassesAndCarriesItsRepeatsAndSpread) {
  std::map<std::string, std::string> files;
  VerdictLog log("v.json", "v.xml", [&](const std::string& path, const std::string& text) { files[path] = text; });
  log.start();
  Verdict warned{"node1", "allreduce 1 MiB busbw >= 5 GB/s", Status::warn, "BUSBW_LOW", "4.9 GB/s", ">= 5 GB/s",
                 "3 measurements, spread 0.2 GB/s"};
  warned.repeats = 3;
  warned.spread = 0.2;
  log.add(warned);
  log.finish();
  EXPECT_TRUE(log.all_pass());
  const auto json = nlohmann::json::parse(files.at("v.json"));
  EXPECT_TRUE(json["passed"].get<bool>());
  EXPECT_EQ(json["verdicts"][0]["status"], "WARN");
  EXPECT_EQ(json["verdicts"][0]["repeats"], 3);
  EXPECT_DOUBLE_EQ(json["verdicts"][0]["spread"].get<double>(), 0.2);
  const std::string& xml = files.at("v.xml");
  EXPECT_NE(xml.find("failures=\"0\""), std::string::npos);
  EXPECT_EQ(xml.find("<failure"), std::string::npos);
  EXPECT_NE(xml.find("<property name=\"status\" value=\"WARN\""), std::string::npos);
  EXPECT_NE(xml.find("WARN BUSBW_LOW"), std::string::npos);
  EXPECT_EQ(drain_list(log.verdicts()), "");  // a warning is not drained
}

TEST(DrainList, OneLinePerNodeNamedWithItsFaultsNeverTheAllocation) {
  const std::vector<Verdict> verdicts = {
      {"node1", "gpu count", Status::pass, "", "8", "8", ""},
      {"node2", "gpu count", Status::fail, "GPU_COUNT", "7", "8", ""},
      {"node2", "allreduce 1 MiB busbw >= 5 GB/s", Status::fail, "BUSBW_LOW", "1.2 GB/s", ">= 5 GB/s", ""},
      {"node2", "gpu count again", Status::fail, "GPU_COUNT", "7", "8", ""},
      {"allocation", "allreduce 1 GiB busbw >= 40 GB/s", Status::fail, "BUSBW_LOW", "3 GB/s", ">= 40 GB/s", ""},
      {"rank 5 (node3)", "isolation: allreduce 1 GiB", Status::fail, "SLOW_RANK", "", "", "2.4x slower"},
      {"node4", "isolation: allreduce 1 GiB", Status::skip, "ISOLATION_BUDGET", "", "", ""},
      {"node5", "nic count", Status::fail, "", "1\t\"x\"", "8", ""},
  };
  EXPECT_EQ(drain_list(verdicts),
            "node2\tGPU_COUNT,BUSBW_LOW\tcctune accept GPU_COUNT,BUSBW_LOW: gpu count: 7 (expected 8)\n"
            "node3\tSLOW_RANK\tcctune accept SLOW_RANK: isolation: allreduce 1 GiB\n"
            "node5\tFAILED\tcctune accept FAILED: nic count: 1  x  (expected 8)\n");
  EXPECT_EQ(drain_list({verdicts[0], verdicts[4]}), "");  // a slow allocation alone names no node
}

}  // namespace
}  // namespace cctune::accept

namespace cctune::accept {
namespace {

// A hang the watchdog found: the check in progress fails, and so does each host it named, on that
// same check; the drain list then names those hosts (the job is aborted right after, so this is the
// only drain list it gets).
TEST(VerdictLog, AHangFailsTheCheckInProgressAndEachHostNamed) {
  std::map<std::string, std::string> files;
  VerdictLog log("v.json", "v.xml", [&](const std::string& path, const std::string& text) { files[path] = text; });
  log.start();
  log.add({"node1", "gpu count", Status::pass, "", "0", "0", ""});
  log.begin("allocation", "allreduce 1 MiB busbw >= 1 GB/s");
  log.fail_in_progress("RANK_HUNG", "watchdog: ... no answer from: 4 (node5)",
                       {Verdict{"node5", "", Status::pass, "", "no answer", "", "rank 4 did not answer"}});
  const auto json = nlohmann::json::parse(files.at("v.json"));
  ASSERT_EQ(json["verdicts"].size(), 3u);  // nothing left in progress: INTERRUPTED is gone
  EXPECT_EQ(json["verdicts"][1]["subject"], "allocation");
  EXPECT_EQ(json["verdicts"][1]["fault"], "RANK_HUNG");
  EXPECT_EQ(json["verdicts"][2]["subject"], "node5");
  EXPECT_EQ(json["verdicts"][2]["check"], "allreduce 1 MiB busbw >= 1 GB/s");
  EXPECT_EQ(json["verdicts"][2]["status"], "FAIL");
  EXPECT_EQ(json["verdicts"][2]["fault"], "RANK_HUNG");
  EXPECT_FALSE(json["passed"].get<bool>());
  EXPECT_EQ(files.at("v.xml").find("INTERRUPTED"), std::string::npos);
  EXPECT_EQ(drain_list(log.verdicts()),
            "node5\tRANK_HUNG\tcctune accept RANK_HUNG: allreduce 1 MiB busbw >= 1 GB/s: no answer\n");
}

// Between checks (the collectives that agree on what comes next) a hang still lands somewhere.
TEST(VerdictLog, AHangBetweenChecksFailsTheAllocation) {
  std::map<std::string, std::string> files;
  VerdictLog log("v.json", "", [&](const std::string& path, const std::string& text) { files[path] = text; });
  log.start();
  log.fail_in_progress("RANK_HUNG", "watchdog: starting: gathering host names ...", {});
  const auto json = nlohmann::json::parse(files.at("v.json"));
  ASSERT_EQ(json["verdicts"].size(), 1u);
  EXPECT_EQ(json["verdicts"][0]["subject"], "allocation");
  EXPECT_EQ(json["verdicts"][0]["check"], "between checks");
  EXPECT_EQ(drain_list(log.verdicts()), "");
}

}  // namespace
}  // namespace cctune::accept
