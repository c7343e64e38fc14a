// What the GPU check decides and exchanges without a GPU: why it would not run (one line each), the
// refusal of a GPU no kernel image fits, and the cross-process PeerExchange of its two-process run,
// with real forked processes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "collectives/error.hpp"
#include "collectives/gpu/kernel_image.hpp"
#include "tests/gpu/gpu_environment.hpp"
#include "tests/gpu/process_peers.hpp"

namespace cctune::gpu_check {
namespace {

Environment with(int driver, int runtime, cudaError_t rc, int count) {
  Environment e;
  e.driver_version = driver;
  e.runtime_version = runtime;
  e.count_rc = rc;
  e.count = count;
  return e;
}

bool one_line(const std::string& text) { return !text.empty() && text.find('\n') == std::string::npos; }

TEST(GpuCheckEnvironment, NoDriverIsNoGpuHereNotAnOldDriver) {
  // What this machine answers: no libcuda.so.1, and the runtime says "insufficient driver".
  const Decision d = decide(with(0, 13000, cudaErrorInsufficientDriver, 0), "cudaErrorInsufficientDriver");
  EXPECT_EQ(d.verdict, Verdict::no_gpu);
  EXPECT_EQ(d.exit_code(), 77);
  EXPECT_TRUE(one_line(d.reason));
  EXPECT_NE(d.reason.find("no NVIDIA driver"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("13.0"), std::string::npos) << d.reason;
}

TEST(GpuCheckEnvironment, DriverOlderThanTheRuntimeNamesBothAndIsAFailure) {
  // A CUDA-13 build on a 550 driver (CUDA 12.4): not "no GPU", but the driver to upgrade.
  const Decision d = decide(with(12040, 13000, cudaErrorInsufficientDriver, 0), "x");
  EXPECT_EQ(d.verdict, Verdict::cannot_use);
  EXPECT_EQ(d.exit_code(), 1);
  EXPECT_TRUE(one_line(d.reason));
  EXPECT_NE(d.reason.find("CUDA 12.4"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("runtime 13.0"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("580"), std::string::npos) << d.reason;
  // Another major version is refused even where the runtime did not say so itself.
  EXPECT_EQ(decide(with(12080, 13000, cudaSuccess, 1), "").verdict, Verdict::cannot_use);
  // An older minor of the same major runs (CUDA's minor version compatibility).
  EXPECT_EQ(decide(with(13000, 13010, cudaSuccess, 1), "").verdict, Verdict::go);
}

TEST(GpuCheckEnvironment, NoDeviceIsNoGpuAndNamesCudaVisibleDevices) {
  Environment e = with(13000, 13000, cudaErrorNoDevice, 0);
  e.visible_devices_set = true;
  e.visible_devices = "";
  const Decision d = decide(e, "cudaErrorNoDevice");
  EXPECT_EQ(d.verdict, Verdict::no_gpu);
  EXPECT_EQ(d.exit_code(), 77);
  EXPECT_NE(d.reason.find("sees no GPU"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("CUDA_VISIBLE_DEVICES is \"\""), std::string::npos) << d.reason;
  EXPECT_EQ(decide(with(13000, 13000, cudaSuccess, 0), "").verdict, Verdict::no_gpu);
}

TEST(GpuCheckEnvironment, OtherRuntimeErrorsAreAFailureNamingTheError) {
  const Decision d = decide(with(13000, 13000, cudaErrorSystemDriverMismatch, 0),
                            "cudaErrorSystemDriverMismatch: system has unsupported display driver");
  EXPECT_EQ(d.verdict, Verdict::cannot_use);
  EXPECT_NE(d.reason.find("cudaErrorSystemDriverMismatch"), std::string::npos) << d.reason;
  EXPECT_EQ(decide(with(13000, 13000, cudaSuccess, 2), "").verdict, Verdict::go);
}

TEST(GpuCheckEnvironment, ADeviceItCannotUseIsNamed) {
  const Decision busy = decide_device(0, "NVIDIA H100 80GB HBM3", 9, 0, cudaErrorDevicesUnavailable,
                                      "cudaErrorDevicesUnavailable: CUDA-capable device(s) is/are busy", 75);
  EXPECT_EQ(busy.verdict, Verdict::cannot_use);
  EXPECT_TRUE(one_line(busy.reason));
  EXPECT_NE(busy.reason.find("GPU 0 (NVIDIA H100 80GB HBM3, sm_90)"), std::string::npos) << busy.reason;
  const Decision volta = decide_device(1, "Tesla V100-SXM2-32GB", 7, 0, cudaSuccess, "", 75);
  EXPECT_EQ(volta.verdict, Verdict::cannot_use);
  EXPECT_NE(volta.reason.find("Tesla V100-SXM2-32GB, sm_70"), std::string::npos) << volta.reason;
  EXPECT_NE(volta.reason.find("sm_75"), std::string::npos) << volta.reason;
  EXPECT_EQ(decide_device(0, "Tesla T4", 7, 5, cudaSuccess, "", 75).verdict, Verdict::go);
  // A T4 runs the data kernels (and so the nccl backend) but not the cuda backend's kernels.
  EXPECT_NE(cuda_backend_skip_reason(0, "Tesla T4", 7, 5).find("sm_80"), std::string::npos);
  EXPECT_EQ(cuda_backend_skip_reason(0, "NVIDIA A100-SXM4-80GB", 8, 0), "");
}

TEST(KernelImage, OldestRunnableIsTheLowestNumberOfTheList) {
  EXPECT_EQ(gpu::oldest_runnable("75-virtual,80-real,90-real,90-virtual"), 75);
  EXPECT_EQ(gpu::oldest_runnable("80-real 90-real 90-virtual"), 80);
  EXPECT_EQ(gpu::oldest_runnable("native"), 0);
}

TEST(KernelImage, TheRefusalNamesTheGpuAndWhatTheBuildHas) {
  const std::string line = gpu::no_kernel_image_message("data fill and check kernels", 3, "Tesla V100-SXM2-32GB", 7,
                                                         0, "75-virtual,80-real,90-real,90-virtual");
  EXPECT_TRUE(one_line(line));
  EXPECT_NE(line.find("GPU 3 (Tesla V100-SXM2-32GB, sm_70)"), std::string::npos) << line;
  EXPECT_NE(line.find("sm_75 and newer"), std::string::npos) << line;
  EXPECT_NE(line.find("75-virtual,80-real,90-real,90-virtual"), std::string::npos) << line;
  // Newer than the oldest but without an image (machine code of another major only): rebuild for it.
  const std::string other = gpu::no_kernel_image_message("kernels", 0, "NVIDIA B200", 10, 0, "80-real");
  EXPECT_NE(other.find("-DCMAKE_CUDA_ARCHITECTURES=100"), std::string::npos) << other;
}

// Each child checks what it received and exits 0 only when all of it is right.
int exchange_everything(int rank, int fd, int size) {
  ProcessPeers peers(fd, rank, size, 30);
  if (peers.rank() != rank || peers.size() != size || peers.local_rank() != rank || peers.local_size() != size) return 10;
  // allgather: rank order, several sizes, including none.
  for (std::size_t bytes : {std::size_t{0}, std::size_t{1}, std::size_t{64}, std::size_t{100000}}) {
    std::vector<unsigned char> mine(bytes), all(bytes * static_cast<std::size_t>(size), 0xee);
    for (std::size_t i = 0; i < bytes; ++i) mine[i] = static_cast<unsigned char>(rank * 31 + i);
    peers.allgather(mine.data(), all.data(), bytes);
    for (int r = 0; r < size; ++r) {
      for (std::size_t i = 0; i < bytes; ++i) {
        if (all[static_cast<std::size_t>(r) * bytes + i] != static_cast<unsigned char>(r * 31 + i)) return 11;
      }
    }
  }
  // broadcast from every root (NCCL's unique id is 128 bytes).
  for (int root = 0; root < size; ++root) {
    std::vector<unsigned char> id(128, static_cast<unsigned char>(rank == root ? root + 1 : 0));
    peers.broadcast(id.data(), id.size(), root);
    for (unsigned char b : id) {
      if (b != root + 1) return 12;
    }
  }
  // any: true everywhere when one rank says true, false when none does.
  if (peers.any(rank == size - 1) != true) return 13;
  if (peers.any(false) != false) return 14;
  return 0;
}

TEST(ProcessPeers, TwoAndThreeProcessesExchangeEverything) {
  for (int size : {2, 3}) {
    const RunOutcome outcome = run_ranks(size, 60, [size](int rank, int fd) { return exchange_everything(rank, fd, size); });
    EXPECT_EQ(outcome.hub_error, "") << size << " ranks";
    ASSERT_EQ(outcome.ranks.size(), static_cast<std::size_t>(size));
    for (const RankOutcome& r : outcome.ranks) {
      EXPECT_EQ(r.exit_code, 0) << size << " ranks";
      EXPECT_EQ(r.signal, 0);
    }
  }
}

TEST(ProcessPeers, ARankThatEndsEarlyEndsItsPeersCallsWithAnError) {
  // Rank 1 leaves before the allgather rank 0 waits in: rank 0 must get an error (exit 3), not wait.
  const RunOutcome outcome = run_ranks(2, 60, [](int rank, int fd) {
    ProcessPeers peers(fd, rank, 2, 30);
    if (rank == 1) return 0;
    int mine = 7, all[2] = {};
    try {
      peers.allgather(&mine, all, sizeof mine);
    } catch (const Error& e) {
      return std::strstr(e.what(), "ended") ? 3 : 4;
    }
    return 5;
  });
  EXPECT_NE(outcome.hub_error.find("rank 1 ended while rank 0 waited in allgather"), std::string::npos)
      << outcome.hub_error;
  EXPECT_EQ(outcome.ranks[0].exit_code, 3);
  EXPECT_EQ(outcome.ranks[1].exit_code, 0);
}

TEST(ProcessPeers, RanksCallingDifferentCollectivesAreTold) {
  const RunOutcome outcome = run_ranks(2, 60, [](int rank, int fd) {
    ProcessPeers peers(fd, rank, 2, 30);
    try {
      if (rank == 0) {
        int mine = 1, all[2] = {};
        peers.allgather(&mine, all, sizeof mine);
      } else {
        char id[128] = {};
        peers.broadcast(id, sizeof id, 0);
      }
    } catch (const Error& e) {
      return std::strstr(e.what(), "different collectives") ? 3 : 4;
    }
    return 5;
  });
  EXPECT_NE(outcome.hub_error.find("different collectives"), std::string::npos) << outcome.hub_error;
  EXPECT_EQ(outcome.ranks[0].exit_code, 3);
  EXPECT_EQ(outcome.ranks[1].exit_code, 3);
}

TEST(ProcessPeers, TheDeadlineKillsARankThatNeverEnds) {
  // Rank 0 waits in a collective that rank 1, stuck (as on a kernel that never returns), never joins.
  const RunOutcome outcome = run_ranks(2, 1, [](int rank, int fd) {
    ProcessPeers peers(fd, rank, 2, 600);
    if (rank == 1) {
      for (;;) pause();
    }
    return peers.any(true) ? 0 : 1;
  });
  EXPECT_NE(outcome.hub_error.find("deadline"), std::string::npos) << outcome.hub_error;
  EXPECT_EQ(outcome.ranks[1].signal, SIGKILL);
}

TEST(ProcessPeers, SpawnedCheckProgramRanksExchangeAndReportTheirRefusal) {
  // The GPU check's own ranks, started as its two-process run starts them: each exchanges its seed and
  // rank with the other through the socket it finds at descriptor 100, then (no GPU here) its backend
  // refuses and it exits 3, which the parent reports as "skipped", not as a failure.
  std::vector<std::vector<std::string>> argv;
  for (int r = 0; r < 2; ++r) {
    argv.push_back({CCTUNE_GPU_CHECK, "--rank", std::to_string(r), "--size", "2", "--backend", "cuda"});
  }
  const RunOutcome outcome = spawn_ranks(argv, 100, 120);
  EXPECT_EQ(outcome.hub_error, "");
  ASSERT_EQ(outcome.ranks.size(), 2u);
  EXPECT_EQ(outcome.ranks[0].exit_code, 3);
  EXPECT_EQ(outcome.ranks[1].exit_code, 3);
}

}  // namespace
}  // namespace cctune::gpu_check
