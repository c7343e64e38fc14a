// The acceptance spec's grammar and the node checks, on the real GPU servers in shared/fixtures.
#include <gtest/gtest.h>

#include <map>

#include "accept/node_checks.hpp"
#include "accept/spec.hpp"
#include "collectives/error.hpp"
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
            "s.yaml:3: collectives[0]: give exactly one of min_busbw and max_latency");
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

}  // namespace
}  // namespace cctune::accept
