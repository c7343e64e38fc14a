// The sweep end to end on real ranks: rows for every size, sane timings, and a backend that corrupts
// one element on one rank must be caught by the check and counted once.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>

#include "bench/patterns.hpp"
#include "bench/sweep.hpp"
#include "tests/mpi/test_backends.hpp"

namespace cctune::bench {
namespace {

class RecordingSink final : public Sink {
 public:
  void row(const Row& row) override { rows.push_back(row); }
  void end_table(const TableTotals& totals) override { tables.push_back(totals); }
  std::vector<Row> rows;
  std::vector<TableTotals> tables;
};

using testing_backends::WrappedMpiBackend;

// Flips the bits of element 0 of the last rank's result.
class CorruptingBackend final : public WrappedMpiBackend {
 public:
  using WrappedMpiBackend::WrappedMpiBackend;
  std::string_view name() const override { return "corrupting"; }
  std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) override {
    struct Corrupting final : BoundCollective {
      std::unique_ptr<BoundCollective> inner;
      bool corrupt = false;
      const AlgorithmInfo& info() const override { return inner->info(); }
      void run(const CollectiveArgs& args) override {
        inner->run(args);
        if (corrupt && args.count > 0) static_cast<unsigned char*>(args.recv)[0] ^= 0x40;
      }
    };
    auto bound = std::make_unique<Corrupting>();
    bound->inner = inner_.bind(collective, algorithm);
    bound->corrupt = inner_.rank() == inner_.size() - 1;
    return bound;
  }
};

// Runs on the MPI backend but answers as a device backend does (collectives/gpu): it fills the input and
// counts wrong elements itself, and times its calls itself. The sweep must take those answers as given.
class DeviceStyleBackend final : public WrappedMpiBackend {
 public:
  using WrappedMpiBackend::WrappedMpiBackend;
  std::string_view name() const override { return "device-style"; }
  std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) override {
    ++binds;
    // 1, 2, 3, ... us: recognisably ours
    return std::make_unique<testing_backends::SelfTimedCollective>(
        inner_.bind(collective, algorithm), [](const CollectiveArgs&, int i) { return i + 1.0; });
  }
  bool fill_input(Buffer& buffer, const PatternRequest& input) override {
    ++fills;
    const PatternSpec spec{input.seed, input.type, input.nranks};
    if (input.collective == Collective::allreduce) {
      fill_pattern(spec, input.rank, 0, input.count, buffer.data());
    } else {
      fill_alltoall_input(spec, input.rank, input.count, buffer.data());
    }
    return true;
  }
  std::optional<std::uint64_t> count_wrong(Buffer&, const PatternRequest&) override {
    ++checks;
    return rank() == size() - 1 ? 1 : 0;  // the last rank always reports one wrong element
  }
  int fills = 0;
  int checks = 0;
  int binds = 0;
};

BenchOptions small_options(Collective collective, const std::string& algorithm) {
  BenchOptions options;
  options.selections = {{collective, {algorithm}, {}, {}}};
  options.sizes = {64, 4096, 65536};
  options.iterations = 4;
  options.warmup = 1;
  options.check_iterations = 2;
  return options;
}

// Runs the sweep on every rank, handing the rows to `sink`; returns the wrong elements over all ranks.
std::uint64_t sweep(Backend& backend, const BenchOptions& options, RecordingSink& sink) {
  Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
  const RunInfo info = gather_run_info(world, options);
  return run_sweep(backend, world, options, info, {&sink}, nullptr, nullptr);
}

TEST(Sweep, ProducesOneVerifiedRowPerSize) {
  mpi::MpiBackend backend(MPI_COMM_WORLD);
  for (Collective collective : all_collectives()) {
    const BenchOptions options = small_options(collective, "mpi");
    RecordingSink sink;
    const auto wrong = sweep(backend, options, sink);
    EXPECT_EQ(wrong, 0u);
    ASSERT_EQ(sink.rows.size(), options.sizes.size());
    for (const Row& row : sink.rows) {
      for (const PlacementResult* p : {&row.out_of_place, &row.in_place}) {
        EXPECT_EQ(p->wrong, 0u);
        EXPECT_EQ(p->samples_us.size(), 4u);
        EXPECT_GT(p->time_us, 0.0);
        EXPECT_LE(p->slowest.min, p->slowest.median);
        EXPECT_LE(p->slowest.median, p->slowest.p99);
      }
    }
  }
}

