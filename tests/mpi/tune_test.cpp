// Tune and verify end to end on real ranks with a search space of two backends, as `--backend cuda`
// has (NCCL's choice against our kernels). The GPU backends cannot run here, so stand-ins take their
// names: they move the data through MPI (checked bit for bit as usual) and report, as a device backend
// does, times of their own, chosen so that the right profile is known in advance.
#include <gtest/gtest.h>
#include <mpi.h>

#include <map>

#include "bench/sweep.hpp"
#include "collectives/backends.hpp"
#include "tests/mpi/test_backends.hpp"
#include "tuner/tune.hpp"
#include "tuner/verify.hpp"

namespace cctune::tuner {
namespace {

// Microseconds a stand-in reports per call of `algorithm` at `bytes` (per peer for alltoall).
double stand_in_time_us(std::string_view algorithm, std::size_t bytes) {
  if (algorithm == "one_shot") return bytes <= 1024 ? 10 : 400;  // small sizes: 10x faster than NCCL
  if (algorithm == "two_shot") return bytes <= 1024 ? 400 : 50;  // large sizes: 2x faster
  if (algorithm == "direct_write") return 300;                     // never better: NCCL's choice stays
  return 100;                                                      // NCCL's own choice
}

class StandInBackend final : public testing_backends::WrappedMpiBackend {
 public:
  StandInBackend(MPI_Comm world, std::string name) : WrappedMpiBackend(world), name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) override {
    ++binds[std::string(algorithm)];
    return std::make_unique<testing_backends::SelfTimedCollective>(
        inner_.bind(collective, "mpi"), [name = std::string(algorithm)](const CollectiveArgs& args, int i) {
          return stand_in_time_us(name, args.count * size_of(args.type)) * (1.0 + 0.001 * (i % 3));
        });
  }
  std::map<std::string, int> binds;

 private:
  std::string name_;
};

bool built(std::string_view backend) {
  for (const auto& entry : backend_registry()) {
    if (entry.name == backend) return true;
  }
  return false;
}

TEST(Tune, ChoosesAcrossTwoBackendsAndVerifiesTheProfileItWrote) {
  if (!built("cuda") || !built("nccl")) GTEST_SKIP() << "this build has no cuda and nccl backends to stand in for";
  Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
  TuneOptions options;
  options.backend = "cuda";
  options.sizes = {64, 512, 4096, 65536};
  options.bench.selections = {{Collective::allreduce, {}, {}, {}}, {Collective::alltoall, {}, {}, {}}};
  options.bench.sizes = options.sizes;
  options.search = {2, 2};
  options.confirm_rounds = 3;
  options.confirm_iterations = 2;
  std::map<std::string, StandInBackend*> created;
  CandidateRunner runner(world, options.bench, [&](std::string_view name) {
    auto backend = std::make_unique<StandInBackend>(MPI_COMM_WORLD, std::string(name));
    created[std::string(name)] = backend.get();
    return backend;
  });
  const bench::RunInfo info = bench::gather_run_info(world, options.bench);
  const TuneReport report = tune(runner, world, options, info, "test-fingerprint");

  EXPECT_EQ(report.profile.backend, "cuda");
  ASSERT_EQ(created.size(), 2u);
  // Each collective's baseline and chosen kernels are bound once by the search and once more, fresh, by
  // the confirmation that ends tune.
  EXPECT_EQ(created["nccl"]->binds["nccl"], 4);
  EXPECT_EQ(created["cuda"]->binds["one_shot"], 2);
  ASSERT_EQ(report.collectives.size(), 2u);
  EXPECT_EQ(report.collectives[0].labels(), (std::vector<std::string>{"nccl", "one_shot", "two_shot"}));
  for (const auto& part : report.collectives) {
    for (bool reverted : part.reverted) EXPECT_FALSE(reverted);
  }

  // allreduce: one_shot up to 1 KiB (a float per element: sizes 64 and 512 B), two_shot above;
  // alltoall: NCCL's own choice throughout.
  std::vector<Rule> allreduce, alltoall;
  for (const Rule& rule : report.profile.rules) (rule.collective == "allreduce" ? allreduce : alltoall).push_back(rule);
  ASSERT_EQ(allreduce.size(), 2u);
  EXPECT_EQ(allreduce[0].backend, "cuda");
  EXPECT_EQ(allreduce[0].choice.algorithm, "one_shot");
  EXPECT_EQ(allreduce[0].min_bytes, 0u);
  EXPECT_EQ(allreduce[0].max_bytes, 4095u);
  EXPECT_EQ(allreduce[1].choice.algorithm, "two_shot");
  EXPECT_EQ(allreduce[1].max_bytes, UINT64_MAX);
  ASSERT_TRUE(allreduce[1].runner_up.has_value());
  EXPECT_EQ(allreduce[1].runner_up->algorithm, "any");  // NCCL's choice, 100 us against 50
  ASSERT_EQ(alltoall.size(), 1u);
  EXPECT_EQ(alltoall[0].backend, "nccl");
  EXPECT_EQ(alltoall[0].choice.algorithm, "any");

  // The profile read back verifies as tuned: 10x and 2x on allreduce, the default on alltoall.
  const Profile profile = parse_profile(profile_to_json(report.profile), "tuned.json");
  VerifyOptions verify_options;
  verify_options.sizes = options.sizes;
  verify_options.rounds = 3;
  verify_options.iterations = 2;
  verify_options.bench = options.bench;
  const VerifyReport verdict = verify(runner, world, profile, verify_options);
  EXPECT_EQ(verdict.default_label, "nccl");
  EXPECT_FALSE(verdict.any_slower);
  for (const VerifyRow& row : verdict.rows) {
    if (row.collective == "alltoall") {
      EXPECT_TRUE(row.same_as_default) << row.bytes;
      continue;
    }
    EXPECT_NEAR(row.speedup, row.bytes <= 1024 ? 10.0 : 2.0, 0.05) << row.bytes << " B: " << row.tuned;
  }
}

}  // namespace
}  // namespace cctune::tuner
