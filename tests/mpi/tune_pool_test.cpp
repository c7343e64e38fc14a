// `tune --backend nccl` on real ranks with a stand-in named nccl: the whole 21-candidate allreduce
// space, each candidate's time known in advance. The stand-in counts its live bound collectives, as
// NCCL would count communicators, and can corrupt one candidate's output as an unsafe LL128 would.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>

#include "bench/sweep.hpp"
#include "collectives/backends.hpp"
#include "tests/mpi/test_backends.hpp"
#include "tuner/tune.hpp"

namespace cctune::tuner {
namespace {

// The winner is ring_simple above 1 KiB and tree_ll up to it; everything else is slower.
double pool_time_us(std::string_view algorithm, std::size_t bytes) {
  if (algorithm == "tree_ll") return bytes <= 1024 ? 20 : 300;
  if (algorithm == "ring_simple") return bytes <= 1024 ? 300 : 40;
  if (algorithm == "ring_ll128") return 5;  // fastest of all, were its results right
  return 100 + static_cast<double>(algorithm.size());
}

struct Counts {
  int live = 0, peak = 0, created = 0;
};

// A bound collective that the stand-in counts while it lives; `corrupt` adds one to its output.
struct CountedCollective final : BoundCollective {
  CountedCollective(std::unique_ptr<BoundCollective> wrapped, Counts& counts, bool corrupt)
      : inner(std::move(wrapped)), counts_(counts), corrupt_(corrupt) {
    counts_.peak = std::max(counts_.peak, ++counts_.live);
    ++counts_.created;
  }
  ~CountedCollective() override { --counts_.live; }
  const AlgorithmInfo& info() const override { return inner->info(); }
  void run(const CollectiveArgs& args) override {
    inner->run(args);
    if (corrupt_ && args.count > 0) static_cast<float*>(args.recv)[0] += 1.0f;
  }
  std::unique_ptr<BoundCollective> inner;
  Counts& counts_;
  bool corrupt_;
};

class PoolBackend final : public testing_backends::WrappedMpiBackend {
 public:
  PoolBackend(MPI_Comm world, std::size_t limit, std::string corrupt)
      : WrappedMpiBackend(world), limit_(limit), corrupt_(std::move(corrupt)) {}
  std::string_view name() const override { return "nccl"; }
  std::size_t max_live_bound() const override { return limit_; }
  std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) override {
    auto timed = std::make_unique<testing_backends::SelfTimedCollective>(
        inner_.bind(collective, "mpi"), [name = std::string(algorithm)](const CollectiveArgs& args, int i) {
          return pool_time_us(name, args.count * size_of(args.type)) * (1.0 + 0.001 * (i % 3));
        });
    return std::make_unique<Wrapper>(std::move(timed), counts, algorithm == corrupt_);
  }
  Counts counts;

