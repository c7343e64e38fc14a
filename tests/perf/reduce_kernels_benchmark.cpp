// Host reduction kernels against memcpy on the same buffers. Both report memory traffic per second:
// a reduction reads two buffers and writes one (3 bytes of traffic per vector byte), memcpy reads
// one and writes one (2 per byte), so equal traffic means the kernel is as memory-bound as a copy.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "collectives/reduce.hpp"

namespace {

using cctune::DataType;
using cctune::ReduceOp;

void set_traffic(benchmark::State& state, std::size_t bytes, int streams) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes));
  state.counters["traffic_GBps"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(bytes) * streams / 1e9,
      benchmark::Counter::kIsRate);
}

template <DataType Type, ReduceOp Op>
void BM_Reduce(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const std::size_t count = bytes / cctune::size_of(Type);
  std::vector<std::byte> accumulator(bytes, std::byte{0}), input(bytes, std::byte{0});
  for (auto _ : state) {
    cctune::reduce_into(accumulator.data(), input.data(), count, Type, Op);
    benchmark::DoNotOptimize(accumulator.data());
    benchmark::ClobberMemory();
  }
  set_traffic(state, bytes, 3);
}

void BM_Memcpy(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> destination(bytes, std::byte{0}), source(bytes, std::byte{1});
  for (auto _ : state) {
    std::memcpy(destination.data(), source.data(), bytes);
    benchmark::DoNotOptimize(destination.data());
    benchmark::ClobberMemory();
  }
  set_traffic(state, bytes, 2);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t bytes : {4096LL, 65536LL, 1LL << 20, 16LL << 20, 64LL << 20}) b->Arg(bytes);
}

BENCHMARK(BM_Memcpy)->Apply(sizes);
BENCHMARK(BM_Reduce<DataType::float32, ReduceOp::sum>)->Name("BM_ReduceSum_float32")->Apply(sizes);
BENCHMARK(BM_Reduce<DataType::float64, ReduceOp::sum>)->Name("BM_ReduceSum_float64")->Apply(sizes);
BENCHMARK(BM_Reduce<DataType::int32, ReduceOp::sum>)->Name("BM_ReduceSum_int32")->Apply(sizes);
BENCHMARK(BM_Reduce<DataType::float32, ReduceOp::max>)->Name("BM_ReduceMax_float32")->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
