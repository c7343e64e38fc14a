// Every algorithm of the MPI backend against the MPI library's own result, bit for bit, on random
// counts (0, 1, fewer than the ranks, not divisible by them, large), every dtype, every op, in place
// and out of place. Run by ctest at 1, 2, 3, 4 and 5 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <random>
#include <vector>

#include "bench/patterns.hpp"
#include "collectives/backends.hpp"
#include "collectives/error.hpp"
#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/backend.hpp"
#include "collectives/mpi/node_segment.hpp"

namespace cctune {
namespace {

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

// The same counts on every rank: generated from a fixed seed, never from rank-local state.
std::vector<std::size_t> test_counts() {
  const auto n = static_cast<std::size_t>(world_size());
  std::vector<std::size_t> counts{0, 1, n > 1 ? n - 1 : 1, n + 1, 7 * n + 3, 4096};
  std::mt19937_64 rng(20261121);
  for (int i = 0; i < 3; ++i) counts.push_back(std::uniform_int_distribution<std::size_t>(2, 70000)(rng));
  return counts;
}

std::vector<std::byte> run(Backend& backend, Collective collective, const std::string& algorithm,
                           const std::vector<std::byte>& input, std::size_t count_per_call, DataType type,
                           ReduceOp op, bool in_place) {
  auto bound = backend.bind(collective, algorithm);
  std::vector<std::byte> send = input;
  std::vector<std::byte> recv(input.size());
  bench::poison(recv.data(), recv.size());
  CollectiveArgs args;
  args.count = count_per_call;
  args.type = type;
  args.op = op;
  if (in_place) {
    recv = input;
    args.send = recv.data();
  } else {
    args.send = send.data();
  }
  args.recv = recv.data();
  bound->run(args);
  if (!in_place) {
    EXPECT_EQ(send, input) << algorithm << " modified its send buffer";
  }
  return recv;
}

std::string names(Collective c, const std::string& algorithm, DataType t, ReduceOp op, std::size_t count,
                  bool in_place) {
  return std::string(to_string(c)) + "/" + algorithm + " " + std::string(to_string(t)) + " " +
         std::string(to_string(op)) + " count " + std::to_string(count) + (in_place ? " in-place" : " out-of-place");
}

class MpiCollectives : public testing::Test {
 protected:
  mpi::MpiBackend backend{MPI_COMM_WORLD};
  int rank = world_rank();
  int size = world_size();
};

TEST_F(MpiCollectives, EveryAllreduceMatchesTheLibraryAndTheExactResult) {
  for (const auto& info : backend.algorithms()) {
    if (info.collective != Collective::allreduce || info.name == "mpi") continue;
    for (DataType type : all_datatypes()) {
      for (ReduceOp op : all_reduce_ops()) {
        if (op == ReduceOp::avg && !is_floating(type)) continue;
        for (std::size_t count : test_counts()) {
          const bench::PatternSpec spec{count * 31 + 7, type, size};
          std::vector<std::byte> input(count * size_of(type));
          bench::fill_pattern(spec, rank, 0, count, input.data());
          std::vector<std::byte> expected(input.size());
          bench::expected_allreduce(spec, op, count, expected.data());
          for (bool in_place : {false, true}) {
            const auto reference = run(backend, Collective::allreduce, "mpi", input, count, type, op, in_place);
            const auto ours = run(backend, Collective::allreduce, std::string(info.name), input, count, type, op,
                                  in_place);
            const std::string what = names(Collective::allreduce, std::string(info.name), type, op, count, in_place);
            ASSERT_EQ(bench::count_mismatches(reference.data(), expected.data(), count, type), 0u)
                << "library vs exact: " << what;
            ASSERT_EQ(bench::count_mismatches(ours.data(), reference.data(), count, type), 0u) << what;
          }
        }
      }
    }
  }
}

TEST_F(MpiCollectives, EveryAlltoallMatchesTheLibraryAndTheExactResult) {
  for (const auto& info : backend.algorithms()) {
    if (info.collective != Collective::alltoall || info.name == "mpi") continue;
    for (DataType type : all_datatypes()) {
      for (std::size_t per_peer : test_counts()) {
        if (per_peer > 20000) per_peer /= static_cast<std::size_t>(size);  // keep total buffers small
        const bench::PatternSpec spec{per_peer * 17 + 3, type, size};
        const std::size_t total = per_peer * static_cast<std::size_t>(size);
        std::vector<std::byte> input(total * size_of(type));
        bench::fill_alltoall_input(spec, rank, per_peer, input.data());
        std::vector<std::byte> expected(input.size());
        bench::expected_alltoall(spec, rank, per_peer, expected.data());
        for (bool in_place : {false, true}) {
          const auto reference =
              run(backend, Collective::alltoall, "mpi", input, per_peer, type, ReduceOp::sum, in_place);
          const auto ours = run(backend, Collective::alltoall, std::string(info.name), input, per_peer, type,
                                ReduceOp::sum, in_place);
          const std::string what =
              names(Collective::alltoall, std::string(info.name), type, ReduceOp::sum, per_peer, in_place);
          ASSERT_EQ(bench::count_mismatches(reference.data(), expected.data(), total, type), 0u)
              << "library vs exact: " << what;
          ASSERT_EQ(bench::count_mismatches(ours.data(), reference.data(), total, type), 0u) << what;
        }
      }
    }
  }
}

// Random (not integer) data: max and min must still agree with the library bit for bit, whatever the
// order of reduction, and so must sums of float64 values that are exact by construction.
TEST_F(MpiCollectives, MaxAndMinOfRandomFloatsMatchTheLibrary) {
  std::mt19937 rng(static_cast<unsigned>(rank) * 7919u + 1u);
  std::uniform_real_distribution<float> dist(-1e6f, 1e6f);
  const std::size_t count = 10007;
  std::vector<std::byte> input(count * sizeof(float));
  for (std::size_t i = 0; i < count; ++i) {
    const float v = dist(rng);
    std::memcpy(input.data() + i * sizeof(float), &v, sizeof v);
  }
  for (const auto& info : backend.algorithms()) {
    if (info.collective != Collective::allreduce) continue;
    for (ReduceOp op : {ReduceOp::max, ReduceOp::min}) {
      const auto reference = run(backend, Collective::allreduce, "mpi", input, count, DataType::float32, op, false);
      const auto ours =
          run(backend, Collective::allreduce, std::string(info.name), input, count, DataType::float32, op, false);
      ASSERT_EQ(bench::count_mismatches(ours.data(), reference.data(), count, DataType::float32), 0u) << info.name;
    }
  }
}

// Half-precision inputs with fractional bits: summing them in half would round at every step and
// depend on the order; summed in float32 (exact for these values) and rounded once, every algorithm
// must return exactly the correctly rounded sum.
TEST_F(MpiCollectives, HalfPrecisionSumsAreRoundedOnce) {
  for (DataType type : {DataType::float16, DataType::bfloat16}) {
    const std::size_t count = 4099;
    const int mantissa_bits = type == DataType::float16 ? 10 : 7;
    auto value_of = [&](int r, std::size_t i) {
      // 1 + k / 2^bits: representable in the half type; sums of up to 5 stay exact in float32.
      const auto k = static_cast<unsigned>((i * 2654435761u + static_cast<unsigned>(r) * 40503u) % (1u << mantissa_bits));
      return 1.0f + static_cast<float>(k) / static_cast<float>(1u << mantissa_bits);
    };
    auto encode = [&](float v) {
      return type == DataType::float16 ? float_to_half(v) : float_to_bfloat16(v);
    };
    std::vector<std::byte> input(count * 2);
    std::vector<std::uint16_t> expected(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint16_t bits = encode(value_of(rank, i));
      std::memcpy(input.data() + 2 * i, &bits, 2);
      float exact = 0;
      for (int r = 0; r < size; ++r) exact += value_of(r, i);
      expected[i] = encode(exact);
    }
    for (const auto& info : backend.algorithms()) {
      if (info.collective != Collective::allreduce) continue;
      for (bool in_place : {false, true}) {
        const auto ours = run(backend, Collective::allreduce, std::string(info.name), input, count, type,
                              ReduceOp::sum, in_place);
        ASSERT_EQ(bench::count_mismatches(ours.data(), expected.data(), count, type), 0u)
            << info.name << " " << to_string(type);
      }
    }
  }
}

// The shm_* algorithms cut large messages into rounds of the segment's size, and inside a job
// (libcctune-mpi.so) all of them share one segment per communicator. Messages several rounds long,
// in place and not, alternating between the three on one workspace, must all still be exact.
TEST_F(MpiCollectives, SharedMemoryAlgorithmsCrossRoundsAndShareOneSegment) {
  const auto find = [](Collective collective, std::string_view name) -> const mpi::MpiAlgorithm& {
    for (const auto& algorithm : mpi::registry()) {
      if (algorithm->info().collective == collective && algorithm->info().name == name) return *algorithm;
    }
    throw std::logic_error("no algorithm " + std::string(name));
  };
  const mpi::MpiAlgorithm& direct = find(Collective::allreduce, "shm_direct");
  const mpi::MpiAlgorithm& split = find(Collective::allreduce, "shm_split");
  const mpi::MpiAlgorithm& alltoall = find(Collective::alltoall, "shm");
  Communicator comm = Communicator::duplicate(MPI_COMM_WORLD);
  mpi::Workspace workspace;
  const std::size_t part = mpi::default_part_bytes(size);
  const auto n = static_cast<std::size_t>(size);

  struct Step {
    const mpi::MpiAlgorithm* algorithm;
    std::size_t count;
    DataType type;
    bool in_place;
  };
  const std::vector<Step> steps{
      {&split, 5 * part / 2 / 4 + 3, DataType::float32, false},    // 3 rounds
      {&alltoall, 5 * part / n / 4 + 1, DataType::int32, false},  // 3 rounds of 2 * part / n per block
      {&direct, 5 * part / 8 + 1, DataType::float64, true},       // 2 rounds of 2 * part
      {&direct, 3, DataType::int32, false},
      {&alltoall, 1, DataType::float32, true},
      {&split, 7, DataType::float64, true},                       // fewer elements than ranks
      {&alltoall, 5 * part / n / 4 + 1, DataType::int32, true},
      {&split, 5 * part / 2 / 8 + 1, DataType::float64, true},
  };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    const Collective collective = step.algorithm->info().collective;
    const bench::PatternSpec spec{i * 101 + 5, step.type, size};
    const std::size_t total = collective == Collective::alltoall ? step.count * n : step.count;
    std::vector<std::byte> input(total * size_of(step.type));
    std::vector<std::byte> expected(input.size());
    if (collective == Collective::alltoall) {
      bench::fill_alltoall_input(spec, rank, step.count, input.data());
      bench::expected_alltoall(spec, rank, step.count, expected.data());
    } else {
      bench::fill_pattern(spec, rank, 0, step.count, input.data());
      bench::expected_allreduce(spec, ReduceOp::sum, step.count, expected.data());
    }
    std::vector<std::byte> recv = step.in_place ? input : std::vector<std::byte>(input.size());
    const CollectiveArgs args{step.in_place ? recv.data() : input.data(), recv.data(), step.count, step.type,
                              ReduceOp::sum};
    step.algorithm->run(comm, args, workspace);
    ASSERT_EQ(bench::count_mismatches(recv.data(), expected.data(), total, step.type), 0u)
        << "step " << i << ": " << to_string(collective) << "/" << step.algorithm->info().name << " count "
        << step.count << (step.in_place ? " in place" : "");
  }
}

TEST_F(MpiCollectives, UnknownAlgorithmIsAUsageError) {
  EXPECT_THROW(backend.bind(Collective::allreduce, "bruck"), UsageError);
  EXPECT_THROW(backend.bind(Collective::alltoall, "nonexistent"), UsageError);
}

}  // namespace
}  // namespace cctune
