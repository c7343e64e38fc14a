// The speed of light from real exports (../shared/fixtures/topology): each bound checked against the
// formula in docs/topology.md, computed here from the hardware's data-sheet numbers.
#include <gtest/gtest.h>

#include <filesystem>

#include "collectives/error.hpp"
#include "topology/serialize.hpp"
#include "topology/sources.hpp"
#include "topology/speed_of_light.hpp"

namespace cctune::topology {
namespace {

std::string fixture(const std::string& name) {
  const std::string path = std::string(CCTUNE_FIXTURES_DIR) + "/" + name;
  if (!std::filesystem::exists(path)) ADD_FAILURE() << "fixture " << path << " not found";
  return path;
}

TEST(SpeedOfLight, Dgx2hIsSixNvlink2LinksPerGpuThroughTheSwitches) {
  const NodeModel model = load_hwloc_xml(fixture("hwloc-nvidia-dgx2h-16xV100-nvswitch.xml"));
  const SpeedOfLight sol = speed_of_light(model, {1, 16}, Medium::device, {});
  EXPECT_DOUBLE_EQ(sol.allreduce.intra_node_busbw_gbs, 6 * 25.0);
  EXPECT_DOUBLE_EQ(sol.alltoall.intra_node_busbw_gbs, 6 * 25.0);
  EXPECT_EQ(sol.allreduce.in_switch_busbw_gbs, 0);  // V100's NVSwitches do not reduce
  EXPECT_EQ(sol.allreduce.inter_node_busbw_gbs, 0);  // one node
  ASSERT_TRUE(sol.allreduce.latency_us.has_value());
  EXPECT_DOUBLE_EQ(*sol.allreduce.latency_us, 4 * 0.6);  // log2(16) NVLink hops
  EXPECT_DOUBLE_EQ(sol.hop_intra_us, 0.6);
  // The trimmed export has no NIC: between nodes is unknown, and said.
  const SpeedOfLight two = speed_of_light(model, {2, 16}, Medium::device, {});
  EXPECT_EQ(two.allreduce.inter_node_busbw_gbs, 0);
  EXPECT_DOUBLE_EQ(two.allreduce.busbw_gbs(), 150.0);
}

TEST(SpeedOfLight, NdH100v5NeedsItsGpuModelAndLinkRateAndThenGivesNvlsAndRails) {
  const NodeModel model = load_nccl_xml(fixture("nccl-azure-ndv5-8xH100-8xIB.xml"));
  // The file names no GPU and no NIC speed: PCIe Gen5 x16 inside, unknown between nodes.
  const SpeedOfLight bare = speed_of_light(model, {1000, 8}, Medium::device, {});
  EXPECT_NEAR(bare.allreduce.intra_node_busbw_gbs, 32.0 * 16 / 8 * 128 / 130, 1e-9);
  EXPECT_EQ(bare.allreduce.inter_node_busbw_gbs, 0);
  SolInputs inputs;
  inputs.gpu_model = "h100-sxm5";
  inputs.link_gbps = 400;
  const SpeedOfLight sol = speed_of_light(model, {1000, 8}, Medium::device, inputs);
  EXPECT_DOUBLE_EQ(sol.allreduce.intra_node_busbw_gbs, 450.0);
  EXPECT_DOUBLE_EQ(sol.allreduce.in_switch_busbw_gbs, 2 * 450.0 * 7 / 9);
  const double n = 8000, w = 8 * 50.0;
  EXPECT_DOUBLE_EQ(sol.allreduce.inter_node_busbw_gbs, w * 1000 / 999 * (n - 1) / n);
  EXPECT_DOUBLE_EQ(sol.alltoall.inter_node_busbw_gbs, w * (n - 1) / (8 * (n - 8)));
  // One GPU per node: one rail, 50 GB/s, the number others measure 46-48 against.
  const SpeedOfLight rail = speed_of_light(model, {2, 1}, Medium::device, inputs);
  EXPECT_DOUBLE_EQ(rail.allreduce.inter_node_busbw_gbs, 50.0);
  EXPECT_DOUBLE_EQ(rail.allreduce.busbw_gbs(), 50.0);
  EXPECT_THROW(gpu_model_named("H900"), UsageError);
}

TEST(SpeedOfLight, P4dSharesEachEfaBetweenTwoGpus) {
  const NodeModel model = load_nccl_xml(fixture("nccl-aws-p4d-24xl-8xA100-4xEFA.xml"));
  SolInputs inputs;
  inputs.link_gbps = 100;
  const SpeedOfLight sol = speed_of_light(model, {2, 8}, Medium::device, inputs);
  EXPECT_DOUBLE_EQ(sol.allreduce.intra_node_busbw_gbs, 12 * 25.0);  // A100 SXM4 by its device id
  const double w = 4 * 12.5, n = 16;  // 4 NICs, each counted once
  EXPECT_DOUBLE_EQ(sol.allreduce.inter_node_busbw_gbs, w * 2 / 1 * (n - 1) / n);
  // Two GPUs of eight: the two share one EFA.
  EXPECT_DOUBLE_EQ(speed_of_light(model, {2, 2}, Medium::device, inputs).allreduce.inter_node_busbw_gbs,
                   12.5 * 2 * 3 / 4);
}

TEST(SpeedOfLight, G4dnIsItsGpusPcieGen3Links) {
  const NodeModel model = load_hwloc_xml(fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml"));
  const SpeedOfLight sol = speed_of_light(model, {1, 8}, Medium::device, {});
  EXPECT_NEAR(sol.allreduce.intra_node_busbw_gbs, 15.753846, 1e-5);
  EXPECT_DOUBLE_EQ(sol.hop_intra_us, 1.0);  // a PCIe hop, which plan's latencies count
  SolInputs efa;
  efa.link_gbps = 100;
  const SpeedOfLight two = speed_of_light(model, {2, 8}, Medium::device, efa);
  EXPECT_DOUBLE_EQ(two.hop_inter_us, 2.7);
  EXPECT_DOUBLE_EQ(two.node_link_gbs, 12.5);  // one EFA shared by the eight GPUs
  EXPECT_DOUBLE_EQ(*two.allreduce.latency_us, 3 * 1.0 + 1 * 2.7);
}

TEST(SpeedOfLight, HostRunsAreBoundByMemoryInsideAndTheSharedNicBetween) {
  NodeModel model;
  Node nic{NodeKind::nic};
  nic.name = "eth0";
  nic.speed_gbps = 10;
  model.add(nic, 0);
  SolInputs inputs;
  inputs.memory_gbs = 10.0;
  const SpeedOfLight one = speed_of_light(model, {1, 2}, Medium::host, inputs);
  EXPECT_DOUBLE_EQ(one.allreduce.intra_node_busbw_gbs, 2 * 10.0 * 1 / 4);
  EXPECT_DOUBLE_EQ(one.alltoall.intra_node_busbw_gbs, 10.0 / 2);
  EXPECT_FALSE(one.allreduce.latency_us.has_value());
  const SpeedOfLight four = speed_of_light(model, {4, 2}, Medium::host, inputs);
  EXPECT_DOUBLE_EQ(four.allreduce.inter_node_busbw_gbs, 1.25 * 4 / 3 * 7 / 8);
  EXPECT_DOUBLE_EQ(four.alltoall.inter_node_busbw_gbs, 1.25 * 7 / (2 * 6));
  EXPECT_DOUBLE_EQ(four.allreduce.busbw_gbs(), four.allreduce.inter_node_busbw_gbs);  // the smaller
  inputs.link_gbps = 0.2;  // --link-gbps wins over the NIC's own speed
  EXPECT_DOUBLE_EQ(speed_of_light(model, {2, 1}, Medium::host, inputs).allreduce.busbw_gbs(), 0.025);
}

TEST(SpeedOfLight, ModelsKeepTheirLinkRatesThroughJson) {
  const NodeModel model = load_hwloc_xml(fixture("hwloc-nvidia-dgx2h-16xV100-nvswitch.xml"));
  const NodeModel back = model_from_json(to_json(model));
  EXPECT_EQ(fingerprint(back), fingerprint(model));
  EXPECT_DOUBLE_EQ(speed_of_light(back, {1, 16}, Medium::device, {}).allreduce.intra_node_busbw_gbs, 150.0);
  auto j = to_json(model);
  j["nvlinks"][0][2] = -1.0;
  EXPECT_THROW(model_from_json(j), Error);
}

}  // namespace
}  // namespace cctune::topology
