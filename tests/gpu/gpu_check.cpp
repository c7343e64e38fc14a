// The GPU backends on one GPU, with no MPI, no hwloc and no test framework, so that it runs on the GPU
// machine as it is (scripts/gpu-check.sh):
//   1. every kernel of the cuda backend at 2, 4 and 8 virtual ranks, on random sizes, for every element
//      type and operation, in place and out of place, into poisoned outputs, against a host reference;
//   2. the device-side data check, which must agree with the host and catch a planted error;
//   3. the cuda and nccl backends themselves with one rank, and the nccl backend under each of
//      nccl-tests' launch options (-z -m -C -y -G -R -x);
//   4. with two GPUs or more, both backends again with two real processes, one per GPU (each kernel,
//      random sizes, every type and operation, in place and out of place, at offsets into the shared
//      buffers): what virtual ranks on one GPU never exercise (system-scope ordering over NVLink, IPC
//      offsets, each process's own barrier epochs);
//   5. with two GPUs or more and --estimates FILE, NCCL's own estimates (ncclGroupSimulateEnd) for every
//      GPU here, one process each, which scripts/nccl_estimates.py sets beside `cctune plan`;
//   6. a bandwidth table: each kernel's device-memory traffic beside a device-to-device copy's.
// Exit 0 all passed, 1 something failed or this GPU cannot run it, 77 no GPU (ctest counts that as
// skipped). When it does not run, its last line says exactly why ("gpu_check: did not run: ...").
#include <unistd.h>

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
#include "collectives/gpu/kernel_image.hpp"
#include "collectives/gpu/pattern_kernels.hpp"
#include "collectives/gpu/runtime.hpp"
#include "collectives/peer_exchange.hpp"
#include "tests/gpu/gpu_environment.hpp"
#include "tests/gpu/process_peers.hpp"
#if CCTUNE_HAVE_NCCL
#include "collectives/nccl/backend.hpp"
#include "tests/gpu/nccl_estimates.hpp"
#endif

