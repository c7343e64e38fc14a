#include "bench/sweep.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <chrono>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <memory>

#include "bench/measure.hpp"
#include "bench/progress.hpp"
#include "bench/statistics.hpp"
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
    // NCCL's own number for "2.28.3" (22803), as nccl-tests prints it.
    int major = 0, minor = 0, patch = 0;
    if (std::sscanf(info.nccl_version.c_str(), "%d.%d.%d", &major, &minor, &patch) == 3 && major >= 0 && minor >= 0 &&
        minor < 100 && patch >= 0 && patch < 100 && major < 100) {
      info.nccl_version_code = major * 10000 + minor * 100 + patch;
    }
  }
  return info;
}

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void note_interrupt(int) { g_interrupted = 1; }

// Round r's share of n iterations over `rounds` rounds: as even as it gets, earlier rounds taking the rest.
int iterations_in_round(int n, int rounds, int round) { return n / rounds + (round < n % rounds ? 1 : 0); }

// Adds one round's measurement to what the earlier rounds of the same size and placement measured.
void add_round(PlacementResult& total, PlacementResult round, const Row& row, int nranks) {
  if (total.samples_us.empty()) {
    total = std::move(round);
    return;
  }
  const auto before = static_cast<double>(total.samples_us.size());
  const auto added = static_cast<double>(round.samples_us.size());
  // time_us is a mean per call, so the rounds' means weigh by their iteration counts.
  total.time_us = (total.time_us * before + round.time_us * added) / (before + added);
  total.samples_us.insert(total.samples_us.end(), round.samples_us.begin(), round.samples_us.end());
  for (std::size_t r = 0; r < total.per_rank_samples_us.size() && r < round.per_rank_samples_us.size(); ++r) {
    auto& mine = total.per_rank_samples_us[r];
    mine.insert(mine.end(), round.per_rank_samples_us[r].begin(), round.per_rank_samples_us[r].end());
  }
  total.slowest = summarize(total.samples_us);
  set_bandwidths(total, row.collective, row.shape.bytes, nranks);
  // Results are checked in the first round only; later rounds only time.
}

}  // namespace

void stop_cycles_on_interrupt() {
  struct sigaction action {};
  action.sa_handler = note_interrupt;
  // A write to a slow stdout goes on rather than failing; a second Ctrl-C ends the process as usual
  // (a rank stuck in a call without -T must still be stoppable).
  action.sa_flags = SA_RESTART | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGINT, SIGTERM}) sigaction(signal, &action, nullptr);
}

std::uint64_t run_sweep(Backend& backend, const Communicator& world, const BenchOptions& options,
                        const RunInfo& info, const std::vector<Sink*>& sinks, Watchdog* watchdog,
                        ProgressLine* progress) {
  Measurer measurer(backend, world, options, watchdog);
  measurer.allocate(*std::max_element(options.sizes.begin(), options.sizes.end()));
  for (Sink* sink : sinks) sink->begin(info, options);

  struct Table {
    Collective collective;
    std::string algorithm;
    std::unique_ptr<BoundCollective> bound;  // held from the first round to the last
    std::vector<Row> rows;                   // one per size, filled round by round
  };
  std::vector<Table> tables;
  for (const auto& selection : options.selections) {
    for (const auto& algorithm : selection.algorithms) {
      Table& table = tables.emplace_back(Table{selection.collective, algorithm, nullptr, {}});
      // nccl-tests' -d all / -o all: every size of each type and op in turn, in one table.
      const std::vector<TypeAndOp> pairs =
          selection.rows_of.empty() ? std::vector<TypeAndOp>{{options.type, options.op}} : selection.rows_of;
      for (const TypeAndOp& pair : pairs) {
        for (const std::uint64_t size : options.sizes) {
          table.rows.push_back({selection.collective, options.backend, algorithm,
                                shape_of(size, selection.collective, pair.type, world.size()), pair.type, pair.op,
                                {}, {}});
        }
      }
    }
  }

  TableTotals run_totals;
  bool stopped = false;  // -N: interrupted, every rank at the same row
  const int rounds = options.rounds;
  for (int round = 0; round < rounds; ++round) {
    const bool last_round = round + 1 == rounds;
    const Repetitions repetitions{iterations_in_round(options.iterations, rounds, round), options.warmup,
                                  round == 0 ? options.check_iterations : 0};
    for (std::size_t t = 0; t < tables.size(); ++t) {
      Table& table = tables[t];
      if (!table.bound) table.bound = backend.bind(table.collective, table.algorithm);
      if (last_round) {
        for (Sink* sink : sinks) sink->begin_table(table.collective, table.algorithm);
      }
      TableTotals totals;
      // nccl-tests' -N: the sizes again and again in the same table (0: until interrupted). The
      // ranks agree after each row whether one was interrupted, so all stop at the same row.
      const int cycles = last_round ? options.run_cycles : 1;
      for (int cycle = 0; !stopped && (cycles == 0 || cycle < cycles); ++cycle) {
        if (cycle > 0) {
          for (Row& row : table.rows) row.out_of_place = row.in_place = PlacementResult{};
        }
        for (std::size_t i = 0; i < table.rows.size() && !stopped; ++i) {
          Row& row = table.rows[i];
          for (const bool in_place : {false, true}) {
            const std::string what = fmt::format("{} {} {} B {}", to_string(table.collective), table.algorithm,
                                                 row.shape.bytes, in_place ? "in-place" : "out-of-place");
            if (watchdog) watchdog->describe(what);
            if (progress) {
              progress->show(fmt::format("{}{}[{}/{}] {} {}: {} ({}/{}) {}",
                                         rounds > 1 ? fmt::format("round {}/{} ", round + 1, rounds) : std::string(),
                                         cycles != 1 ? fmt::format("cycle {} ", cycle + 1) : std::string(), t + 1,
                                         tables.size(), to_string(table.collective), table.algorithm,
                                         format_size(row.shape.bytes), i + 1, table.rows.size(),
                                         in_place ? "in-place" : "out-of-place"));
            }
            add_round(in_place ? row.in_place : row.out_of_place,
                      measurer.measure(*table.bound, row.shape, in_place, repetitions, row.type, row.op), row,
                      world.size());
          }
          if (!last_round) continue;
          totals.add(row);
          run_totals.add(row);
          if (progress) progress->clear();
          for (Sink* sink : sinks) sink->row(row);
          if (cycles != 1) {
            Watchdog::Call guard(watchdog);
            stopped = world.max(g_interrupted ? 1.0 : 0.0) > 0;
          }
        }
      }
      if (!last_round) continue;
      // A device backend's communicator is given back as soon as its table is done.
      table.bound.reset();
      table.rows.clear();
      if (options.memory_report) {
        rusage usage{};
        getrusage(RUSAGE_SELF, &usage);
        Watchdog::Call guard(watchdog);
        totals.max_rss_mib = world.max(static_cast<double>(usage.ru_maxrss) / 1024.0);
      }
      for (Sink* sink : sinks) sink->end_table(totals);
      if (stopped) break;
    }
  }
  for (Sink* sink : sinks) sink->end(run_totals);
  return run_totals.wrong;
}

}  // namespace cctune::bench
