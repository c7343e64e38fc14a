// The host-side logic of the GPU backends, which runs without a GPU: block planning and the grid the
// ranks agree on, the cuda backend's set-up refusals (made-up GPUs exchanged between threads), its
// exported-handle table, the per-call wait with a fake clock, the algorithm and configuration tables,
// the launch parameters' size limit, and how a missing GPU is reported.
#include <gtest/gtest.h>

#include <barrier>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/cuda/backend.hpp"
#include "collectives/cuda/setup.hpp"
#include "collectives/error.hpp"
#include "collectives/gpu/runtime.hpp"
#include "collectives/gpu/timed_loop.hpp"
#include "collectives/launch.hpp"
#if CCTUNE_HAVE_NCCL
#include "collectives/nccl/configurations.hpp"
#endif

namespace cctune {
namespace {

TEST(PlanBlocks, EnoughForTheWorkAndNeverMoreThanFitOrTheFlagsCover) {
  // 132 multiprocessors, 2 resident blocks each (an H100 or H200 at 512 threads and ~64 registers).
  EXPECT_EQ(cuda::plan_blocks(1, 1, 2 * 132), 1);
  EXPECT_EQ(cuda::plan_blocks(0, 1, 2 * 132), 1);  // an empty call still meets at its barriers
  EXPECT_EQ(cuda::plan_blocks(cuda::kThreads * 10, 1, 2 * 132), 10);
  EXPECT_EQ(cuda::plan_blocks(cuda::kThreads * 10 + 1, 1, 2 * 132), 11);
  EXPECT_EQ(cuda::plan_blocks(std::size_t{1} << 30, 1, 2 * 132), cuda::kMaxBlocks);
  // Eight virtual ranks share one device: each may have only an eighth of what is resident.
  EXPECT_EQ(cuda::plan_blocks(std::size_t{1} << 30, 8, 2 * 132), 2 * 132 / 8);
  // A kernel that fits nowhere still gets one block: the cooperative launch then reports the error.
  EXPECT_EQ(cuda::plan_blocks(std::size_t{1} << 30, 8, 0), 1);
}

// ---- the cuda backend's set-up step, with ranks as threads ----

// Ranks of one job as threads of this process. A rank that leaves (throws) drops out of the barrier,
// so that a rank refusing alone shows up as different answers instead of a hang.
class ThreadPeers final : public PeerExchange {
 public:
  struct Job {
    explicit Job(int n) : size(n), sync(n), slots(static_cast<std::size_t>(n)) {}
    int size;
    std::barrier<> sync;
    std::vector<std::vector<std::byte>> slots;
  };
  ThreadPeers(Job& job, int rank) : job_(job), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return job_.size; }
  int local_rank() const override { return rank_; }
  int local_size() const override { return job_.size; }
  void broadcast(void* data, std::size_t bytes, int root) override {
    std::vector<std::byte> all(bytes * static_cast<std::size_t>(size()));
    allgather(data, all.data(), bytes);
    std::memcpy(data, all.data() + bytes * static_cast<std::size_t>(root), bytes);
  }
  void allgather(const void* mine, void* all, std::size_t bytes) override {
    const auto* from = static_cast<const std::byte*>(mine);
    job_.slots[static_cast<std::size_t>(rank_)].assign(from, from + bytes);
    job_.sync.arrive_and_wait();
    for (int r = 0; r < size(); ++r) {
      const auto& slot = job_.slots[static_cast<std::size_t>(r)];
      std::memcpy(static_cast<std::byte*>(all) + bytes * static_cast<std::size_t>(r), slot.data(),
                  std::min(bytes, slot.size()));
    }
    job_.sync.arrive_and_wait();
  }
  bool any(bool mine) override {
    std::vector<char> all(static_cast<std::size_t>(size()));
    const char flag = mine ? 1 : 0;
    allgather(&flag, all.data(), 1);
    return std::find(all.begin(), all.end(), 1) != all.end();
  }
  void leave() { job_.sync.arrive_and_drop(); }

