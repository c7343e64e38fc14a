// The host-side logic of the GPU backends, which runs without a GPU: block planning, the algorithm and
// configuration tables, the launch parameters' size limit, and how a missing GPU is reported.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/error.hpp"
#include "collectives/gpu/runtime.hpp"
#if CCTUNE_HAVE_NCCL
#include "collectives/nccl/configurations.hpp"
#endif

namespace cctune {
namespace {

TEST(PlanBlocks, EnoughForTheWorkAndNeverMoreThanFitOrTheFlagsCover) {
  // 132 multiprocessors, 2 resident blocks each (an H100 or H200 at 512 threads and ~64 registers).
  EXPECT_EQ(cuda::plan_blocks(1, 1, 2, 132), 1);
  EXPECT_EQ(cuda::plan_blocks(0, 1, 2, 132), 1);  // an empty call still meets at its barriers
  EXPECT_EQ(cuda::plan_blocks(cuda::kThreads * 10, 1, 2, 132), 10);
  EXPECT_EQ(cuda::plan_blocks(cuda::kThreads * 10 + 1, 1, 2, 132), 11);
  EXPECT_EQ(cuda::plan_blocks(std::size_t{1} << 30, 1, 2, 132), cuda::kMaxBlocks);
  // Eight virtual ranks share one device: each may have only an eighth of what is resident.
  EXPECT_EQ(cuda::plan_blocks(std::size_t{1} << 30, 8, 2, 132), 2 * 132 / 8);
  // A kernel that fits nowhere still gets one block: the cooperative launch then reports the error.
  EXPECT_EQ(cuda::plan_blocks(std::size_t{1} << 30, 8, 0, 132), 1);
}

TEST(LaunchParams, FitTheKernelParameterLimit) {
  EXPECT_LE(sizeof(cuda::LaunchParams), 4096u);  // passed by value: 4 KiB is every CUDA version's limit
}

TEST(CudaRegistry, NamesAreUniquePerCollectiveAndUnknownOnesAreNamed) {
  std::set<std::pair<Collective, std::string>> seen;
  for (const auto& info : cuda::registry_infos()) {
    EXPECT_TRUE(seen.emplace(info.collective, std::string(info.name)).second) << info.name;
    EXPECT_FALSE(info.description.empty());
  }
  EXPECT_EQ(&cuda::find_algorithm(Collective::allreduce, "two_shot").info(), &cuda::registry()[1]->info());
  try {
    cuda::find_algorithm(Collective::alltoall, "two_shot");
    FAIL() << "two_shot is no alltoall";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("direct_write"), std::string::npos) << e.what();
  }
}

TEST(CudaKernels, ReduceTheHalfTypesAndFloat) {
  EXPECT_TRUE(cuda::kernels_reduce(DataType::float32));
  EXPECT_TRUE(cuda::kernels_reduce(DataType::bfloat16));
  EXPECT_TRUE(cuda::kernels_reduce(DataType::float16));
  EXPECT_FALSE(cuda::kernels_reduce(DataType::float64));
  EXPECT_FALSE(cuda::kernels_reduce(DataType::int32));
}

#if CCTUNE_HAVE_NCCL
TEST(NcclConfigurations, EveryCollectiveHasNcclsOwnChoiceAndForcedOnesNameAlgorithmAndProtocol) {
  std::set<std::pair<Collective, std::string>> seen;
  for (const auto& configuration : nccl::configurations()) {
    EXPECT_TRUE(seen.emplace(configuration.info.collective, std::string(configuration.info.name)).second);
    EXPECT_EQ(configuration.algo == nullptr, configuration.proto == nullptr) << configuration.info.name;
  }
  EXPECT_EQ(nccl::find_configuration(Collective::allreduce, "nccl").algo, nullptr);
  EXPECT_STREQ(nccl::find_configuration(Collective::allreduce, "ring_ll128").proto, "LL128");
  EXPECT_EQ(nccl::find_configuration(Collective::alltoall, "p2p_grouped").path, nccl::Path::grouped_p2p);
  EXPECT_THROW(nccl::find_configuration(Collective::alltoall, "ring_ll"), UsageError);
}
#endif

TEST(Devices, ANoGpuMachineSaysWhy) {
  std::string why;
  const int devices = gpu::usable_devices(&why);
  if (devices > 0) GTEST_SKIP() << devices << " GPU(s) here: nothing to report";
  EXPECT_FALSE(why.empty());
  try {
    gpu::device_for_local_rank(0);
    FAIL() << "no device, yet one was chosen";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no GPU"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cctune
