// The GPU backends on one GPU, with no MPI, no hwloc and no test framework, so that it runs on the GPU
// machine as it is (scripts/gpu-check.sh):
//   1. every kernel of the cuda backend at 2, 4 and 8 virtual ranks, on random sizes, for every element
//      type and operation, in place and out of place, into poisoned outputs, against a host reference;
//   2. the device-side data check, which must agree with the host and catch a planted error;
//   3. the cuda and nccl backends themselves with one rank;
//   4. a bandwidth table: each kernel's device-memory traffic beside a device-to-device copy's.
// Exit 0 all passed, 1 something failed, 77 no GPU (ctest counts that as skipped).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/cuda/backend.hpp"
#include "collectives/cuda/group.hpp"
#include "collectives/data_pattern.hpp"
#include "collectives/error.hpp"
#include "collectives/gpu/pattern_kernels.hpp"
#include "collectives/gpu/runtime.hpp"
#include "collectives/peer_exchange.hpp"
#if CCTUNE_HAVE_NCCL
#include "collectives/nccl/backend.hpp"
#endif

namespace cctune {
namespace {

int failures = 0;

void fail(const std::string& what) {
  ++failures;
  if (failures <= 20) std::printf("FAIL %s\n", what.c_str());
}

// Element `value` (exact, or rounded once) as the bits `type` stores, zero-extended.
std::uint64_t bits_of(DataType type, double value) {
  switch (type) {
    case DataType::float32: {
      const float f = static_cast<float>(value);
      std::uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      return bits;
    }
    case DataType::float64: {
      std::uint64_t bits;
      std::memcpy(&bits, &value, sizeof bits);
      return bits;
    }
    case DataType::int32: return static_cast<std::uint32_t>(static_cast<std::int32_t>(value));
    case DataType::float16: return float_to_half(static_cast<float>(value));
    case DataType::bfloat16: return float_to_bfloat16(static_cast<float>(value));
  }
  return 0;
}

std::uint64_t load_bits(DataType type, const std::vector<std::byte>& buffer, std::size_t i) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, buffer.data() + i * size_of(type), size_of(type));  // little endian
  return bits;
}

void store_bits(DataType type, std::vector<std::byte>& buffer, std::size_t i, std::uint64_t bits) {
  std::memcpy(buffer.data() + i * size_of(type), &bits, size_of(type));
}

struct Case {
  Collective collective;
  DataType type;
  ReduceOp op;
  int nranks;
  std::size_t count;  // CollectiveArgs::count
  std::uint64_t seed;
  std::size_t elements() const { return collective == Collective::alltoall ? count * nranks : count; }
  std::int64_t bound() const { return pattern::bound(type, nranks); }
};

std::vector<std::byte> host_input(const Case& c, int rank) {
  std::vector<std::byte> input(c.elements() * size_of(c.type));
  for (std::size_t i = 0; i < c.elements(); ++i) {
    store_bits(c.type, input, i, bits_of(c.type, static_cast<double>(pattern::value(c.seed, c.bound(), rank, i))));
  }
  return input;
}

// Written independently of the device checker, which this program also checks against it.
std::vector<std::byte> host_expected(const Case& c, int rank) {
  std::vector<std::byte> expected(c.elements() * size_of(c.type));
  for (std::size_t i = 0; i < c.elements(); ++i) {
    double value = 0;
    if (c.collective == Collective::alltoall) {
      const int source = static_cast<int>(i / c.count);
      value = static_cast<double>(pattern::value(c.seed, c.bound(), source, rank * c.count + i % c.count));
    } else {
      std::int64_t acc = pattern::value(c.seed, c.bound(), 0, i);
      for (int r = 1; r < c.nranks; ++r) {
        const std::int64_t v = pattern::value(c.seed, c.bound(), r, i);
        acc = c.op == ReduceOp::max ? std::max(acc, v) : c.op == ReduceOp::min ? std::min(acc, v) : acc + v;
      }
      value = static_cast<double>(acc);
      if (c.op == ReduceOp::avg) value = static_cast<double>(static_cast<float>(value / c.nranks));
    }
    store_bits(c.type, expected, i, bits_of(c.type, value));
  }
  return expected;
}

std::string describe(const Case& c, std::string_view algorithm, bool in_place) {
  return std::string(algorithm) + " " + std::string(to_string(c.type)) + " " + std::string(to_string(c.op)) +
         " nranks=" + std::to_string(c.nranks) + " count=" + std::to_string(c.count) +
         (in_place ? " in-place" : " out-of-place");
}