namespace cctune {
namespace {

int failures = 0;
std::string fail_prefix;  // "[rank 1] " in a rank of the two-process run

void fail(const std::string& what) {
  ++failures;
  if (failures <= 20) std::printf("%sFAIL %s\n", fail_prefix.c_str(), what.c_str());
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

// Every copy and memset below is queued on the kernel's own stream. The plain cudaMemcpy/cudaMemset
// calls this used before run on the legacy default stream, which a non-blocking stream (gpu::Stream)
// is not ordered after: a pageable cudaMemcpy may return before its DMA has landed, and cudaMemset
// returns at once, so the kernel could read half-written inputs and report a false failure. Each host
// buffer a copy reads or writes lives until the stream is synchronised.
void copy_to_device(void* to, const void* from, std::size_t bytes, cudaStream_t stream) {
  if (bytes) CCTUNE_CUDA(cudaMemcpyAsync(to, from, bytes, cudaMemcpyHostToDevice, stream));
}
void copy_to_host(void* to, const void* from, std::size_t bytes, cudaStream_t stream) {
  if (bytes) CCTUNE_CUDA(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToHost, stream));
}

// What a rank's output must hold after one call: compares it (and the 64 bytes past it, and the input
// out of place) with the host's reference, and the device checker with both. `output` and `input` are
// this rank's buffers on the current device; `stream` the one the call ran on, already finished.
// Returns the number of wrong elements.
std::size_t check_output(const Case& c, std::string_view algorithm, bool in_place, int r, void* output,
                         const void* input, cudaStream_t stream) {
  const std::size_t bytes = c.elements() * size_of(c.type);
  std::vector<std::byte> result(bytes + 64), input_now(in_place ? 0 : bytes);
  copy_to_host(result.data(), output, result.size(), stream);
  if (!in_place) copy_to_host(input_now.data(), input, bytes, stream);
  CCTUNE_CUDA(cudaStreamSynchronize(stream));
  const auto expected = host_expected(c, r);
  std::size_t wrong = 0, first = 0;
  for (std::size_t i = 0; i < c.elements(); ++i) {
    if (load_bits(c.type, result, i) != load_bits(c.type, expected, i) && wrong++ == 0) first = i;
  }
  if (wrong) {
    fail(describe(c, algorithm, in_place) + ": rank " + std::to_string(r) + " has " + std::to_string(wrong) +
         " wrong elements, the first at " + std::to_string(first));
  }
  if (std::any_of(result.begin() + static_cast<std::ptrdiff_t>(bytes), result.end(),
                  [](std::byte b) { return b != std::byte{0xff}; })) {
    fail(describe(c, algorithm, in_place) + ": rank " + std::to_string(r) + " wrote past its output");
  }
  if (!in_place && input_now != host_input(c, r)) fail(describe(c, algorithm, in_place) + ": input changed");
  // The device-side check must agree: zero here, and exactly one after one planted error. It runs on
  // the legacy stream and synchronises; the call's stream has finished, so nothing is in flight.
  const PatternRequest request{c.collective, c.seed, c.type, c.op, c.nranks, r, c.count};
  if (!wrong && gpu::count_wrong_on_device(output, request) != 0) {
    fail(describe(c, algorithm, in_place) + ": the device check disagrees with the host");
  }
  if (!wrong && c.elements() > 0 && r == 0) {
    // Flip every bit of one byte: whatever was there, that element is now wrong. Plain copies on the
    // legacy stream are right here: count_wrong_on_device runs there too, so the copy that may still
    // be landing when cudaMemcpy returns is ordered before its kernel.
    std::byte* planted = static_cast<std::byte*>(output) + c.elements() / 2 * size_of(c.type);
    std::byte value{};
    CCTUNE_CUDA(cudaMemcpy(&value, planted, 1, cudaMemcpyDeviceToHost));
    value = ~value;
    CCTUNE_CUDA(cudaMemcpy(planted, &value, 1, cudaMemcpyHostToDevice));
    if (gpu::count_wrong_on_device(output, request) != 1) {
      fail(describe(c, algorithm, in_place) + ": the device check missed a planted error");
    }
  }
  return wrong;
}

// One call of `algorithm` on virtual ranks, every output poisoned first, every rank's result compared.
void check_kernel(const cuda::CudaAlgorithm& algorithm, const Case& c, bool in_place, cuda::VirtualRanks& ranks,
                  cudaStream_t stream) {
  const std::size_t bytes = c.elements() * size_of(c.type);
  std::vector<std::vector<std::byte>> inputs;  // alive until the stream has copied them
  for (int r = 0; r < c.nranks; ++r) {
    inputs.push_back(host_input(c, r));
    // and past the end: nothing may land there
    CCTUNE_CUDA(cudaMemsetAsync(ranks.output(r), 0xff, bytes + 64, stream));
    copy_to_device(in_place ? ranks.output(r) : ranks.input(r), inputs.back().data(), bytes, stream);
  }
  ranks.launch(algorithm, c.count, c.type, c.op, in_place, stream);
  CCTUNE_CUDA(cudaStreamSynchronize(stream));
  for (int r = 0; r < c.nranks; ++r) {
    check_output(c, algorithm.info().name, in_place, r, ranks.output(r), ranks.input(r), stream);
  }
}

// Counts around every boundary the kernels have: under one vector, not a whole number of vectors,
// fewer than the ranks, chunks that end early, and random ones.
std::vector<std::size_t> counts_for(int nranks, std::mt19937_64& random, std::size_t max_elements) {
  std::uniform_int_distribution<std::size_t> any_count(1, max_elements / 8);
  std::vector<std::size_t> counts{1, 3, 7, 8, 9, 31, 33, static_cast<std::size_t>(nranks) * 8 + 5, 4099, 65536};
  for (int k = 0; k < 3; ++k) counts.push_back(any_count(random));
  return counts;
}

std::vector<DataType> types_for(Collective collective) {
  return collective == Collective::allreduce
             ? std::vector<DataType>{DataType::float32, DataType::float16, DataType::bfloat16}
             : std::vector<DataType>{DataType::float32, DataType::float16, DataType::bfloat16, DataType::float64,
                                     DataType::int32};
}

std::vector<ReduceOp> ops_for(Collective collective) {
  return collective == Collective::allreduce
             ? std::vector<ReduceOp>{ReduceOp::sum, ReduceOp::max, ReduceOp::min, ReduceOp::avg}
             : std::vector<ReduceOp>{ReduceOp::sum};
}

int correctness(std::mt19937_64& random) {
  const int before = failures;
  int cases = 0;
  gpu::Stream stream;
  const std::size_t max_elements = 1 << 20;
  for (int nranks : {2, 4, 8}) {
    cuda::VirtualRanks ranks(nranks, max_elements * 8 + 64);  // the largest alltoall: 8 x 131072 float64
    // VirtualRanks clears its barrier flags with cudaMemset on the legacy stream, which the kernels'
    // non-blocking stream is not ordered after: wait for it, or the first launch could see stale flags.
    CCTUNE_CUDA(cudaDeviceSynchronize());
    for (const auto& algorithm : cuda::registry()) {
      const Collective collective = algorithm->info().collective;
      const auto counts = counts_for(nranks, random, max_elements);
      for (DataType type : types_for(collective)) {
        for (ReduceOp op : ops_for(collective)) {
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
#if CCTUNE_HAVE_NCCL
// nccl-tests' launch options on the nccl backend (one rank): each batch's calls must all have run
// (the output, poisoned before the batch, is checked after it: a graph that was captured but never
// launched leaves the poison), with one sample per iteration (per launch with -G), all positive.
int nccl_launch_options() {
  const int before = failures;
  std::printf("nccl launch options (-z -m -C -y -G -R -x -u), allreduce and alltoall, 1 Mi float, one rank:\n");
  struct LaunchCase {
    const char* name;
    LaunchSettings launch;
    std::size_t offset = 0;  // -u: the buffers start this many bytes past the allocations
    // Alltoall in place, from a copy NCCL's out-of-place alltoall sends from; with no warm-up call
    // (-w 0), so that under -G the first call queued is the captured one.
    bool in_place = false;
  };
  const auto with = [](auto set) {
    LaunchSettings launch;
    set(launch);
    return launch;
  };
  const std::vector<LaunchCase> cases{
      {"default", {}},
      {"-z 1", with([](LaunchSettings& l) { l.blocking = Blocking::wait_and_meet; })},
      {"-z 2", with([](LaunchSettings& l) { l.blocking = Blocking::wait; })},
      {"-z 3", with([](LaunchSettings& l) { l.blocking = Blocking::wait_then_meet_untimed; })},
      {"-m 4", with([](LaunchSettings& l) { l.aggregated = 4; })},
      {"-C 1", with([](LaunchSettings& l) { l.host_time = true; })},
      {"-y 1", with([](LaunchSettings& l) { l.null_stream = true; })},
      {"-G 3", with([](LaunchSettings& l) { l.graph_launches = 3; })},
      {"-G 3 -m 2", with([](LaunchSettings& l) { 
         l.graph_launches = 3;
         l.aggregated = 2;
       })},
      {"-R 1", with([](LaunchSettings& l) { l.registration = Registration::local; })},
      {"-R 2", with([](LaunchSettings& l) { l.registration = Registration::symmetric; })},
      {"-x 1", with([](LaunchSettings& l) { l.cta_policy = 1; })},
      {"-u 1", {}, 4},
      {"-u 1 -R 1", with([](LaunchSettings& l) { l.registration = Registration::local; }), 4},
      {"in-place", {}, 0, true},
      {"in-pl -G 3", with([](LaunchSettings& l) { l.graph_launches = 3; }), 0, true},
      {"in-pl -R 1", with([](LaunchSettings& l) { l.registration = Registration::local; }), 0, true},
      {"in-pl -R 2", with([](LaunchSettings& l) { l.registration = Registration::symmetric; }), 0, true},
  };
  const std::size_t count = 1 << 20;
  const int iterations = 10;
  for (const LaunchCase& c : cases) {
    try {
      BackendSettings settings{60};
      settings.launch = c.launch;
      nccl::NcclBackend backend(std::make_unique<SingleProcess>(), settings);
      auto send_whole = backend.allocate(count * 4 + c.offset);
      auto recv_whole = backend.allocate(count * 4 + c.offset);
      auto send = send_whole->view(c.offset);
      auto recv = recv_whole->view(c.offset);
      const std::vector<Collective> collectives =
          c.in_place ? std::vector<Collective>{Collective::alltoall}
                     : std::vector<Collective>{Collective::allreduce, Collective::alltoall};
      for (Collective collective : collectives) {
        const PatternRequest request{collective, 11, DataType::float32, ReduceOp::sum, 1, 0, count};
        Buffer& input = c.in_place ? *recv : *send;
        backend.fill_input(input, request);
        auto bound = backend.bind(collective, "default");
        const CollectiveArgs args{input.data(), recv->data(), count, DataType::float32, ReduceOp::sum};
        // A warm-up outside what is checked, then the output poisoned. In place the output is the input,
        // which alltoall on one rank leaves as it is, and there is no warm-up.
        if (!c.in_place) {
          bound->run(args);
          recv->fill_bytes(std::byte{0xff}, count * 4);
        }
        const auto times = bound->time_on_device(args, iterations);
        const auto wrong = backend.count_wrong(*recv, request);
        const std::size_t expected = static_cast<std::size_t>(c.launch.graph_launches > 0 ? c.launch.graph_launches
                                                                                          : iterations);
        std::vector<double> sorted = times ? *times : std::vector<double>{};
        std::sort(sorted.begin(), sorted.end());
        const bool shaped = sorted.size() == expected && !sorted.empty() && sorted.front() > 0;
        std::printf("  %-10s %-9s %s, %zu samples, median %.1f us\n", c.name,
                    std::string(to_string(collective)).c_str(), wrong && *wrong == 0 ? "correct" : "WRONG",
                    sorted.size(), sorted.empty() ? 0.0 : sorted[sorted.size() / 2]);
        if (!wrong || *wrong != 0) fail(std::string("nccl ") + c.name + " " + std::string(to_string(collective)));
        if (!shaped) fail(std::string("nccl ") + c.name + ": not one positive sample per " +
                          (c.launch.graph_launches > 0 ? "launch" : "iteration"));
      }
    } catch (const Error& e) {
      std::printf("  %-10s error: %s (%s:%d)\n", c.name, e.what(), e.file(), e.line());
      fail(std::string("nccl ") + c.name);
    }
  }
  return failures - before;
}
#endif

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
  // On the stream the copies are timed on (a legacy-stream memset would not be ordered before them).
  CCTUNE_CUDA(cudaMemsetAsync(from.get(), 1, largest, stream.get()));
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

// ---- The two-process run: one real process per GPU, each a fresh copy of this program. ----

constexpr int kRankFd = 100;        // where a rank finds its socket to the parent
constexpr int kRefusedExit = 3;     // a rank whose backend refused this machine (one line says why)
constexpr double kRankCallTimeout = 60;
constexpr double kTwoProcessDeadline = 300;  // a whole backend's run, both ranks; then they are killed

// One rank's part: every algorithm of `backend_name`, random sizes, every type and operation, in place
// and out of place, at the same random 16-byte offset into the shared buffers on every rank.
int rank_checks(int rank, int size, const std::string& backend_name) {
  auto owned = std::make_unique<gpu_check::ProcessPeers>(kRankFd, rank, size, kRankCallTimeout);
  PeerExchange& peers = *owned;  // owned by the backend from here on, and alive as long as it is
  std::uint64_t seed = 20261122;  // every rank draws the same cases: rank 0's seed
  peers.broadcast(&seed, sizeof seed, 0);
  std::vector<int> ranks(static_cast<std::size_t>(size));
  peers.allgather(&rank, ranks.data(), sizeof rank);
  for (int r = 0; r < size; ++r) {
    if (ranks[static_cast<std::size_t>(r)] != r) CCTUNE_THROW("the ranks' exchange is out of order");
  }
  const BackendSettings settings{kRankCallTimeout};
  std::unique_ptr<gpu::DeviceBackend> backend;
  try {
    if (backend_name == "cuda") {
      backend = std::make_unique<cuda::CudaBackend>(std::move(owned), settings);
#if CCTUNE_HAVE_NCCL
    } else if (backend_name == "nccl") {
      backend = std::make_unique<nccl::NcclBackend>(std::move(owned), settings);
#endif
    } else {
      CCTUNE_THROW("no backend " + backend_name + " in this build");
    }
  } catch (const UsageError& e) {
    std::printf("%srefused: %s\n", fail_prefix.c_str(), e.what());
    return kRefusedExit;
  }
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> any_offset(0, 15);
  const std::size_t max_elements = 1 << 20;  // the largest alltoall: size x count <= max_elements
  const std::size_t slack = 15 * 16 + 64;   // the largest offset, and the 64 poisoned bytes past the end
  auto send = backend->allocate(max_elements * 8 + slack);
  auto recv = backend->allocate(max_elements * 8 + slack);
  gpu::Stream stream;  // the set-up copies' own stream, on this rank's device
  int cases = 0;
  const int before = failures;
  for (const AlgorithmInfo& info : backend->algorithms()) {
    // One communicator at a time (nccl). A configuration this machine refuses (NCCL may reject a forced
    // protocol) is one failure, skipped on every rank alike, not the end of the run.
    std::unique_ptr<BoundCollective> bound;
    std::string why;
    try {
      bound = backend->bind(info.collective, info.name);
    } catch (const Error& e) {
      why = e.what();
    }
    if (peers.any(!why.empty())) {
      fail(std::string(backend_name) + " " + std::string(info.name) + ": " + (why.empty() ? "a peer could not set it up" : why));
      continue;
    }
    auto counts = counts_for(size, random, max_elements / static_cast<std::size_t>(size));
    // NCCL's own edge cases are NCCL's; what is checked here is each configuration across processes
    // with our fill and check. Fewer sizes keep its 20-odd communicators within the deadline.
    if (backend_name == "nccl") counts = {1, 33, 4099, counts[counts.size() - 2], counts.back()};
    for (DataType type : types_for(info.collective)) {
      for (ReduceOp op : ops_for(info.collective)) {
        for (std::size_t count : counts) {
          for (bool in_place : {false, true}) {
            const std::size_t offset = 16 * static_cast<std::size_t>(any_offset(random));
            const Case c{info.collective, type, op, size, count, random()};
            const std::size_t bytes = c.elements() * size_of(c.type);
            auto* in = static_cast<std::byte*>(send->data()) + offset;
            auto* out = static_cast<std::byte*>(recv->data()) + offset;
            const auto input = host_input(c, rank);
            CCTUNE_CUDA(cudaMemsetAsync(out, 0xff, bytes + 64, stream.get()));
            copy_to_device(in_place ? out : in, input.data(), bytes, stream.get());
            // The backend's stream is not ordered after ours: the set-up is complete before the call.
            // The peers are not waited for: the kernels' first barrier must order their inputs.
            CCTUNE_CUDA(cudaStreamSynchronize(stream.get()));
            bound->run(CollectiveArgs{in_place ? out : in, out, count, type, op});
            check_output(c, info.name, in_place, rank, out, in, stream.get());
            // No rank poisons its buffers for the next case while a peer may still read them.
            peers.any(false);
            ++cases;
          }
        }
      }
    }
  }
  const int mine = failures - before;
  std::vector<int> all(static_cast<std::size_t>(size));
  peers.allgather(&mine, all.data(), sizeof mine);
  int total = 0;
  for (int f : all) total += f;
  if (rank == 0) {
    std::printf("%stwo processes, %s backend: %d cases on each of %d GPUs, %d failed\n", fail_prefix.c_str(),
                backend_name.c_str(), cases, size, total);
  }
  return total == 0 ? 0 : 1;
}

// The pseudo-backend of the estimates run: NCCL's ncclGroupSimulateEnd for every GPU of the machine.
constexpr const char* kEstimates = "nccl-estimates";

int rank_main(int rank, int size, const std::string& backend_name, const std::string& estimates_path) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // two ranks share the parent's output
  fail_prefix = "[rank " + std::to_string(rank) + "] ";
  int code = 1;
  try {
#if CCTUNE_HAVE_NCCL
    if (backend_name == kEstimates) {
      gpu_check::ProcessPeers peers(kRankFd, rank, size, kRankCallTimeout);
      code = gpu_check::nccl_estimates(peers, estimates_path) ? 0 : kRefusedExit;
    } else {
      code = rank_checks(rank, size, backend_name);
    }
#else
    (void)estimates_path;
    code = rank_checks(rank, size, backend_name);
#endif
  } catch (const Error& e) {
    std::printf("%serror: %s (%s:%d)\n", fail_prefix.c_str(), e.what(), e.file(), e.line());
  } catch (const std::exception& e) {
    std::printf("%serror: %s\n", fail_prefix.c_str(), e.what());
  }
  std::fflush(stdout);
  // No destructors: after a call that timed out, freeing device memory could wait on the device for
  // ever; the driver reclaims everything of a process that exits.
  std::_Exit(code);
}

// "correct", "FAILED (...)" or "skipped (...)", for the summary; counts a failure.
std::string two_process_run(const std::string& self, const std::string& backend_name, int processes,
                            const std::vector<std::string>& extra = {}) {
  std::vector<std::vector<std::string>> argv;
  for (int r = 0; r < processes; ++r) {
    argv.push_back({self, "--rank", std::to_string(r), "--size", std::to_string(processes), "--backend", backend_name});
    argv.back().insert(argv.back().end(), extra.begin(), extra.end());
  }
  std::printf("%d processes, %s, one per GPU:\n", processes, backend_name.c_str());
  const gpu_check::RunOutcome outcome = gpu_check::spawn_ranks(argv, kRankFd, kTwoProcessDeadline);
  bool refused = false, bad = !outcome.hub_error.empty();
  std::string exits;
  for (std::size_t r = 0; r < outcome.ranks.size(); ++r) {
    const auto& rank = outcome.ranks[r];
    refused = refused || rank.exit_code == kRefusedExit;
    bad = bad || rank.exit_code != 0;
    exits += (r ? ", rank " : "rank ") + std::to_string(r) +
             (rank.signal ? " killed by signal " + std::to_string(rank.signal) : " exit " + std::to_string(rank.exit_code));
  }
  if (!outcome.hub_error.empty()) std::printf("  %s\n", outcome.hub_error.c_str());
  if (refused) return "skipped (the backend refused this machine: the rank's line above says why)";
  if (!bad) return "correct";
  ++failures;
  return "FAILED (" + exits + (outcome.hub_error.empty() ? "" : "; " + outcome.hub_error) + ")";
}

// This program's path, to start its ranks as fresh copies of it.
std::string own_path() {
  char self[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) CCTUNE_THROW("cannot find this program's own path (/proc/self/exe) to start its ranks");
  return self;
}

struct Options {
  bool bandwidth = true;
  bool two_process = true;
  int processes = 2;
  int rank = -1, size = 0;  // a rank of the two-process run, started by its parent
  std::string backend;
  std::string estimates;  // where NCCL's own estimates go (JSON); empty: not asked for
};

int parse_int(const std::string& text, int low, int high, const std::string& what) {
  std::size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < low || value > high) {
    CCTUNE_USAGE_ERROR(what + " " + text + " is not a number from " + std::to_string(low) + " to " + std::to_string(high));
  }
  return value;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) CCTUNE_USAGE_ERROR(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--no-bandwidth") {
      o.bandwidth = false;
    } else if (arg == "--no-two-process") {
      o.two_process = false;
    } else if (arg == "--processes") {
      o.processes = parse_int(value(), 2, 64, arg);
    } else if (arg == "--rank") {
      o.rank = parse_int(value(), 0, 63, arg);
    } else if (arg == "--size") {
      o.size = parse_int(value(), 1, 64, arg);
    } else if (arg == "--backend") {
      o.backend = value();
    } else if (arg == "--estimates") {
      o.estimates = value();
    } else {
      CCTUNE_USAGE_ERROR("unknown option " + arg +
                         " (options: --no-bandwidth, --no-two-process, --processes N, --estimates FILE)");
    }
  }
  return o;
}

std::string error_text(cudaError_t rc) {
  return std::string(cudaGetErrorName(rc)) + ": " + cudaGetErrorString(rc);
}

// Whether this machine can run the checks; exit code and one line when not.
gpu_check::Decision environment_decision(int* count) {
  gpu_check::Environment e;
  cudaDriverGetVersion(&e.driver_version);
  cudaRuntimeGetVersion(&e.runtime_version);
  e.count_rc = cudaGetDeviceCount(&e.count);
  if (e.count_rc != cudaSuccess) {
    cudaGetLastError();  // not sticky; cleared so that no later call reports it
    e.count = 0;
  }
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES")) {
    e.visible_devices_set = true;
    e.visible_devices = visible;
  }
  *count = e.count;
  return gpu_check::decide(e, error_text(e.count_rc));
}

int did_not_run(const gpu_check::Decision& d) {
  std::printf("gpu_check: did not run: %s\n", d.reason.c_str());
  return d.exit_code();
}

int run(int argc, char** argv) {
  const Options options = parse(argc, argv);
  if (options.rank >= 0) return rank_main(options.rank, options.size, options.backend, options.estimates);

  int devices = 0;
  const gpu_check::Decision environment = environment_decision(&devices);
  if (environment.verdict != gpu_check::Verdict::go) return did_not_run(environment);
  cudaDeviceProp properties{};
  CCTUNE_CUDA(cudaGetDeviceProperties(&properties, 0));
  // A context, as every check below needs one: where none can be made (another process holds an
  // exclusive-process GPU), that is the reason, not the first check's raw error.
  const cudaError_t context_rc = cudaSetDevice(0) == cudaSuccess ? cudaFree(nullptr) : cudaGetLastError();
  const gpu_check::Decision device =
      gpu_check::decide_device(0, properties.name, properties.major, properties.minor, context_rc,
                               error_text(context_rc), gpu::oldest_runnable(CCTUNE_PATTERN_CUDA_ARCHITECTURES));
  if (device.verdict != gpu_check::Verdict::go) return did_not_run(device);
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  std::printf("device: %s (sm_%d%d), %d multiprocessors, %.0f GiB, CUDA runtime %s, driver for CUDA %s, %d GPU%s\n",
              properties.name, properties.major, properties.minor, properties.multiProcessorCount,
              static_cast<double>(properties.totalGlobalMem) / (1 << 30), gpu_check::cuda_version_text(runtime).c_str(),
              gpu_check::cuda_version_text(driver).c_str(), devices, devices == 1 ? "" : "s");
  // A T4 (sm_75) runs the data kernels, and so the nccl backend, but not the cuda backend's kernels.
  const std::string cuda_skip = gpu_check::cuda_backend_skip_reason(0, properties.name, properties.major,
                                                                    properties.minor);
  std::string kernels = "skipped (" + cuda_skip + ")", cuda_result = kernels;
  if (cuda_skip.empty()) {
    std::mt19937_64 random(20261121);
    kernels = correctness(random) ? "FAILED" : "correct";
  } else {
    std::printf("kernels: skipped: %s\n", cuda_skip.c_str());
  }

  std::printf("one-rank runs through the backends:\n");
  const BackendSettings settings{60};
  if (cuda_skip.empty()) {
    cuda::CudaBackend cuda_backend(std::make_unique<SingleProcess>(), settings);
    cuda_result = one_rank_backend(cuda_backend) ? "FAILED" : "correct";
  }
  std::string nccl_result = "not built (no NCCL found)";
#if CCTUNE_HAVE_NCCL
  std::printf("  NCCL %s (built against %d.%d.%d)\n", nccl::loaded_version().c_str(), NCCL_MAJOR, NCCL_MINOR,
              NCCL_PATCH);
  {
    nccl::NcclBackend nccl_backend(std::make_unique<SingleProcess>(), settings);
    nccl_result = one_rank_backend(nccl_backend) ? "FAILED" : "correct";
  }
  if (nccl_launch_options()) nccl_result = "FAILED";
#else
  std::printf("  nccl: not built (no NCCL found)\n");
#endif

  // Two real processes, one per GPU: what one-GPU virtual ranks never exercise.
  std::string two_process;
  if (!options.two_process) {
    two_process = "skipped (--no-two-process)";
  } else if (devices < options.processes) {
    two_process = "skipped (" + std::to_string(devices) + " GPU" + (devices == 1 ? "" : "s") + " here; it needs " +
                  std::to_string(options.processes) + ", one per process)";
    std::printf("two processes: %s\n", two_process.c_str());
  } else {
    const std::string self = own_path();
    two_process = "cuda " + (cuda_skip.empty() ? two_process_run(self, "cuda", options.processes) : cuda_result);
#if CCTUNE_HAVE_NCCL
    two_process += ", nccl " + two_process_run(self, "nccl", options.processes);
#endif
  }

  // NCCL's own estimate of its collectives on every GPU here, for `cctune plan` beside it (docs/gpu.md).
  std::string estimates = "not asked for (--estimates FILE)";
#if CCTUNE_HAVE_NCCL
  if (!options.estimates.empty() && devices < 2) {
    estimates = "skipped (1 GPU here: NCCL estimates only on a communicator it builds, one process per GPU)";
    std::printf("nccl estimates: %s\n", estimates.c_str());
  } else if (!options.estimates.empty()) {
    const std::string self = own_path();
    estimates = two_process_run(self, kEstimates, std::min(devices, 64), {"--estimates", options.estimates});
    if (estimates == "correct") estimates = "written to " + options.estimates;
  }
#else
  estimates = "not built (no NCCL found)";
#endif

  if (options.bandwidth && cuda_skip.empty()) bandwidth_table();
  std::printf("\nsummary: kernels %s, cuda backend %s, nccl backend %s, two processes %s, nccl estimates %s\n",
              kernels.c_str(), cuda_result.c_str(), nccl_result.c_str(), two_process.c_str(), estimates.c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace cctune

int main(int argc, char** argv) {
  try {
    return cctune::run(argc, argv);
  } catch (const cctune::UsageError& e) {
    std::printf("gpu_check: did not run: %s\n", e.what());
  } catch (const cctune::Error& e) {
    std::printf("error: %s (%s:%d)\n", e.what(), e.file(), e.line());
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
  }
  return 1;
}
