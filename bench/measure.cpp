#include "bench/measure.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <new>
#include <optional>
#include <thread>

#include "bench/patterns.hpp"
#include "bench/watchdog.hpp"
#include "collectives/error.hpp"

namespace cctune::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Device (backend) buffers and their host mirrors, allocated once at the largest size.
struct Buffers {
  std::unique_ptr<Buffer> send, recv;
  std::vector<std::byte> host_input, host_output, host_expected;
};

// A backend's buffer seen from an offset (nccl-tests' -u), through the backend's own view of it, so
// that copies and fills reach host and device memory alike.
class OffsetBuffer final : public Buffer {
 public:
  explicit OffsetBuffer(std::unique_ptr<Buffer> whole) : whole_(std::move(whole)), view_(whole_->view(0)) {}
  void set_offset(std::size_t offset) { view_ = whole_->view(std::min(offset, whole_->bytes())); }
  void* data() override { return view_->data(); }
  std::size_t bytes() const override { return view_->bytes(); }
  void copy_from_host(const void* source, std::size_t bytes) override { view_->copy_from_host(source, bytes); }
  void copy_to_host(void* destination, std::size_t bytes) const override { view_->copy_to_host(destination, bytes); }
  void fill_bytes(std::byte value, std::size_t bytes) override { view_->fill_bytes(value, bytes); }
  std::unique_ptr<Buffer> view(std::size_t offset) override { return view_->view(offset); }

 private:
  std::unique_ptr<Buffer> whole_;
  std::unique_ptr<Buffer> view_;
};

// What the send buffer was last filled with.
struct LoadedInput {
  Collective collective = Collective::allreduce;
  DataType type = DataType::float32;
  std::uint64_t count = 0, count_per_call = 0, seed = 0;
  bool operator==(const LoadedInput&) const = default;
};

}  // namespace

void set_bandwidths(PlacementResult& result, Collective collective, std::uint64_t bytes, int nranks) {
  const double seconds = result.time_us * 1e-6;
  result.algbw_gbs = seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0;
  result.busbw_gbs = result.algbw_gbs * bus_bandwidth_factor(collective, nranks);
}

struct Measurer::State {
  State(Backend& backend, const Communicator& world, const BenchOptions& options, Watchdog* watchdog)
      : backend_(backend), world_(world), options_(options), watchdog_(watchdog) {}

  void allocate(std::uint64_t max_bytes) {
    // A failure on one rank must not leave the others waiting in the first collective.
    int failed = 0;
    try {
      if (options_.unalign > 0) {
        // Room for the offset of the widest type; set per measurement from its own type.
        const std::uint64_t extra = static_cast<std::uint64_t>(options_.unalign) * 8;
        buffers_.send = std::make_unique<OffsetBuffer>(backend_.allocate(max_bytes + extra));
        buffers_.recv = std::make_unique<OffsetBuffer>(backend_.allocate(max_bytes + extra));
      } else {
        buffers_.send = backend_.allocate(max_bytes);
        buffers_.recv = backend_.allocate(max_bytes);
      }
      buffers_.host_input.resize(max_bytes);
      buffers_.host_output.resize(max_bytes);
      buffers_.host_expected.resize(max_bytes);
    } catch (const std::bad_alloc&) {
      failed = 1;
    }
    long long failures = 0;
    {
      Watchdog::Call guard(watchdog_);
      failures = world_.sum(failed);
    }
    if (failures != 0) {
      CCTUNE_USAGE_ERROR(fmt::format("cannot allocate the {} buffers on every rank; use a smaller message size",
                                     format_size(max_bytes)));
    }
  }

