#include "bench/sweep.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <memory>

#include "bench/measure.hpp"
#include "bench/progress.hpp"
#include "bench/watchdog.hpp"
#include "cctune_revision.hpp"
#include "collectives/error.hpp"

#ifndef CCTUNE_VERSION
#define CCTUNE_VERSION "0.0.0"
#endif

namespace cctune::bench {

std::string utc_now() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
}

RunInfo gather_run_info(const Communicator& world, const BenchOptions& options, const Backend* backend) {
  RunInfo info;
  info.cctune_version = CCTUNE_VERSION;
  info.git_revision = CCTUNE_GIT_REVISION;
  info.mpi_library = MpiRuntime::library_version();
  info.start_time = utc_now();
  info.command_line = options.command_line;
  info.nranks = world.size();
  info.hosts = world.allgather(processor_name());
  for (double pid : world.allgather(static_cast<double>(getpid()))) info.pids.push_back(static_cast<long>(pid));
  std::vector<std::string> distinct;
  for (const auto& host : info.hosts) {
    const auto it = std::find(distinct.begin(), distinct.end(), host);
    if (it == distinct.end()) {
      distinct.push_back(host);
      info.ranks_per_node.push_back(1);
    } else {
      ++info.ranks_per_node[static_cast<std::size_t>(it - distinct.begin())];
    }
  }
  info.nnodes = static_cast<int>(distinct.size());
  if (backend && !backend->device().empty()) {
    info.devices = world.allgather(backend->device());
    info.nccl_version = backend->library_version();
  }
  return info;
}

std::uint64_t run_sweep(Backend& backend, const Communicator& world, const BenchOptions& options,
                        const RunInfo& info, const std::vector<Sink*>& sinks, Watchdog* watchdog,
                        ProgressLine* progress) {
  Measurer measurer(backend, world, options, watchdog);
  measurer.allocate(*std::max_element(options.sizes.begin(), options.sizes.end()));
  const Repetitions repetitions{options.iterations, options.warmup, options.check_iterations};
  for (Sink* sink : sinks) sink->begin(info, options);

  std::size_t tables = 0;
  for (const auto& selection : options.selections) tables += selection.algorithms.size();
  std::size_t table = 0;
  TableTotals run_totals;
  for (const auto& selection : options.selections) {
    for (const auto& algorithm : selection.algorithms) {
      ++table;
      auto collective = backend.bind(selection.collective, algorithm);
      for (Sink* sink : sinks) sink->begin_table(selection.collective, algorithm);
      TableTotals totals;
      for (std::size_t i = 0; i < options.sizes.size(); ++i) {
        Row row{selection.collective, options.backend, algorithm,
                shape_of(options.sizes[i], selection.collective, options.type, world.size()),
                options.type, options.op, {}, {}};
        for (const bool in_place : {false, true}) {
          const std::string what = fmt::format("{} {} {} B {}", to_string(selection.collective), algorithm,
                                               row.shape.bytes, in_place ? "in-place" : "out-of-place");
          if (watchdog) watchdog->describe(what);
          if (progress) {
            progress->show(fmt::format("[{}/{}] {} {}: {} ({}/{}) {}", table, tables, to_string(selection.collective),
                                       algorithm, format_size(row.shape.bytes), i + 1, options.sizes.size(),
                                       in_place ? "in-place" : "out-of-place"));
          }
          (in_place ? row.in_place : row.out_of_place) = measurer.measure(*collective, row.shape, in_place, repetitions);
        }
        totals.add(row);
        run_totals.add(row);
        if (progress) progress->clear();
        for (Sink* sink : sinks) sink->row(row);
      }
      for (Sink* sink : sinks) sink->end_table(totals);
    }
  }
  for (Sink* sink : sinks) sink->end(run_totals);
  return run_totals.wrong;
}

}  // namespace cctune::bench