// One call of `algorithm` on virtual ranks, every output poisoned first, every rank's result compared.
void check_kernel(const cuda::CudaAlgorithm& algorithm, const Case& c, bool in_place, cuda::VirtualRanks& ranks,
                  cudaStream_t stream) {
  const std::size_t bytes = c.elements() * size_of(c.type);
  for (int r = 0; r < c.nranks; ++r) {
    const auto input = host_input(c, r);
    CCTUNE_CUDA(cudaMemset(ranks.output(r), 0xff, bytes + 64));  // and past the end: nothing may land there
    if (bytes) CCTUNE_CUDA(cudaMemcpy(in_place ? ranks.output(r) : ranks.input(r), input.data(), bytes,
                                      cudaMemcpyHostToDevice));
  }
  ranks.launch(algorithm, c.count, c.type, c.op, in_place, stream);
  CCTUNE_CUDA(cudaStreamSynchronize(stream));
  for (int r = 0; r < c.nranks; ++r) {
    std::vector<std::byte> output(bytes + 64);
    CCTUNE_CUDA(cudaMemcpy(output.data(), ranks.output(r), output.size(), cudaMemcpyDeviceToHost));
    const auto expected = host_expected(c, r);
    std::size_t wrong = 0, first = 0;
    for (std::size_t i = 0; i < c.elements(); ++i) {
      if (load_bits(c.type, output, i) != load_bits(c.type, expected, i) && wrong++ == 0) first = i;
    }
    if (wrong) {
      fail(describe(c, algorithm.info().name, in_place) + ": rank " + std::to_string(r) + " has " +
           std::to_string(wrong) + " wrong elements, the first at " + std::to_string(first));
    }
    if (std::any_of(output.begin() + static_cast<std::ptrdiff_t>(bytes), output.end(),
                    [](std::byte b) { return b != std::byte{0xff}; })) {
      fail(describe(c, algorithm.info().name, in_place) + ": rank " + std::to_string(r) + " wrote past its output");
    }
    if (!in_place) {  // out of place, the input must come back untouched
      std::vector<std::byte> input(bytes);
      if (bytes) CCTUNE_CUDA(cudaMemcpy(input.data(), ranks.input(r), bytes, cudaMemcpyDeviceToHost));
      if (input != host_input(c, r)) fail(describe(c, algorithm.info().name, in_place) + ": input changed");
    }
    // The device-side check must agree: zero here, and exactly one after one planted error.
    const PatternRequest request{c.collective, c.seed, c.type, c.op, c.nranks, r, c.count};
    if (!wrong && gpu::count_wrong_on_device(ranks.output(r), request) != 0) {
      fail(describe(c, algorithm.info().name, in_place) + ": the device check disagrees with the host");
    }
    if (!wrong && c.elements() > 0 && r == 0) {
      // Flip every bit of one byte: whatever was there, that element is now wrong.
      std::byte* planted = static_cast<std::byte*>(ranks.output(r)) + c.elements() / 2 * size_of(c.type);
      std::byte value{};
      CCTUNE_CUDA(cudaMemcpy(&value, planted, 1, cudaMemcpyDeviceToHost));
      value = ~value;
      CCTUNE_CUDA(cudaMemcpy(planted, &value, 1, cudaMemcpyHostToDevice));
      if (gpu::count_wrong_on_device(ranks.output(r), request) != 1) {
        fail(describe(c, algorithm.info().name, in_place) + ": the device check missed a planted error");
      }
    }
  }
}