  PlacementResult measure(BoundCollective& collective, const MessageShape& shape, bool in_place,
                          const Repetitions& repetitions, DataType type, ReduceOp op) {
    type_ = type;
    op_ = op;
    if (options_.unalign > 0) {
      const std::size_t offset = static_cast<std::size_t>(options_.unalign) * size_of(type);
      for (Buffer* buffer : {buffers_.send.get(), buffers_.recv.get()}) static_cast<OffsetBuffer*>(buffer)->set_offset(offset);
      send_holds_.reset();  // the same input at another address is another input
    }
    const int nranks = world_.size();
    const CollectiveArgs args = make_args(shape, in_place);
    PlacementResult result;

    load_inputs(collective.info().collective, shape, in_place, options_.seed);
    for (int i = 0; i < repetitions.warmup; ++i) call(collective, args);
    const auto barrier = [&] {
      Watchdog::Call guard(watchdog_);
      world_.barrier();
    };
    barrier();
    std::vector<double> samples;
    // A device backend times its calls on its own stream, and gives up on a stuck one itself.
    if (auto device_samples = collective.time_on_device(args, repetitions.iterations)) {
      samples = std::move(*device_samples);
    } else {
      samples.resize(static_cast<std::size_t>(repetitions.iterations));
      const bool delayed = delay_applies(collective, shape);
      // nccl-tests' -m: several calls per timed iteration, the time shared among them.
      const int aggregated = std::max(options_.launch.aggregated, 1);
      for (int i = 0; i < repetitions.iterations; ++i) {
        // Every timed iteration starts together, as OSU's benchmarks start theirs. Back to back, the
        // ranks of an algorithm whose steps load them unequally drift out of phase: on 2 nodes x 2
        // ranks Bruck's 1 MiB took 175 and 87 ms in turn on each rank, half a call apart. Every rank's
        // average was the line rate's 131 ms, but the slowest rank of each iteration always took 175
        // (docs/perf.md), and tune would have judged the algorithm by that.
        if (i > 0) barrier();
        const auto start = Clock::now();
        if (delayed) std::this_thread::sleep_for(std::chrono::duration<double>(options_.delay->seconds));
        for (int a = 0; a < aggregated; ++a) call(collective, args);
        samples[static_cast<std::size_t>(i)] = seconds_between(start, Clock::now()) * 1e6 / aggregated;
      }
    }
    const double my_time_us = summarize(samples).mean;

    {
      // Watched like the calls: a rank lost after the last timed call would hold the others here.
      Watchdog::Call guard(watchdog_);
      result.time_us = combine(world_.allgather(my_time_us));
      result.samples_us = world_.max(samples);
      if (options_.per_iteration) {
        // nccl-tests' per_process_max_times_us: every rank's own times, at rank 0.
        const std::string mine(reinterpret_cast<const char*>(samples.data()), samples.size() * sizeof(double));
        for (const std::string& theirs : world_.gather_to_root(mine)) {
          std::vector<double>& row = result.per_rank_samples_us.emplace_back(theirs.size() / sizeof(double));
          std::memcpy(row.data(), theirs.data(), row.size() * sizeof(double));
        }
      }
    }
    result.slowest = summarize(result.samples_us);
    set_bandwidths(result, collective.info().collective, shape.bytes, nranks);

    if (repetitions.checks > 0) {
      std::uint64_t wrong = 0;
      for (int c = 0; c < repetitions.checks; ++c) {
        // A fresh seed per check iteration, so an intermittent fault cannot hide behind stale data.
        const std::uint64_t seed = options_.seed + 1000003ull * static_cast<std::uint64_t>(c + 1);
        load_inputs(collective.info().collective, shape, in_place, seed);
        if (!in_place) buffers_.recv->fill_bytes(kPoison, shape.bytes);
        call(collective, args);
        wrong += verify(collective.info().collective, shape, seed);
      }
      Watchdog::Call guard(watchdog_);
      result.wrong = static_cast<std::uint64_t>(world_.sum(static_cast<long long>(wrong)));
    }
    return result;
  }

  CollectiveArgs make_args(const MessageShape& shape, bool in_place) {
    CollectiveArgs args;
    args.recv = buffers_.recv->data();
    args.send = in_place ? args.recv : buffers_.send->data();
    args.count = shape.count_per_call;
    args.type = type_;
    args.op = op_;
    return args;
  }

  PatternSpec pattern(std::uint64_t seed) const { return {seed, type_, world_.size()}; }

  PatternRequest request(Collective collective, const MessageShape& shape, std::uint64_t seed) const {
    return {collective, seed, type_, op_, world_.size(), world_.rank(),
            static_cast<std::size_t>(shape.count_per_call)};
  }