 private:
  Job& job_;
  int rank_;
};

cuda::DeviceFacts gpu_facts(int index, const char* bus, const char* name, unsigned char id, int major, int minor,
                            std::vector<int> device_blocks = {264}) {
  cuda::DeviceFacts facts;
  facts.index = index;
  std::strncpy(facts.bus_id, bus, sizeof facts.bus_id - 1);
  std::strncpy(facts.name, name, sizeof facts.name - 1);
  facts.uuid.fill(0x5a);
  facts.uuid[15] = id;
  facts.major = major;
  facts.minor = minor;
  facts.kernels = static_cast<int>(device_blocks.size());
  for (std::size_t k = 0; k < device_blocks.size(); ++k) facts.device_blocks[k] = device_blocks[k];
  return facts;
}

// Eight H200s behind NVSwitch, rank r on GPU r.
std::vector<cuda::DeviceFacts> h200s(int n) {
  std::vector<cuda::DeviceFacts> gpus;
  for (int r = 0; r < n; ++r) {
    const std::string bus = "0000:" + std::to_string(10 + r) + ":00.0";
    gpus.push_back(gpu_facts(r, bus.c_str(), "NVIDIA H200", static_cast<unsigned char>(r), 9, 0));
  }
  return gpus;
}

struct RankOutcome {
  std::optional<cuda::Agreement> agreed;
  std::string refusal;  // the UsageError's line
  bool asked_for_reach = false;
};

// Every rank runs the set-up step with its made-up GPU and a made-up access matrix.
std::vector<RankOutcome> set_up(const std::vector<cuda::DeviceFacts>& gpus, const std::vector<std::uint8_t>& reach) {
  const int n = static_cast<int>(gpus.size());
  ThreadPeers::Job job(n);
  std::vector<RankOutcome> outcomes(static_cast<std::size_t>(n));
  std::vector<std::thread> ranks;
  for (int r = 0; r < n; ++r) {
    ranks.emplace_back([&, r] {
      ThreadPeers peers(job, r);
      RankOutcome& outcome = outcomes[static_cast<std::size_t>(r)];
      const cuda::ReachRow row = [&](std::span<const cuda::DeviceFacts> all, int self) {
        outcome.asked_for_reach = true;
        EXPECT_EQ(all.size(), gpus.size());
        const auto begin = reach.begin() + static_cast<std::ptrdiff_t>(self) * n;
        return std::vector<std::uint8_t>(begin, begin + n);
      };
      try {
        outcome.agreed = cuda::agree_with_peers(peers, gpus[static_cast<std::size_t>(r)], row);
      } catch (const UsageError& e) {
        outcome.refusal = e.what();
      }
      peers.leave();
    });
  }
  for (auto& rank : ranks) rank.join();
  return outcomes;
}

std::vector<std::uint8_t> all_reach(int n) { return std::vector<std::uint8_t>(static_cast<std::size_t>(n * n), 1); }

// Every rank refused with the same line, which contains every one of `words`.
void expect_one_refusal(const std::vector<RankOutcome>& outcomes, const std::vector<std::string>& words) {
  ASSERT_FALSE(outcomes.empty());
  const std::string& line = outcomes.front().refusal;
  ASSERT_FALSE(line.empty()) << "rank 0 was not refused";
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  for (std::size_t r = 0; r < outcomes.size(); ++r) {
    EXPECT_FALSE(outcomes[r].agreed) << "rank " << r << " went on";
    EXPECT_EQ(outcomes[r].refusal, line) << "rank " << r;
  }
  for (const std::string& word : words) EXPECT_NE(line.find(word), std::string::npos) << word << " not in: " << line;
}

TEST(GridAgreement, RanksWithDifferentDevicesLaunchTheSameGrid) {
  // Two kernels. Rank 0: a whole H200 (2 resident per SM x 132 SMs, 3 x 132); rank 1: an MPS client
  // limited to 1 x 132; rank 2: a MIG slice of 16 SMs (2 x 16, 3 x 16).
  std::vector<cuda::DeviceFacts> gpus = h200s(3);
  const std::vector<std::vector<int>> own{{2 * 132, 3 * 132}, {1 * 132, 1 * 132}, {2 * 16, 3 * 16}};
  for (std::size_t r = 0; r < 3; ++r) {
    gpus[r].kernels = 2;
    gpus[r].device_blocks[0] = own[r][0];
    gpus[r].device_blocks[1] = own[r][1];
  }
  int kernel_a = 0, kernel_b = 0;  // stand-ins: only their addresses name the kernels
  const std::vector<const void*> kernels{&kernel_a, &kernel_b};
  const auto outcomes = set_up(gpus, all_reach(3));
  const std::size_t huge = std::size_t{1} << 30;
  // Each rank alone would have planned different grids: 128 (capped), 128 and 32 blocks.
  std::set<int> alone;
  for (const auto& blocks : own) alone.insert(cuda::plan_blocks(huge, 1, blocks[0]));
  EXPECT_GT(alone.size(), 1u);
  for (std::size_t r = 0; r < outcomes.size(); ++r) {
    ASSERT_TRUE(outcomes[r].agreed) << "rank " << r << ": " << outcomes[r].refusal;
    EXPECT_EQ(outcomes[r].agreed->device_blocks, (std::vector<int>{32, 48})) << "rank " << r;
    const cuda::GridLimits limits(kernels, outcomes[r].agreed->device_blocks);
    EXPECT_EQ(limits.device_blocks(&kernel_a), 32);
    EXPECT_EQ(cuda::plan_blocks(huge, 1, limits.device_blocks(&kernel_a)), 32) << "rank " << r;
    EXPECT_EQ(cuda::plan_blocks(huge, 1, limits.device_blocks(&kernel_b)), 48) << "rank " << r;
    EXPECT_EQ(cuda::plan_blocks(cuda::kThreads * 10, 1, limits.device_blocks(&kernel_a)), 10);
  }
  // A kernel the ranks did not agree on is an error, not a grid of this device's own.
  const cuda::GridLimits limits(kernels, {32, 48});
  int other = 0;
  EXPECT_THROW(limits.device_blocks(&other), Error);
}

TEST(GridAgreement, EveryRegistryKernelFitsTheExchange) {
  const auto kernels = cuda::registry_kernels();
  EXPECT_GE(kernels.size(), cuda::registry().size());
  EXPECT_LE(kernels.size(), static_cast<std::size_t>(cuda::kMaxAgreedKernels));
  EXPECT_EQ(std::set<const void*>(kernels.begin(), kernels.end()).size(), kernels.size());
}

TEST(CudaSetUp, ARankThatCannotUseAGpuIsNamedByEveryRank) {
  std::vector<cuda::DeviceFacts> gpus = h200s(3);
  gpus[2] = cuda::DeviceFacts{};
  std::strcpy(gpus[2].problem, "this rank sees no GPU: no CUDA-capable device is detected");
  const auto outcomes = set_up(gpus, all_reach(3));
  expect_one_refusal(outcomes, {"rank 2", "sees no GPU"});
  for (const auto& outcome : outcomes) EXPECT_FALSE(outcome.asked_for_reach);
}

TEST(CudaSetUp, AGpuBeforeSm80IsRefusedBeforeAnyPeerIsTouched) {
  std::vector<cuda::DeviceFacts> gpus = h200s(2);
  gpus.push_back(gpu_facts(0, "0000:3b:00.0", "Tesla V100-SXM2-32GB", 7, 7, 0, {0}));
  gpus.push_back(gpu_facts(1, "0000:3c:00.0", "Tesla T4", 8, 7, 5, {0}));
  const auto outcomes = set_up(gpus, all_reach(4));
  expect_one_refusal(outcomes, {"rank 2's GPU 0 [0000:3b:00.0] Tesla V100-SXM2-32GB", "compute capability 7.0",
                                "1 more", "8.0", "--backend nccl"});
  // Nothing about peers was asked: the refusal came from the first exchange alone.
  for (const auto& outcome : outcomes) EXPECT_FALSE(outcome.asked_for_reach);
}

TEST(CudaSetUp, TwoRanksOnOneGpuAreRefusedNamingBothAndTheGpu) {
  std::vector<cuda::DeviceFacts> gpus = h200s(4);
  gpus[2] = gpus[0];  // e.g. CUDA_VISIBLE_DEVICES=0 on both
  const auto outcomes = set_up(gpus, all_reach(4));
  expect_one_refusal(outcomes, {"ranks 0 and 2 share GPU 0 [0000:10:00.0] NVIDIA H200", "a GPU of its own"});
  for (const auto& outcome : outcomes) EXPECT_FALSE(outcome.asked_for_reach);

  gpus[3] = gpus[0];
  expect_one_refusal(set_up(gpus, all_reach(4)), {"ranks 0, 2 and 3 share GPU 0"});
  // Different GPUs that this process numbers alike (one GPU visible to each rank) are not shared.
  std::vector<cuda::DeviceFacts> visible_one_each = h200s(2);
  visible_one_each[1].index = 0;
  const auto fine = set_up(visible_one_each, all_reach(2));
  EXPECT_TRUE(fine[0].agreed && fine[1].agreed) << fine[0].refusal;
}

TEST(CudaSetUp, APairWithoutPeerAccessIsRefusedNamingThePair) {
  const int n = 4;
  std::vector<std::uint8_t> reach = all_reach(n);
  reach[1 * n + 2] = 0;  // rank 1's GPU cannot access rank 2's (PCIe without P2P, as on g4dn)
  const auto outcomes = set_up(h200s(n), reach);
  expect_one_refusal(outcomes, {"rank 1's GPU 1 [0000:11:00.0] NVIDIA H200 cannot access rank 2's GPU 2 "
                                "[0000:12:00.0]", "peer to peer", "--backend nccl"});
  for (const auto& outcome : outcomes) EXPECT_TRUE(outcome.asked_for_reach);
  // Either direction missing is enough, and the pair is named from the side that cannot reach.
  std::vector<std::uint8_t> back = all_reach(n);
  back[3 * n + 0] = 0;
  const auto gpus = h200s(n);
  const auto line = cuda::refusal_without_peer_access(gpus, back);
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("rank 3's GPU 3 [0000:13:00.0] NVIDIA H200 cannot access rank 0's"), std::string::npos) << *line;
  EXPECT_FALSE(cuda::refusal_without_peer_access(gpus, all_reach(n)));
}