int correctness(std::mt19937_64& random) {
  const int before = failures;
  int cases = 0;
  gpu::Stream stream;
  const std::size_t max_elements = 1 << 20;
  std::uniform_int_distribution<std::size_t> any_count(1, max_elements / 8);
  for (int nranks : {2, 4, 8}) {
    cuda::VirtualRanks ranks(nranks, max_elements * 8 + 64);  // the largest alltoall: 8 x 131072 float64
    for (const auto& algorithm : cuda::registry()) {
      const Collective collective = algorithm->info().collective;
      // Counts around every boundary the kernels have: under one vector, not a whole number of vectors,
      // fewer than the ranks, chunks that end early, and random ones.
      std::vector<std::size_t> counts{1, 3, 7, 8, 9, 31, 33, static_cast<std::size_t>(nranks) * 8 + 5, 4099, 65536};
      for (int k = 0; k < 3; ++k) counts.push_back(any_count(random));
      const std::vector<DataType> types =
          collective == Collective::allreduce
              ? std::vector<DataType>{DataType::float32, DataType::float16, DataType::bfloat16}
              : std::vector<DataType>{DataType::float32, DataType::float16, DataType::bfloat16, DataType::float64,
                                      DataType::int32};
      const std::vector<ReduceOp> ops = collective == Collective::allreduce
                                            ? std::vector<ReduceOp>{ReduceOp::sum, ReduceOp::max, ReduceOp::min,
                                                                    ReduceOp::avg}
                                            : std::vector<ReduceOp>{ReduceOp::sum};
      for (DataType type : types) {
        for (ReduceOp op : ops) {
          for (std::size_t count : counts) {
            for (bool in_place : {false, true}) {
              check_kernel(*algorithm, Case{collective, type, op, nranks, count, random()}, in_place, ranks,
                           stream.get());
              ++cases;
            }
          }
        }
      }
    }
  }
  std::printf("kernels: %d cases at 2, 4 and 8 virtual ranks, %d failed\n", cases, failures - before);
  return failures - before;
}

