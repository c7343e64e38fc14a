#pragma once
// One measurement: a bound collective at one message shape, in or out of place, timed per iteration
// and checked bit for bit. The sweep (`bench`) and the tuner (`tune`, `verify`) both measure through it.
#include <memory>
#include <vector>

#include "bench/options.hpp"
#include "bench/report.hpp"
#include "collectives/backend.hpp"
#include "collectives/bootstrap.hpp"

namespace cctune::bench {

class Watchdog;

struct Repetitions {
  int iterations = 20;
  int warmup = 5;
  int checks = 1;
};

// algbw (bytes moved per second of time_us) and busbw (algbw times the collective's bus factor), in
// GB/s, as nccl-tests defines them.
void set_bandwidths(PlacementResult& result, Collective collective, std::uint64_t bytes, int nranks);

class Measurer {
 public:
  // options: data type, op, seed, rank aggregation and the test-only delay; repetitions come per call.
  Measurer(Backend& backend, const Communicator& world, const BenchOptions& options, Watchdog* watchdog);
  ~Measurer();
  Measurer(const Measurer&) = delete;
  Measurer& operator=(const Measurer&) = delete;

  // Collective: a failure on any rank is reported on every rank (UsageError), never a hang.
  void allocate(std::uint64_t max_bytes);
  PlacementResult measure(BoundCollective& collective, const MessageShape& shape, bool in_place,
                          const Repetitions& repetitions);
  // With a type and op of its own (bench -d all, -o all), not the options'.
  PlacementResult measure(BoundCollective& collective, const MessageShape& shape, bool in_place,
                          const Repetitions& repetitions, DataType type, ReduceOp op);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cctune::bench