TEST(CudaSetUp, OneRankAgreesWithItself) {
  const auto outcomes = set_up(h200s(1), all_reach(1));
  ASSERT_TRUE(outcomes[0].agreed) << outcomes[0].refusal;
  EXPECT_EQ(outcomes[0].agreed->device_blocks, std::vector<int>{264});
}

// ---- the exported-handle table ----

std::unique_ptr<cuda::SharedAllocation> fake_allocation(std::uintptr_t address, std::size_t bytes) {
  auto allocation = std::make_unique<cuda::SharedAllocation>();
  allocation->local = reinterpret_cast<const void*>(address);
  allocation->bytes = bytes;
  allocation->by_rank = {const_cast<void*>(allocation->local), reinterpret_cast<void*>(address + (1u << 20))};
  return allocation;
}

const void* at(std::uintptr_t address) { return reinterpret_cast<const void*>(address); }

TEST(SharedTable, AReleasedBufferIsNoLongerFound) {
  cuda::SharedTable table;
  const std::size_t a = table.add(fake_allocation(0x10000, 256));
  const std::size_t b = table.add(fake_allocation(0x20000, 256));
  EXPECT_EQ(table.find(at(0x10010)).second, 0x10u);
  table.release(a);
  EXPECT_THROW(table.find(at(0x10010)), Error);  // stale: its buffer is gone
  EXPECT_EQ(table.find(at(0x20000)).first, table.find(at(0x200ff)).first);
  EXPECT_THROW(table.find(at(0x20100)), Error);  // one past the end
  EXPECT_EQ(table.live(), 1u);
  EXPECT_EQ(table.entries(), 2u);  // its memory stays until the peers have closed their mappings
  // Were an address to come back, only the live entry would answer.
  const std::size_t c = table.add(fake_allocation(0x10000, 64));
  EXPECT_NE(c, a);
  const auto [found, offset] = table.find(at(0x10008));
  EXPECT_EQ(found->bytes, 64u);
  EXPECT_EQ(offset, 8u);
  table.release(b);
  table.release(c);
  EXPECT_EQ(table.live(), 0u);
}