// The backends as cctune drives them, with one rank: allocate, fill on the device, run, check on the device.
int one_rank_backend(Backend& backend) {
  const int before = failures;
  const std::size_t count = 1 << 20;
  auto send = backend.allocate(count * 8);
  auto recv = backend.allocate(count * 8);
  for (const AlgorithmInfo& info : backend.algorithms()) {
    for (DataType type : {DataType::float32, DataType::bfloat16}) {
      const PatternRequest request{info.collective, 7, type, ReduceOp::sum, 1, 0, count};
      backend.fill_input(*send, request);
      recv->fill_bytes(std::byte{0xff}, count * size_of(type));
      auto bound = backend.bind(info.collective, info.name);
      const CollectiveArgs args{send->data(), recv->data(), count, type, ReduceOp::sum};
      bound->run(args);
      const auto wrong = backend.count_wrong(*recv, request);
      const auto times = bound->time_on_device(args, 20);
      const double median = times && !times->empty() ? [&] {
        auto sorted = *times;
        std::sort(sorted.begin(), sorted.end());
        return sorted[sorted.size() / 2];
      }() : 0.0;
      std::printf("  %-5s %-10s %-12s %-9s %zu elements: %s, %.1f us\n", std::string(backend.name()).c_str(),
                  std::string(to_string(info.collective)).c_str(), std::string(info.name).c_str(),
                  std::string(to_string(type)).c_str(), count, wrong && *wrong == 0 ? "correct" : "WRONG", median);
      if (!wrong || *wrong != 0) fail(std::string(backend.name()) + " " + std::string(info.name) + " one rank");
    }
  }
  return failures - before;
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

// Median microseconds of `repeat` runs of `queue`, each between two events on `stream`.
template <typename Queue>
double time_us(cudaStream_t stream, int repeat, Queue&& queue) {
  for (int i = 0; i < 3; ++i) queue();  // warm-up: module load, first touch
  gpu::CallTimer timer;
  timer.reserve(repeat);
  timer.mark(0, stream);
  for (int i = 0; i < repeat; ++i) {
    queue();
    timer.mark(i + 1, stream);
  }
  CCTUNE_CUDA(cudaStreamSynchronize(stream));
  return median_of(timer.microseconds(repeat));
}

// Bytes each kernel reads plus writes in device memory per call, all virtual ranks together, for a
// vector (allreduce) or send buffer (alltoall) of `bytes` per rank: what its bandwidth is counted on,
// as the copy's is (2 x bytes).
double traffic_bytes(std::string_view algorithm, int n, double bytes) {
  if (algorithm == "one_shot") return n * (n + 1) * bytes;   // each rank reads n vectors, writes one
  if (algorithm == "two_shot") return (3.0 * n - 1) * bytes;  // n reads + 1 write, then 2(n-1)/n per rank
  return 2.0 * n * bytes;                                      // alltoall: every byte read once, written once
}

void bandwidth_table() {
  gpu::Stream stream;
  const std::size_t largest = std::size_t{256} << 20;
  gpu::DeviceMemory from(largest), to(largest);
  CCTUNE_CUDA(cudaMemset(from.get(), 1, largest));
  const int repeat = 20;
  std::printf("\nbandwidth: device-memory traffic (bytes read + written) per second, median of %d\n", repeat);
  std::printf("%-13s %6s %10s %12s %14s %12s\n", "kernel", "ranks", "MiB/rank", "time us", "traffic GB/s", "of copy");
  std::vector<std::string> summary;
  for (std::size_t bytes : {std::size_t{1} << 20, std::size_t{16} << 20, largest}) {
    const double copy_us = time_us(stream.get(), repeat, [&] {
      CCTUNE_CUDA(cudaMemcpyAsync(to.get(), from.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
    });
    const double copy_gbs = 2.0 * static_cast<double>(bytes) / copy_us / 1e3;
    std::printf("%-13s %6s %10zu %12.1f %14.1f %11.0f%%\n", "d2d copy", "-", bytes >> 20, copy_us, copy_gbs, 100.0);
    for (int n : {2, 4, 8}) {
      cuda::VirtualRanks ranks(n, bytes);
      for (int r = 0; r < n; ++r) {
        gpu::fill_input_on_device(ranks.input(r), {Collective::allreduce, 1, DataType::bfloat16, ReduceOp::sum, n, r,
                                                   bytes / 2});
      }
      for (const auto& algorithm : cuda::registry()) {
        const bool reduces = algorithm->info().collective == Collective::allreduce;
        const DataType type = DataType::bfloat16;
        const std::size_t count = reduces ? bytes / 2 : bytes / 2 / static_cast<std::size_t>(n);
        const double us = time_us(stream.get(), repeat, [&] {
          ranks.launch(*algorithm, count, type, ReduceOp::sum, false, stream.get());
        });
        const double gbs = traffic_bytes(algorithm->info().name, n, static_cast<double>(bytes)) / us / 1e3;
        std::printf("%-13s %6d %10zu %12.1f %14.1f %11.0f%%\n", std::string(algorithm->info().name).c_str(), n,
                    bytes >> 20, us, gbs, 100.0 * gbs / copy_gbs);
        if (bytes == largest && algorithm->info().name == "two_shot") {
          char line[160];
          std::snprintf(line, sizeof line, "two_shot bf16 %d ranks 256 MiB: %.0f GB/s = %.0f%% of the d2d copy's %.0f GB/s",
                        n, gbs, 100.0 * gbs / copy_gbs, copy_gbs);
          summary.emplace_back(line);
        }
      }
    }
  }
  std::printf("\n");
  for (const auto& line : summary) std::printf("%s\n", line.c_str());
}

int run(int argc, char** argv) {
  std::string why;
  if (gpu::usable_devices(&why) == 0) {
    std::printf("SKIP: no GPU here (%s); the GPU checks need one\n", why.c_str());
    return 77;
  }
  const bool bandwidth = !(argc > 1 && std::string(argv[1]) == "--no-bandwidth");
  cudaDeviceProp properties{};
  CCTUNE_CUDA(cudaGetDeviceProperties(&properties, 0));
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  std::printf("device: %s, %d multiprocessors, %.0f GiB, CUDA runtime %d, driver %d\n", properties.name,
              properties.multiProcessorCount, static_cast<double>(properties.totalGlobalMem) / (1 << 30), runtime,
              driver);
  std::mt19937_64 random(20261121);
  const int kernel_failures = correctness(random);

  std::printf("one-rank runs through the backends:\n");
  BackendSettings settings{60};
  cuda::CudaBackend cuda_backend(std::make_unique<SingleProcess>(), settings);
  const int cuda_failures = one_rank_backend(cuda_backend);
  int nccl_failures = 0;
#if CCTUNE_HAVE_NCCL
  std::printf("  NCCL %s (built against %d.%d.%d)\n", nccl::loaded_version().c_str(), NCCL_MAJOR, NCCL_MINOR,
              NCCL_PATCH);
  nccl::NcclBackend nccl_backend(std::make_unique<SingleProcess>(), settings);
  nccl_failures = one_rank_backend(nccl_backend);
#else
  std::printf("  nccl: not built (no NCCL found)\n");
#endif
  if (bandwidth) bandwidth_table();
  std::printf("\nsummary: kernels %s, cuda backend %s, nccl backend %s\n", kernel_failures ? "FAILED" : "correct",
              cuda_failures ? "FAILED" : "correct", nccl_failures ? "FAILED" : "correct");
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace cctune

int main(int argc, char** argv) {
  try {
    return cctune::run(argc, argv);
  } catch (const cctune::Error& e) {
    std::printf("error: %s (%s:%d)\n", e.what(), e.file(), e.line());
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
  }
  return 1;
}
