#pragma once
// The measurement itself: for every selected algorithm and size, time the collective out of place
// and in place, check its results bit for bit, and hand each finished row to the sinks.
#include <vector>

#include "bench/options.hpp"
#include "bench/report.hpp"
#include "collectives/backend.hpp"
#include "collectives/bootstrap.hpp"

namespace cctune::bench {

class ProgressLine;
class Watchdog;

// Every rank's host, pid and the library versions; collective over `world`.
// Collective. With a device backend, also each rank's device and the NCCL version.
RunInfo gather_run_info(const Communicator& world, const BenchOptions& options, const Backend* backend = nullptr);

// Runs on every rank. Sinks and progress are given on rank 0 only. Returns the total number of
// wrong elements over all ranks (the same value on every rank).
// With -N 0 (cycles until interrupted): SIGINT and SIGTERM end the sweep after the row in progress,
// on every rank at the same row, with the table's footer and a complete JSON file.
void stop_cycles_on_interrupt();

std::uint64_t run_sweep(Backend& backend, const Communicator& world, const BenchOptions& options,
                        const RunInfo& info, const std::vector<Sink*>& sinks, Watchdog* watchdog,
                        ProgressLine* progress);

}  // namespace cctune::bench