TEST(SharedTable, TheEndClosesThenMeetsThenFreesOrOnAnErrorPathMeetsNoOne) {
  cuda::SharedTable table;
  table.add(fake_allocation(0x10000, 256));
  table.release(table.add(fake_allocation(0x20000, 256)));
  int barriers = 0;
  table.tear_down(true, [&] {
    ++barriers;
    EXPECT_EQ(table.mappings(), 0u);  // closed first
    EXPECT_EQ(table.entries(), 2u);   // nothing freed before every peer has closed its side
  });
  EXPECT_EQ(barriers, 1);
  EXPECT_EQ(table.entries(), 0u);

  cuda::SharedTable failed;
  failed.add(fake_allocation(0x10000, 256));
  failed.tear_down(false, [&] { ++barriers; });
  EXPECT_EQ(barriers, 1);  // an error path waits for no peer
  EXPECT_EQ(failed.entries(), 0u);

  cuda::SharedTable lost_peer;
  lost_peer.add(fake_allocation(0x10000, 256));
  lost_peer.tear_down(true, [] { throw Error("peer gone", __FILE__, __LINE__); });  // noexcept: kept, not thrown
  EXPECT_EQ(lost_peer.entries(), 0u);
}

// ---- the per-call bound on a batch of queued calls ----