TEST(Sweep, CountsEveryCorruptedElement) {
  CorruptingBackend backend(MPI_COMM_WORLD);
  const BenchOptions options = small_options(Collective::allreduce, "ring");
  RecordingSink sink;
  const auto wrong = sweep(backend, options, sink);
  // One element per check iteration, per placement, per size, on exactly one rank.
  EXPECT_EQ(wrong, options.sizes.size() * 2 * 2);
  ASSERT_EQ(sink.rows.size(), options.sizes.size());
  EXPECT_EQ(sink.rows[0].out_of_place.wrong, 2u);
  EXPECT_EQ(sink.rows[0].in_place.wrong, 2u);
  ASSERT_EQ(sink.tables.size(), 1u);
  EXPECT_EQ(sink.tables[0].wrong, wrong);
}

TEST(Sweep, TakesADeviceBackendsOwnTimesFillsAndChecks) {
  DeviceStyleBackend backend(MPI_COMM_WORLD);
  const BenchOptions options = small_options(Collective::allreduce, "ring");
  RecordingSink sink;
  const auto wrong = sweep(backend, options, sink);
  EXPECT_EQ(wrong, options.sizes.size() * 2 * 2);  // the backend's own count, summed over ranks
  EXPECT_GT(backend.fills, 0);
  EXPECT_EQ(backend.checks, static_cast<int>(options.sizes.size()) * 2 * 2);
  ASSERT_EQ(sink.rows.size(), options.sizes.size());
  for (const Row& row : sink.rows) {
    EXPECT_EQ(row.out_of_place.samples_us, (std::vector<double>{1, 2, 3, 4}));
    EXPECT_DOUBLE_EQ(row.out_of_place.time_us, 2.5);  // the mean of the backend's samples
    EXPECT_EQ(row.in_place.wrong, 2u);
  }
}

TEST(Sweep, RoundsShareOutTheIterationsAndCheckInTheFirstOnly) {
  DeviceStyleBackend backend(MPI_COMM_WORLD);
  BenchOptions options = small_options(Collective::allreduce, "ring");
  options.selections[0].algorithms = {"ring", "mpi"};
  options.iterations = 7;
  options.rounds = 3;
  RecordingSink sink;
  const auto wrong = sweep(backend, options, sink);
  EXPECT_EQ(backend.binds, 2);  // each table bound once, kept over the rounds
  // Checked once per size and placement with -c 2, as without rounds; the last rank reports 1 each time.
  EXPECT_EQ(backend.checks, 2 * static_cast<int>(options.sizes.size()) * 2 * 2);
  EXPECT_EQ(wrong, 2 * options.sizes.size() * 2 * 2);
  ASSERT_EQ(sink.rows.size(), 2 * options.sizes.size());
  ASSERT_EQ(sink.tables.size(), 2u);
  for (std::size_t i = 0; i < sink.rows.size(); ++i) {
    const Row& row = sink.rows[i];
    EXPECT_EQ(row.algorithm, i < options.sizes.size() ? "ring" : "mpi");  // table by table, as without rounds
    EXPECT_EQ(row.shape.requested_bytes, options.sizes[i % options.sizes.size()]);
    for (const PlacementResult* p : {&row.out_of_place, &row.in_place}) {
      // 7 iterations in rounds of 3, 2 and 2, each round's samples numbered from 1 by the backend.
      EXPECT_EQ(p->samples_us, (std::vector<double>{1, 2, 3, 1, 2, 1, 2}));
      EXPECT_DOUBLE_EQ(p->time_us, 12.0 / 7.0);  // the mean over all rounds, not of the rounds' means
      EXPECT_DOUBLE_EQ(p->slowest.median, 2.0);
      EXPECT_DOUBLE_EQ(p->slowest.max, 3.0);
      EXPECT_EQ(p->wrong, 2u);
      const double algbw = static_cast<double>(row.shape.bytes) / (12.0 / 7.0 * 1e-6) / 1e9;
      EXPECT_DOUBLE_EQ(p->algbw_gbs, algbw);
      EXPECT_DOUBLE_EQ(p->busbw_gbs, algbw * bus_bandwidth_factor(Collective::allreduce, backend.size()));
    }
  }
}

}  // namespace
}  // namespace cctune::bench
