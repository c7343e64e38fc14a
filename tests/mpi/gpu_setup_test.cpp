// The cuda backend's set-up step on real ranks, through the MPI exchange cctune gives it: whatever this
// machine has (no GPU, fewer GPUs than ranks, a GPU per rank), either every rank makes the backend or
// every rank refuses with the same one line. A rank refusing alone would leave the others waiting in
// the exchange, and this test would hang instead of pass.
#include <gtest/gtest.h>
#include <mpi.h>

#include "collectives/backends.hpp"
#include "collectives/bootstrap.hpp"
#include "collectives/error.hpp"

namespace cctune {
namespace {

bool cuda_built() {
  for (const auto& entry : backend_registry()) {
    if (entry.name == "cuda") return true;
  }
  return false;
}

TEST(CudaBackendSetUp, EveryRankMakesItOrEveryRankRefusesWithTheSameLine) {
  if (!cuda_built()) GTEST_SKIP() << "this build has no cuda backend";
  std::string refusal;
  try {
    const auto backend = find_backend("cuda").create(MPI_COMM_WORLD, BackendSettings{});
  } catch (const UsageError& e) {
    refusal = e.what();
    if (refusal.empty()) refusal = "(an empty refusal)";
  }
  const Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
  const std::vector<std::string> lines = world.allgather(refusal);
  for (std::size_t r = 0; r < lines.size(); ++r) EXPECT_EQ(lines[r], lines.front()) << "rank " << r;
  EXPECT_EQ(refusal.find('\n'), std::string::npos) << refusal;
  if (!refusal.empty()) {
    EXPECT_NE(refusal.find("cuda backend"), std::string::npos) << refusal;
  }
}

}  // namespace
}  // namespace cctune