// Calls that end at the given times (seconds, one after another); the clock moves only while waiting.
struct FakeStream {
  std::vector<double> ends;
  double now = 0;
  double sick_from = 1e9;  // the backend reports an error from then on
  gpu::WaitSteps steps(double step) {
    return {[this](int call) { return now >= ends[static_cast<std::size_t>(call)]; },
            [this] { return now < sick_from; },
            [this] { return now; },
            [this, step](int) { now += step; }};
  }
};

TEST(WaitForCalls, TheTimeoutBoundsEachCallNotTheBatch) {
  // Ten calls of 0.9 s each under -T 1: 9 s in all, and none too long.
  FakeStream stream;
  for (int i = 1; i <= 10; ++i) stream.ends.push_back(0.9 * i);
  EXPECT_EQ(gpu::first_overdue_call(10, 1.0, stream.steps(0.01)), -1);
  EXPECT_GE(stream.now, 8.9);

  // The fourth call takes 1.5 s: it is the one named, after about 1 s of it.
  FakeStream slow;
  slow.ends = {0.5, 1.0, 1.5, 3.0, 3.5};
  EXPECT_EQ(gpu::first_overdue_call(5, 1.0, slow.steps(0.01)), 3);
  EXPECT_LT(slow.now, 2.6);

  // No limit: waits as long as it takes.
  FakeStream unbounded;
  unbounded.ends = {100.0};
  EXPECT_EQ(gpu::first_overdue_call(1, 0, unbounded.steps(1.0)), -1);

  // An unhealthy backend (NCCL's asynchronous error) ends the wait at once.
  FakeStream sick;
  sick.ends = {0.1, 50.0};
  sick.sick_from = 0.2;
  EXPECT_EQ(gpu::first_overdue_call(2, 0, sick.steps(0.01)), 1);
  EXPECT_LT(sick.now, 0.25);
}

// A stream and clock made up: each queued call takes `call_us` on the device and `launch_us` on the
// host to queue; a meeting takes `meet_us`; every step is written to a trace.
struct FakeTimedStream {
  double call_us = 100, launch_us = 5, meet_us = 40;
  double clock_us = 0;
  std::vector<double> marks_at;  // the device time each mark was reached
  double device_done_us = 0;     // when the device finishes what was queued so far
  int captured = 0;              // calls in the graph being captured
  int graph_calls = 0;
  bool capturing = false;
  std::string trace;

  void queue(int calls) {
    trace += "q";
    clock_us += launch_us;
    if (capturing) {
      captured += calls;
      return;
    }
    device_done_us = std::max(device_done_us, clock_us) + calls * call_us;
  }
  gpu::TimedLoopSteps steps(int calls_per_iteration) {
    gpu::TimedLoopSteps s;
    s.queue = [this, calls_per_iteration] { queue(calls_per_iteration); };
    s.mark = [this](int index) {
      trace += "m" + std::to_string(index);
      if (marks_at.size() <= static_cast<std::size_t>(index)) marks_at.resize(static_cast<std::size_t>(index) + 1);
      marks_at[static_cast<std::size_t>(index)] = std::max(device_done_us, clock_us);
    };
    s.wait = [this](int first, int last) {
      trace += "w" + std::to_string(first) + "-" + std::to_string(last);
      clock_us = std::max(clock_us, device_done_us);
    };
    s.meet = [this] {
      trace += "M";
      clock_us += meet_us;
    };
    s.begin_capture = [this] {
      trace += "[";
      capturing = true;
      captured = 0;
    };
    s.end_capture = [this] {
      trace += "]";
      capturing = false;
      graph_calls = captured;
    };
    s.launch_graph = [this] {
      trace += "G";
      clock_us += launch_us;
      device_done_us = std::max(device_done_us, clock_us) + graph_calls * call_us;
    };
    s.now = [this] { return clock_us * 1e-6; };
    s.elapsed_us = [this](int from, int to) {
      return marks_at.at(static_cast<std::size_t>(to)) - marks_at.at(static_cast<std::size_t>(from));
    };
    return s;
  }
};

// Host times pass through seconds and back: equal within rounding.
void expect_times(const std::vector<double>& got, const std::vector<double>& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6) << "sample " << i;
}

TEST(TimedLoop, ByDefaultTheCallsAreQueuedBackToBackAndTimedOnTheDevice) {
  FakeTimedStream stream;
  stream.launch_us = 0;  // else the first call's time also holds its launch, as a real stream's would
  const auto samples = gpu::run_timed_loop(LaunchSettings{}, 3, stream.steps(1));
  EXPECT_EQ(stream.trace, "m0qm1qm2qm3w1-3");
  EXPECT_EQ(samples, (std::vector<double>{100, 100, 100}));
  EXPECT_EQ(gpu::timed_loop_marks(LaunchSettings{}, 3), 4);
}