  // Generates this rank's input and places it where the collective reads it. Out of place, the send
  // buffer is never written (the multi-rank tests hold every algorithm to that), so when it already
  // holds this very input it is kept: tune and verify measure in many short blocks, and regenerating
  // a 64 MiB pattern each time would cost more than the calls it prepares.
  void load_inputs(Collective collective, const MessageShape& shape, bool in_place, std::uint64_t seed) {
    const LoadedInput wanted{collective, type_, shape.count, shape.count_per_call, seed};
    if (!in_place && send_holds_ == wanted) return;
    Buffer& target = in_place ? *buffers_.recv : *buffers_.send;
    // A device backend generates the input where it lives; otherwise it is made here and copied over.
    if (!backend_.fill_input(target, request(collective, shape, seed))) {
      void* host = buffers_.host_input.data();
      if (collective == Collective::allreduce) {
        fill_pattern(pattern(seed), world_.rank(), 0, shape.count, host);
      } else {
        fill_alltoall_input(pattern(seed), world_.rank(), shape.count_per_call, host);
      }
      target.copy_from_host(host, shape.bytes);
    }
    if (!in_place) send_holds_ = wanted;
  }

  std::uint64_t verify(Collective collective, const MessageShape& shape, std::uint64_t seed) {
    if (auto wrong = backend_.count_wrong(*buffers_.recv, request(collective, shape, seed))) return *wrong;
    buffers_.recv->copy_to_host(buffers_.host_output.data(), shape.bytes);
    void* expected = buffers_.host_expected.data();
    if (collective == Collective::allreduce) {
      expected_allreduce(pattern(seed), op_, shape.count, expected);
    } else {
      expected_alltoall(pattern(seed), world_.rank(), shape.count_per_call, expected);
    }
    return count_mismatches(buffers_.host_output.data(), expected, shape.count, type_);
  }

  void call(BoundCollective& collective, const CollectiveArgs& args) {
    Watchdog::Call guard(watchdog_);
    collective.run(args);
  }

  bool delay_applies(const BoundCollective& collective, const MessageShape& shape) const {
    const auto& delay = options_.delay;
    return delay && delay->rank == world_.rank() && shape.requested_bytes >= delay->min_bytes &&
           (delay->algorithm.empty() || delay->algorithm == collective.info().name);
  }

  double combine(const std::vector<double>& per_rank) const {
    switch (options_.aggregation) {
      case RankAggregation::rank0: return per_rank.front();
      case RankAggregation::minimum: return *std::min_element(per_rank.begin(), per_rank.end());
      case RankAggregation::maximum: return *std::max_element(per_rank.begin(), per_rank.end());
      case RankAggregation::average: break;
    }
    double sum = 0;
    for (double t : per_rank) sum += t;
    return sum / static_cast<double>(per_rank.size());
  }

  Backend& backend_;
  const Communicator& world_;
  const BenchOptions& options_;
  Watchdog* watchdog_;
  Buffers buffers_;
  std::optional<LoadedInput> send_holds_;
  DataType type_ = DataType::float32;  // of the measurement in progress (-d all: one per row)
  ReduceOp op_ = ReduceOp::sum;
};


Measurer::Measurer(Backend& backend, const Communicator& world, const BenchOptions& options, Watchdog* watchdog)
    : state_(std::make_unique<State>(backend, world, options, watchdog)) {}

Measurer::~Measurer() = default;

void Measurer::allocate(std::uint64_t max_bytes) { state_->allocate(max_bytes); }

PlacementResult Measurer::measure(BoundCollective& collective, const MessageShape& shape, bool in_place,
                                  const Repetitions& repetitions) {
  return state_->measure(collective, shape, in_place, repetitions, state_->options_.type, state_->options_.op);
}

PlacementResult Measurer::measure(BoundCollective& collective, const MessageShape& shape, bool in_place,
                                  const Repetitions& repetitions, DataType type, ReduceOp op) {
  return state_->measure(collective, shape, in_place, repetitions, type, op);
}

}  // namespace cctune::bench