 private:
  // CountedCollective around a self-timed one, keeping time_on_device.
  struct Wrapper final : BoundCollective {
    Wrapper(std::unique_ptr<testing_backends::SelfTimedCollective> timed, Counts& counts, bool corrupt)
        : counted(std::move(timed), counts, corrupt) {}
    const AlgorithmInfo& info() const override { return counted.info(); }
    void run(const CollectiveArgs& args) override { counted.run(args); }
    std::optional<std::vector<double>> time_on_device(const CollectiveArgs& args, int iterations) override {
      auto* timed = static_cast<testing_backends::SelfTimedCollective*>(counted.inner.get());
      std::vector<double> samples;
      for (int i = 0; i < iterations; ++i) {
        counted.run(args);
        samples.push_back(timed->sample_us(args, i));
      }
      return samples;
    }
    CountedCollective counted;
  };
  std::size_t limit_;
  std::string corrupt_;
};

bool built(std::string_view backend) {
  for (const auto& entry : backend_registry()) {
    if (entry.name == backend) return true;
  }
  return false;
}

struct Outcome {
  TuneReport report;
  Counts counts;
  std::vector<std::string> notes;
};

Outcome tune_with(std::size_t limit, const std::string& corrupt = {}) {
  Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
  TuneOptions options;
  options.backend = "nccl";
  options.collectives = {Collective::allreduce};
  options.sizes = {256, 1024, 65536};
  options.bench.selections = {{Collective::allreduce, {}, {}, {}}};
  options.bench.sizes = options.sizes;
  options.search = {2, 3};
  options.confirm_rounds = 2;
  options.confirm_iterations = 2;
  Outcome outcome;
  options.note = [&](const std::string& line) { outcome.notes.push_back(line); };
  PoolBackend* backend = nullptr;
  {
    CandidateRunner runner(world, options.bench, [&](std::string_view) {
      auto created = std::make_unique<PoolBackend>(MPI_COMM_WORLD, limit, corrupt);
      backend = created.get();
      return created;
    });
    const bench::RunInfo info = bench::gather_run_info(world, options.bench);
    outcome.report = tune(runner, world, options, info, "test-fingerprint");
    EXPECT_EQ(runner.live(), 0u);  // tune leaves no bound collective behind
    outcome.counts = backend->counts;
  }
  return outcome;
}

std::vector<std::string> chosen(const TuneReport& report) {
  std::vector<std::string> names;
  for (const Rule& rule : report.profile.rules) {
    names.push_back(rule.choice.algorithm + "/" + rule.choice.protocol + "@" + std::to_string(rule.min_bytes));
  }
  return names;
}

TEST(TunePool, TheWholeNcclSpaceRunsWithABoundedNumberOfLiveCommunicatorsAndChoosesAlike) {
  if (!built("nccl")) GTEST_SKIP() << "this build has no nccl backend to stand in for";
  const Outcome bounded = tune_with(4);
  ASSERT_EQ(bounded.report.collectives.size(), 1u);
  EXPECT_EQ(bounded.report.collectives[0].space.size(), 21u);
  EXPECT_LE(bounded.counts.peak, 4);
  EXPECT_EQ(bounded.report.peak_live, static_cast<std::size_t>(bounded.counts.peak));
  EXPECT_EQ(bounded.counts.live, 0);

  // Unbounded, every candidate is alive at once; the choices are the same.
  const Outcome unbounded = tune_with(0);
  EXPECT_EQ(unbounded.counts.peak, 21);
  EXPECT_EQ(chosen(bounded.report), chosen(unbounded.report));
  EXPECT_EQ(chosen(bounded.report), (std::vector<std::string>{"ring/ll128@0"}));
  // The bound costs communicators created again, never measurements.
  EXPECT_GT(bounded.counts.created, unbounded.counts.created);
  EXPECT_EQ(bounded.report.collectives[0].chosen.iterations, unbounded.report.collectives[0].chosen.iterations);
}

TEST(TunePool, AWrongResultLeavesOutOneCandidateNotTheRun) {
  if (!built("nccl")) GTEST_SKIP() << "this build has no nccl backend to stand in for";
  const Outcome outcome = tune_with(4, "ring_ll128");
  const CollectiveReport& part = outcome.report.collectives[0];
  ASSERT_EQ(part.failed.size(), 1u);
  EXPECT_NE(part.failed[0].find("ring_ll128 returned"), std::string::npos) << part.failed[0];
  ASSERT_EQ(outcome.notes.size(), 1u);
  EXPECT_NE(outcome.notes[0].find("leaving it out of every size"), std::string::npos) << outcome.notes[0];
  // The fastest candidate, were its results right, wins nowhere.
  EXPECT_EQ(chosen(outcome.report), (std::vector<std::string>{"tree/ll@0", "ring/simple@65536"}));
  const std::vector<std::string> labels = part.labels();
  const auto ll128 = static_cast<std::size_t>(std::find(labels.begin(), labels.end(), "ring_ll128") - labels.begin());
  ASSERT_LT(ll128, part.space.size());
  for (const SizeDecision& decision : part.chosen.sizes) {
    EXPECT_TRUE(decision.failed[ll128]);
    EXPECT_NE(decision.runner_up, ll128);
  }
}

}  // namespace
}  // namespace cctune::tuner