TEST(TimedLoop, AggregatedCallsShareTheirIterationsTimeAndCpuTimeIsTheLaunchOnly) {
  LaunchSettings launch;
  launch.aggregated = 4;
  FakeTimedStream stream;
  stream.launch_us = 0;
  EXPECT_EQ(gpu::run_timed_loop(launch, 2, stream.steps(4)), (std::vector<double>{100, 100}));
  launch.host_time = true;
  FakeTimedStream host;
  expect_times(gpu::run_timed_loop(launch, 2, host.steps(4)), {5.0 / 4, 5.0 / 4});
}

TEST(TimedLoop, BlockingModesWaitForEachIterationAndTimeTheMeetingOnlyInMode1) {
  LaunchSettings launch;
  launch.blocking = Blocking::wait_and_meet;
  FakeTimedStream one;
  expect_times(gpu::run_timed_loop(launch, 2, one.steps(1)), {5 + 100 + 40, 5 + 100 + 40});
  EXPECT_EQ(one.trace, "m0qm1w1-1Mqm2w2-2M");
  launch.blocking = Blocking::wait;
  FakeTimedStream two;
  expect_times(gpu::run_timed_loop(launch, 2, two.steps(1)), {105, 105});
  EXPECT_EQ(two.trace, "m0qm1w1-1qm2w2-2");
  launch.blocking = Blocking::wait_then_meet_untimed;
  FakeTimedStream three;
  expect_times(gpu::run_timed_loop(launch, 2, three.steps(1)), {105, 105});
  EXPECT_EQ(three.trace, "m0qm1w1-1Mqm2w2-2M");  // met, but after the time was taken
}

TEST(TimedLoop, AGraphIsCapturedOnceAndEachLaunchSharedAmongTheCallsItReplays) {
  LaunchSettings launch;
  launch.graph_launches = 2;
  launch.aggregated = 2;
  FakeTimedStream stream;
  stream.launch_us = 0;
  const auto samples = gpu::run_timed_loop(launch, 3, stream.steps(2));
  EXPECT_EQ(stream.trace, "[qqq]m0Gm1Gm2w1-2");
  // Each launch replays 3 iterations x 2 calls of 100 us.
  EXPECT_EQ(samples, (std::vector<double>{100, 100}));
  EXPECT_EQ(gpu::timed_loop_marks(launch, 3), 3);
}

TEST(LaunchSettings, EachBackendRefusesWhatItCannotHonourAndNothingRunsAGraphCallByCall) {
  const LaunchSupport everything{};
  const LaunchSupport host{"no stream here", "no graphs here", "no registration here", "no policy here", "no -u"};
  const auto message = [](const LaunchSettings& launch, const LaunchSupport& support) -> std::string {
    try {
      check_launch(launch, support);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  };
  LaunchSettings launch;
  launch.blocking = Blocking::wait_then_meet_untimed;
  launch.aggregated = 8;
  launch.host_time = true;
  EXPECT_EQ(message(launch, host), "");  // -z -m -C: every backend
  launch = {};
  launch.null_stream = true;
  EXPECT_EQ(message(launch, host), "-y 1: no stream here");
  EXPECT_EQ(message(launch, everything), "");
  launch = {};
  launch.registration = Registration::symmetric;
  EXPECT_EQ(message(launch, host), "-R 2: no registration here");
  launch = {};
  launch.cta_policy = 0;
  EXPECT_EQ(message(launch, host), "-x 0: no policy here");
  launch = {};
  launch.graph_launches = 5;
  EXPECT_EQ(message(launch, host), "-G 5: no graphs here");
  EXPECT_EQ(message(launch, everything), "");
  launch.blocking = Blocking::wait;
  EXPECT_NE(message(launch, everything).find("-G 5 with -z 2: a graph's calls run as one launch"), std::string::npos);
  launch.blocking = Blocking::none;
  launch.null_stream = true;
  EXPECT_NE(message(launch, everything).find("-G 5 with -y 1: CUDA cannot capture the legacy"), std::string::npos);
  EXPECT_EQ(describe(Blocking::none), "");
  EXPECT_EQ(describe(Blocking::wait), "wait after each inner iteration (-m), no barrier");
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
